import type { JsonObject, JsonValue } from '../json.js';

/**
 * A transition as it is announced after commit. The bus is for fan-out only:
 * the store stays the source of truth, and `version` lets a subscriber notice
 * a gap and read what it missed from the history.
 */
export interface TransitionMessage {
  workflowId: string;
  /** Instance version after this transition (1 for the initial state). */
  version: number;
  machineId: string;
  machineVersion: number;
  status: string;
  /** xstate state value, as JSON. */
  state: unknown;
  eventType: string;
  /** ISO-8601 commit time (the history entry's time). */
  at: string;
  /** Commit time of the version before this one; absent for version 1. */
  previousAt?: string;
  /** W3C trace context of the transition, when there is one. */
  traceparent?: string;
  /**
   * The rest of the history entry, so a watcher that holds version - 1 can yield this one
   * without reading the store. Left out when the message would be too large (a big context
   * or event): the watcher then reads the entry from the history.
   */
  entry?: TransitionEntryData;
}

/** History entry fields a TransitionMessage does not carry already. */
export interface TransitionEntryData {
  /** The event as the machine received it (`{ type, ...payload }`). */
  event: JsonObject;
  eventId: string | null;
  fromState: JsonValue | null;
  context: JsonObject;
}

/**
 * "There is work another replica could take": a task committed with no owner, or a timer
 * armed for `dueAt`. Receivers poll their claim queries now instead of at the next interval;
 * a lost message only delays the work until that poll.
 */
export type WorkMessage = { kind: 'task'; from: string } | { kind: 'timer'; from: string; dueAt: string };

/** Health of a bus connection, as the health service reports it. */
export interface BusStatus {
  ok: boolean;
  /** Why it is not ok; empty when it is. */
  message: string;
}

export type Unsubscribe = () => Promise<void>;

/**
 * Publishes transitions after commit and delivers them to subscribers on this
 * and (for networked buses) every other replica.
 *
 * Delivery is best-effort and at-most-once per subscriber: a message can be
 * lost while the bus is down. Publishing never throws for a bus outage (it
 * logs once and reports it through `status()`), because a committed
 * transition must not be reported as failed.
 */
export interface EventBus {
  readonly kind: 'redis' | 'memory';
  /** Announce a committed transition on its workflow's channel and the firehose. */
  publish(message: TransitionMessage): Promise<void>;
  /** Receive transitions of one workflow. */
  subscribe(workflowId: string, onMessage: (message: TransitionMessage) => void): Promise<Unsubscribe>;
  /** Receive every transition (WatchWorkflows). */
  subscribeAll(onMessage: (message: TransitionMessage) => void): Promise<Unsubscribe>;
  /** Announce claimable work on the work channel (small messages; never the firehose). */
  publishWork(message: WorkMessage): Promise<void>;
  /** Receive work announcements, including this process's own (compare `from`). */
  subscribeWork(onMessage: (message: WorkMessage) => void): Promise<Unsubscribe>;
  /** Current connection status; `onChange` is called on every change. */
  status(): BusStatus;
  onStatusChange(listener: (status: BusStatus) => void): () => void;
  close(): Promise<void>;
}
