/** What caused a transition (`start` is the initial state of a new instance). */
export type TransitionSource = 'start' | 'client' | 'task' | 'timer' | 'cancel';

/** How an instance ended: its final status, in the words dashboards use. */
export type WorkflowOutcome = 'done' | 'failed' | 'cancelled';

/** Span attributes: bounded values only (machine, tool, source), never payloads. */
export type ObserverAttributes = Record<string, string | number | boolean>;

/**
 * What the engine tells the outside about its work, for metrics and traces (telemetry implements
 * it; the engine never imports a metrics or tracing library). Every method is called inline on
 * the engine's path, so implementations must be cheap and must not throw; `span` must run `work`
 * exactly once and settle as it settles.
 */
export interface EngineObserver {
  /** A transition was committed; `seconds` from the input accepted (queueing included) to the commit. */
  transitionCommitted(event: { machine: string; source: TransitionSource; seconds: number }): void;
  /** A new instance was committed (version 1). */
  workflowStarted(event: { machine: string }): void;
  /** A committed transition ended an instance. */
  workflowFinished(event: { machine: string; outcome: WorkflowOutcome }): void;
  /** A timer was fired (its transition applied or dropped); `lagSeconds` = fired minus due. */
  timerFired(event: { lagSeconds: number }): void;
  /** This engine started running a task; `scheduleToStartSeconds` since it was committed, when known. */
  taskStarted(event: { tool: string; scheduleToStartSeconds: number | undefined }): void;
  /** An optimistic commit found the instance changed by another writer. */
  conflict(): void;
  /**
   * Runs `work` as one traced unit (`name`, e.g. a transition or a tool call), a child of the
   * caller's trace; what `work` starts (store calls, bus messages, HTTP calls) belongs to it.
   */
  span<T>(name: string, attributes: ObserverAttributes, work: () => Promise<T>): Promise<T>;
  /**
   * Runs `work` outside any trace, synchronously: for scheduling background work (a poll, a timer
   * wake-up) from inside a transition, which must not join that transition's trace.
   */
  untraced<T>(work: () => T): T;
}

/** Observes nothing: the default when no observer is configured. */
export const noopEngineObserver: EngineObserver = Object.freeze({
  transitionCommitted: () => {},
  workflowStarted: () => {},
  workflowFinished: () => {},
  timerFired: () => {},
  taskStarted: () => {},
  conflict: () => {},
  span: <T>(_name: string, _attributes: ObserverAttributes, work: () => Promise<T>) => work(),
  untraced: <T>(work: () => T) => work(),
});

/** The outcome of a final workflow status, or undefined while it is active. */
export function outcomeOfStatus(status: string): WorkflowOutcome | undefined {
  if (status === 'done') return 'done';
  if (status === 'error') return 'failed';
  if (status === 'cancelled') return 'cancelled';
  return undefined;
}
