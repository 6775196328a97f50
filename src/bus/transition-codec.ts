import type { TransitionMessage, WorkMessage } from '../engine/ports/event-bus.js';

/**
 * Largest encoded transition that keeps its `entry` (the history data a watcher yields without
 * a store read). A larger one goes out without it and watchers read the history instead, so one
 * big context never floods Redis or every firehose subscriber.
 */
export const MAX_ENTRY_MESSAGE_BYTES = 16 * 1024;

/**
 * The wire form of a transition: JSON, the same for every bus. Over `maxBytes` (UTF-8) the
 * `entry` is dropped (see MAX_ENTRY_MESSAGE_BYTES).
 *
 * Throws a TypeError for a value that is not a transition or does not survive
 * JSON (a cycle, a BigInt): that is a bug in the caller, not an outage, and
 * tests should see it.
 */
export function encodeTransition(message: TransitionMessage, maxBytes = MAX_ENTRY_MESSAGE_BYTES): string {
  if (!isTransitionMessage(message)) throw new TypeError('not a TransitionMessage');
  const text = JSON.stringify(message);
  // Characters never outnumber bytes: byteLength is only needed near the limit.
  if (message.entry === undefined || text.length * 3 <= maxBytes || Buffer.byteLength(text) <= maxBytes) return text;
  const { entry: _entry, ...bare } = message;
  return JSON.stringify(bare);
}

/**
 * Parses a message from the wire. Returns undefined for anything that is not a
 * transition (another program publishing on our channel, a truncated payload),
 * so one bad message cannot break delivery of the good ones.
 */
export function decodeTransition(text: string): TransitionMessage | undefined {
  const value = parse(text);
  return isTransitionMessage(value) ? value : undefined;
}

/** The message as a subscriber on another replica would see it (a fresh copy, bounded alike). */
export function roundTripTransition(message: TransitionMessage): TransitionMessage {
  const copy = decodeTransition(encodeTransition(message));
  // Reachable only for numbers JSON turns into null (NaN, Infinity).
  if (copy === undefined) throw new TypeError('not a TransitionMessage after JSON');
  return copy;
}

/** The wire form of a work announcement; throws a TypeError for anything else. */
export function encodeWork(message: WorkMessage): string {
  if (!isWorkMessage(message)) throw new TypeError('not a WorkMessage');
  return JSON.stringify(message);
}

/** Parses a work announcement; undefined for anything else. */
export function decodeWork(text: string): WorkMessage | undefined {
  const value = parse(text);
  return isWorkMessage(value) ? value : undefined;
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isTransitionMessage(value: unknown): value is TransitionMessage {
  if (!isObject(value)) return false;
  const m = value;
  return (
    typeof m.workflowId === 'string' &&
    typeof m.version === 'number' &&
    typeof m.machineId === 'string' &&
    typeof m.machineVersion === 'number' &&
    typeof m.status === 'string' &&
    typeof m.eventType === 'string' &&
    typeof m.at === 'string' &&
    (m.previousAt === undefined || typeof m.previousAt === 'string') &&
    (m.traceparent === undefined || typeof m.traceparent === 'string') &&
    (m.entry === undefined || isEntryData(m.entry))
  );
}

function isEntryData(value: unknown): boolean {
  return isObject(value) && isObject(value.event) && isObject(value.context) && (value.eventId === null || typeof value.eventId === 'string') && 'fromState' in value;
}

function isWorkMessage(value: unknown): value is WorkMessage {
  if (!isObject(value) || typeof value.from !== 'string') return false;
  return value.kind === 'task' || (value.kind === 'timer' && typeof value.dueAt === 'string' && !Number.isNaN(Date.parse(value.dueAt)));
}
