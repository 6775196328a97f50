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
  /** ISO-8601 commit time. */
  at: string;
  /** W3C trace context of the transition, when there is one. */
  traceparent?: string;
}

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
  /** Receive every transition (dashboards, WatchWorkflows). */
  subscribeAll(onMessage: (message: TransitionMessage) => void): Promise<Unsubscribe>;
  /** Current connection status; `onChange` is called on every change. */
  status(): BusStatus;
  onStatusChange(listener: (status: BusStatus) => void): () => void;
  close(): Promise<void>;
}
