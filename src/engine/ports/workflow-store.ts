import type { JsonObject, JsonValue } from '../json.js';
import type { WorkflowStatus } from '../workflow-types.js';

/** A workflow row with its armed timers and open tasks. */
export interface WorkflowRecord {
  id: string;
  machineId: string;
  machineVersion: number;
  machineHash: string;
  status: WorkflowStatus;
  state: JsonValue;
  snapshot: JsonObject;
  input: JsonObject;
  inputHash: string;
  startRequestId: string | null;
  output: JsonValue | null;
  error: JsonValue | null;
  version: number;
  createdAt: Date;
  updatedAt: Date;
  timers: TimerRecord[];
  /** Open tasks only: pending, running, and waiting for a child workflow. */
  tasks: TaskRecord[];
  /** Set on a child workflow: the parent task it reports its outcome to. */
  parent?: ParentLink;
}

/** A child workflow's link to the `workflow.start` task of its parent (see engine/child-workflows.ts). */
export interface ParentLink {
  workflowId: string;
  taskId: string;
}

/** A child workflow as the engine's sweep sees it. */
export interface ChildRecord {
  id: string;
  status: WorkflowStatus;
  output: JsonValue | null;
  error: JsonValue | null;
  parent: ParentLink;
}

export interface TimerRecord {
  workflowId: string;
  timerId: string;
  armedVersion: number;
  event: JsonObject;
  dueAt: Date;
}

export interface TimerClaim {
  now: Date;
  /** Latest due time to claim: `now`, or later to hold timers in memory until they are due. */
  dueBy: Date;
  leaseUntil: Date;
  limit: number;
}

export interface TaskRecord {
  workflowId: string;
  taskId: string;
  actorId: string;
  src: string;
  input: JsonValue;
  /** `waiting`: handed to a child workflow, no lease; the child's end reports the result. */
  status: 'pending' | 'running' | 'waiting' | 'done' | 'failed' | 'cancelled';
  attempts: number;
  leaseOwner: string | null;
  leaseUntil: Date | null;
  /** When the task was committed (for schedule-to-start); absent where the row was not read with it. */
  createdAt?: Date;
}

export interface HistoryRecord {
  workflowId: string;
  version: number;
  eventType: string;
  event: JsonObject;
  eventId: string | null;
  fromState: JsonValue | null;
  toState: JsonValue;
  status: WorkflowStatus;
  snapshot: JsonObject;
  at: Date;
}

/** Effects committed with a transition (see engine/effect-plan.ts), with absolute times. */
export interface CommitEffects {
  /** Timer ids to delete (an armed id is listed here too: arming replaces). */
  timersCancelled: string[];
  timersArmed: { timerId: string; event: JsonObject; dueAt: Date }[];
  /** Actor ids whose open tasks become `cancelled`. */
  tasksCancelled: string[];
  /** Delete every timer and cancel every open task (final status, cancel). */
  clearAll: boolean;
  /** New tasks; with `leaseOwner` they start `running` (attempt 1) under that lease, else `pending`. */
  tasksCreated: { taskId: string; actorId: string; src: string; input: JsonValue; leaseOwner: string | null; leaseUntil: Date | null }[];
}

/** A row the transition consumes in the same transaction; if it is gone, nothing is written. */
export type Consume =
  | { kind: 'timer'; timerId: string; armedVersion: number }
  /** `owner` null: the task is `waiting` for a child workflow (no lease), else `running` under that lease. */
  | { kind: 'task'; taskId: string; owner: string | null; status: 'done' | 'failed'; result: JsonValue | null; error: JsonValue | null };

/** Everything one transition writes, in one transaction. */
export interface TransitionCommit {
  workflowId: string;
  /** The version the transition was computed from; the write is conditional on it. */
  expectedVersion: number;
  status: WorkflowStatus;
  state: JsonValue;
  statePaths: string[];
  snapshot: JsonObject;
  output: JsonValue | null;
  error: JsonValue | null;
  at: Date;
  eventType: string;
  event: JsonObject;
  eventId: string | null;
  fromState: JsonValue | null;
  effects: CommitEffects;
  consume?: Consume;
}

