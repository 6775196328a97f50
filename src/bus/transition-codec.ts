import type { TransitionMessage } from '../engine/ports/event-bus.js';

/**
 * The wire form of a transition: JSON, the same for every bus.
 *
 * Throws a TypeError for a value that is not a transition or does not survive
 * JSON (a cycle, a BigInt): that is a bug in the caller, not an outage, and
 * tests should see it.
 */
export function encodeTransition(message: TransitionMessage): string {
  if (!isTransitionMessage(message)) throw new TypeError('not a TransitionMessage');
  return JSON.stringify(message);
}

/**
 * Parses a message from the wire. Returns undefined for anything that is not a
 * transition (another program publishing on our channel, a truncated payload),
 * so one bad message cannot break delivery of the good ones.
 */
export function decodeTransition(text: string): TransitionMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return isTransitionMessage(value) ? value : undefined;
}

/** The message as a subscriber on another replica would see it (a fresh copy). */
export function roundTripTransition(message: TransitionMessage): TransitionMessage {
  const copy = decodeTransition(encodeTransition(message));
  // Reachable only for numbers JSON turns into null (NaN, Infinity).
  if (copy === undefined) throw new TypeError('not a TransitionMessage after JSON');
  return copy;
}

function isTransitionMessage(value: unknown): value is TransitionMessage {
  if (typeof value !== 'object' || value === null) return false;
  const m = value as Record<string, unknown>;
  return (
    typeof m.workflowId === 'string' &&
    typeof m.version === 'number' &&
    typeof m.machineId === 'string' &&
    typeof m.machineVersion === 'number' &&
    typeof m.status === 'string' &&
    typeof m.eventType === 'string' &&
    typeof m.at === 'string' &&
    (m.traceparent === undefined || typeof m.traceparent === 'string')
  );
}