/**
 * - committed: written as version `expectedVersion + 1`; `cancelledTasks` were open and are now
 *   cancelled (the engine aborts any of them it is running);
 * - conflict: the row is no longer at `expectedVersion` (or is gone): nothing written;
 * - duplicate: `eventId` is already in the history: nothing written;
 * - stale: the consumed timer or task row is gone or not ours: nothing written.
 */
export type CommitOutcome =
  | { kind: 'committed'; version: number; cancelledTasks: { taskId: string; leaseOwner: string | null }[] }
  | { kind: 'conflict' }
  | { kind: 'duplicate' }
  | { kind: 'stale' };

export interface NewWorkflow {
  id: string;
  machineId: string;
  machineVersion: number;
  machineHash: string;
  status: WorkflowStatus;
  state: JsonValue;
  statePaths: string[];
  snapshot: JsonObject;
  input: JsonObject;
  inputHash: string;
  startRequestId: string | null;
  output: JsonValue | null;
  error: JsonValue | null;
  at: Date;
  effects: CommitEffects;
  /** A child workflow's parent task, stored with version 1. */
  parent?: ParentLink;
}

export interface WorkflowFilter {
  machineId?: string;
  status?: WorkflowStatus;
  /** A state path ('a' or 'a.b'): matches instances in that state or a descendant of it. */
  state?: string;
  createdAfter?: Date;
  createdBefore?: Date;
  /** Keyset cursor: rows strictly after this (created_at, id) in newest-first order. */
  after?: { createdAt: Date; id: string };
}

/** A call-journal row: one attempt of one tool task (see `ToolAttempt`). */
export interface ToolCallRecord {
  workflowId: string;
  taskId: string;
  src: string;
  /** The task's claim number (`TaskRecord.attempts`): higher after a crash or a lost lease. */
  claim: number;
  /** The attempt within the claim. */
  attempt: number;
  /** The engine instance that made the call. */
  owner: string;
  startedAt: Date;
  endedAt: Date;
  latencyMs: number;
  /** `refused`: the policy turned the call away before the adapter ran (circuit_open, bulkhead_full). */
  outcome: 'ok' | 'error' | 'refused';
  errorKind: string | null;
  status: number | null;
}

/** A workflow with history rows committed at or after some time (see `listChangedSince`). */
export interface ChangedWorkflow {
  workflowId: string;
  machineId: string;
  machineVersion: number;
  /** The lowest and highest version committed at or after the time asked for. */
  firstVersion: number;
  lastVersion: number;
}

/**
 * The engine's durable state. One implementation per database family (Postgres and PGlite
 * share one). Every method throws on a database failure; the engine maps that to
 * `unavailable`. Implementations must keep the writes of one call in one transaction.
 */
export interface WorkflowStore {
  /**
   * Transitions the store commits at once (statements in flight x transitions per statement),
   * when it groups them. The timer scheduler fires at most this many timers at once, so a burst
   * is computed as room opens for its commits rather than thousands ahead of them.
   */
  readonly commitCapacity?: number;
  /**
   * Inserts version 1 (row, history, effects). When the id or start request id is taken,
   * writes nothing and returns the row holding it.
   */
  insertWorkflow(workflow: NewWorkflow): Promise<{ inserted: true } | { inserted: false; existing: WorkflowRecord | undefined }>;
  loadWorkflow(id: string): Promise<WorkflowRecord | undefined>;
  /** The current version of each of `ids` that exists (watchers poll with it; up to ~1,000 ids). */
  workflowVersions(ids: string[]): Promise<Map<string, number>>;
  /** Optimistic: writes only if the row is still at `expectedVersion`. */
  commitTransition(commit: TransitionCommit): Promise<CommitOutcome>;
  /**
   * Pessimistic: locks the row, calls `build` with it (synchronously, inside the
   * transaction) and commits what it returns; `undefined` or a throw writes nothing (a throw
   * is rethrown). Used after an optimistic conflict, so a busy instance still makes progress.
   */
  commitLocked(workflowId: string, build: (record: WorkflowRecord | undefined) => TransitionCommit | undefined): Promise<CommitOutcome | undefined>;
  findHistoryByEventId(workflowId: string, eventId: string): Promise<HistoryRecord | undefined>;
  getHistoryAt(workflowId: string, version: number): Promise<HistoryRecord | undefined>;
  /** Versions >= fromVersion, ascending, at most `limit`. */
  listHistory(workflowId: string, fromVersion: number, limit: number): Promise<HistoryRecord[]>;
  /**
   * Workflows with history rows whose time is >= `since` (optionally of one machine, or one
   * workflow), by workflow id after `afterId`, at most `limit`. WatchWorkflows replays and
   * polls with it.
   */
  listChangedSince(query: { since: Date; machineId?: string; workflowId?: string; afterId?: string; limit: number }): Promise<ChangedWorkflow[]>;
  /** Newest first by (created_at, id), at most `limit`. */
  listWorkflows(filter: WorkflowFilter, limit: number): Promise<WorkflowRecord[]>;
  /**
   * Leases up to `limit` timers due by `claim.dueBy` (`now` for due ones, later to claim ahead)
   * and not leased at `claim.now` (no lease, or an expired one) to `owner` until
   * `claim.leaseUntil`, skipping rows another replica holds locked. Ordered by due time.
   */
  claimDueTimers(owner: string, claim: TimerClaim): Promise<TimerRecord[]>;
  /**
   * The earliest moment a claim looking `lookaheadMs` ahead can take a timer: its due time less
   * the lookahead, or the end of its lease when a replica holds it (leases are looked up among
   * timers due within the lookahead of `now`). To schedule the next poll.
   */
  nextTimerDue(now: Date, lookaheadMs: number): Promise<Date | undefined>;
  /** Clears `owner`'s timer leases (shutdown), so another replica fires them when due, not when the lease ends. */
  releaseTimers(owner: string): Promise<number>;
  /**
   * Claims up to `limit` pending tasks and running tasks whose lease expired: they become
   * `running` under `owner`'s lease with `attempts + 1`. Skips rows locked by other claimers.
   */
  claimTasks(owner: string, now: Date, leaseUntil: Date, limit: number): Promise<TaskRecord[]>;
  /** Extends `owner`'s leases on running tasks; returns the task keys still held (`workflowId/taskId`). */
  renewTaskLeases(owner: string, tasks: { workflowId: string; taskId: string }[], leaseUntil: Date): Promise<Set<string>>;
  /** Puts `owner`'s running tasks back to pending (shutdown), so another replica runs them now. */
  releaseTasks(owner: string): Promise<number>;
  /** Appends one row to the call journal (outside any transition; rows are never updated). */
  recordToolCall(record: ToolCallRecord): Promise<void>;
  /**
   * The journal of a workflow, oldest first by (start, id), at most `limit` rows, after the
   * keyset cursor `after` when given (its last row's `startedAt` and `id`).
   */
  listToolCalls(workflowId: string, limit: number, after?: { startedAt: Date; id: string }): Promise<(ToolCallRecord & { id: string })[]>;
  /**
   * Hands a running task leased to `owner` to a child workflow: `waiting`, lease dropped, so no
   * poll claims it again. False when the task is no longer running under that lease.
   */
  parkTask(workflowId: string, taskId: string, owner: string, at: Date): Promise<boolean>;
  /**
   * The next `limit` waiting tasks after `after` in key order, and which of them have a finished
   * child (a report lost to a crash). `next` continues the scan; null after the last task.
   */
  scanWaitingTasks(after: ParentLink | null, limit: number): Promise<{ finished: ChildRecord[]; next: ParentLink | null }>;
  /**
   * The next `limit` active children after the id `after`, and which of them have a parent task
   * that is no longer open (a cascade lost to a crash). `next` is null after the last one.
   */
  scanActiveChildren(after: string | null, limit: number): Promise<{ orphans: string[]; next: string | null }>;
  /** Active children of these tasks of `parent` (just closed by its transition), at most `limit`. */
  listChildrenOfTasks(parent: { workflowId: string; taskIds: string[] }, limit: number): Promise<string[]>;
  /** Distinct (machine id, version, hash) of active instances, for the start-up check. */
  liveMachineVersions(): Promise<{ machineId: string; machineVersion: number; machineHash: string }[]>;
}
