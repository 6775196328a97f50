import { createHash } from 'node:crypto';
import type { EngineLogger, ResolvedEngineOptions } from './engine-options.js';
import { DuplicateWorkflowError, EngineError } from './errors.js';
import type { JsonObject, JsonValue } from './json.js';
import { isJsonObject } from './json.js';
import type { ChildRecord, ParentLink, TaskRecord, WorkflowRecord, WorkflowStore } from './ports/workflow-store.js';
import type { TaskOutcome } from './task-runner.js';
import type { StartRequest } from './workflow-starter.js';
import { FINAL_STATUSES } from './workflow-types.js';

/** The tool `src` of a child workflow: `invoke: { id, src: 'workflow.start', input: { machineId, input } }`. */
export const WORKFLOW_START = 'workflow.start';

/** Input of `workflow.start`: the child's machine (latest version unless named) and its start input. */
export interface WorkflowStartInput {
  machineId: string;
  machineVersion?: number;
  input?: JsonObject;
}

/**
 * Kinds of `event.error.kind` a parent can get from `workflow.start`, besides the shape every
 * tool error has (`{ name: 'ToolError', tool, kind, attempts, message }`, plus `workflowId` of the
 * child and its `childError`):
 * - `child_failed`: the child ended with status error;
 * - `child_cancelled`: the child was cancelled (by a client; a cascade from the parent is not
 *   reported, since the parent task is gone by then);
 * - `invalid_input`: no such machine, the input does not fit it, or the child's id is taken.
 */
export type ChildErrorKind = 'child_failed' | 'child_cancelled' | 'invalid_input';

/** What the engine lends this module: the store, and its own start, cancel and task-result paths. */
export interface ChildWorkflowsDeps {
  store: WorkflowStore;
  logger: EngineLogger;
  options: ResolvedEngineOptions;
  /** Commits version 1 and starts its effects; DuplicateWorkflowError when the id is taken. */
  start(req: StartRequest & { parent: ParentLink }): Promise<WorkflowRecord>;
  /** Cancels a workflow; throws EngineErrors as `cancelWorkflow` does. */
  cancel(workflowId: string, reason: string): Promise<void>;
  /**
   * Applies `outcome` as the result of a parent task (event id `task:<taskId>`, consumed once);
   * `owner` null consumes a `waiting` task, else a task `running` under that lease.
   */
  report(task: { workflowId: string; taskId: string; actorId: string }, outcome: TaskOutcome, owner: string | null): Promise<void>;
}

/**
 * Engine errors worth a retry (the lease runs out and the task runs again), not a failed task.
 * `internal` is not one: the engine raises it for a broken machine definition, which a retry
 * would hit again (unexpected exceptions are not EngineErrors and are retried).
 */
const TRANSIENT = new Set(['unavailable', 'aborted']);
/** Rows per scan of a sweep (and children cancelled per cascade): a backlog drains over several polls. */
const SWEEP_BATCH = 100;

/**
 * Child workflows (DESIGN: "a sub-workflow is its own instance, started by a tool and reporting
 * back with an event"). A `workflow.start` task is run by the engine, not a tool adapter:
 * 1. under the task's lease, start the child with an id derived from the task's idempotency
 *    key, its parent task stored in its first version (a re-run finds it: started once);
 * 2. park the parent task `waiting`: no lease, no tool slot, no total timeout, for days if need be;
 * 3. when the child commits a final status, report its output (or a structured error) to the
 *    parent as that task's result, through the path tool results take (consumed exactly once);
 * 4. when a parent task closes while its child runs (state left, parent cancelled or ended),
 *    cancel the child.
 * Steps 3 and 4 run right after the commit that calls for them; a crash in between is repaired by
 * a sweep (at start and every task poll) over finished children of waiting tasks and open
 * children of closed tasks. Every step is idempotent, so replicas may race on them.
 */
export class ChildWorkflows {
  #timer: NodeJS.Timeout | undefined;
  #sweeping: Promise<void> | undefined;
  /** Where each scan goes on at the next sweep (null: from the start). */
  #waitingCursor: ParentLink | null = null;
  #childCursor: string | null = null;

  constructor(private readonly deps: ChildWorkflowsDeps) {}

  handles(src: string): boolean {
    return src === WORKFLOW_START;
  }

  /**
   * Runs a `workflow.start` task this engine holds the lease of: an outcome to report now (the
   * child had already finished, or the input is bad), or null when the child reports later.
   * Throws on a store failure: the task is not reported and runs again after its lease.
   */
  async run(task: TaskRecord): Promise<TaskOutcome | null> {
    const { store, options } = this.deps;
    const request = startRequestOf(task.input);
    if (typeof request === 'string') return { ok: false, error: toolError('invalid_input', request) };
    const parent = { workflowId: task.workflowId, taskId: task.taskId };
    const childId = childWorkflowId(task);
    let child = await store.loadWorkflow(childId);
    if (!child) {
      try {
        child = await this.deps.start({ ...request, workflowId: childId, parent });
      } catch (error) {
        if (error instanceof DuplicateWorkflowError) child = await store.loadWorkflow(childId);
        else if (error instanceof EngineError && !TRANSIENT.has(error.code)) return { ok: false, error: toolError('invalid_input', error.message) };
        else throw error;
      }
    }
    if (!child || child.parent?.workflowId !== parent.workflowId || child.parent.taskId !== parent.taskId) {
      return { ok: false, error: toolError('invalid_input', `workflow id ${childId} is taken by a workflow that is not this task's child`) };
    }
    if (FINAL_STATUSES.has(child.status)) return outcomeOf(childRecord(child, parent));
    if (!(await store.parkTask(task.workflowId, task.taskId, options.instanceId, options.clock.now()))) return null;
    // The child may have finished since it was read: its report then found the task still
    // running and was dropped, so report it now (a second report is a no-op).
    const latest = await store.loadWorkflow(childId);
    if (latest && FINAL_STATUSES.has(latest.status)) await this.#report(childRecord(latest, parent));
    return null;
  }

  /** After a commit: report a finished child to its parent; cancel children of tasks it closed. */
  afterCommit(record: WorkflowRecord, cancelledTaskIds: readonly string[]): void {
    if (record.parent && FINAL_STATUSES.has(record.status)) {
      this.#report(childRecord(record, record.parent)).catch((error: unknown) =>
        this.deps.logger.warn('reporting a child workflow to its parent failed; the sweep retries', { workflowId: record.id, error }),
      );
    }
    if (cancelledTaskIds.length) {
      this.#cascade({ workflowId: record.id, taskIds: [...cancelledTaskIds] }).catch((error: unknown) =>
        this.deps.logger.warn('cancelling child workflows failed; the sweep retries', { workflowId: record.id, error }),
      );
    }
  }

  /** Sweeps now, then every task poll interval, until `stop()`. */
  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => this.sweep(), this.deps.options.taskPollIntervalMs);
    this.#timer.unref();
    this.sweep();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#sweeping;
  }

  /**
   * One batch of each scan: reports finished children whose parent task still waits, cancels open
   * children of closed tasks. Overlapping calls share one sweep; a backlog drains over sweeps.
   */
  sweep(): void {
    if (this.#sweeping) return;
    this.#sweeping = this.#sweep()
      .catch((error: unknown) => this.deps.logger.warn('the child workflow sweep failed; retrying at the next poll', { error }))
      .finally(() => (this.#sweeping = undefined));
  }

  async #sweep(): Promise<void> {
    const waiting = await this.deps.store.scanWaitingTasks(this.#waitingCursor, SWEEP_BATCH);
    for (const child of waiting.finished) await this.#report(child);
    this.#waitingCursor = waiting.next;
    const active = await this.deps.store.scanActiveChildren(this.#childCursor, SWEEP_BATCH);
    await this.#cancelAll(active.orphans);
    this.#childCursor = active.next;
  }

  #report(child: ChildRecord): Promise<void> {
    const { workflowId, taskId } = child.parent;
    return this.deps.report({ workflowId, taskId, actorId: actorIdOf(taskId) }, outcomeOf(child), null);
  }

  async #cascade(parent: { workflowId: string; taskIds: string[] }): Promise<void> {
    await this.#cancelAll(await this.deps.store.listChildrenOfTasks(parent, SWEEP_BATCH));
  }

  async #cancelAll(childIds: string[]): Promise<void> {
    for (const id of childIds) {
      try {
        await this.deps.cancel(id, 'the parent task of this child workflow was cancelled');
      } catch (error) {
        // Finished meanwhile (or cancelled by another replica): nothing left to do.
        if (error instanceof EngineError && !TRANSIENT.has(error.code)) continue;
        throw error;
      }
    }
  }
}

/**
 * The child's id: the task's idempotency key (`<workflowId>:<taskId>`) plus `:child`, so every
 * run of the task names the same child; hashed when long (deeply nested children).
 */
export function childWorkflowId(task: { workflowId: string; taskId: string }): string {
  const key = `${task.workflowId}:${task.taskId}`;
  return key.length <= 200 ? `${key}:child` : `child:${createHash('sha256').update(key).digest('hex').slice(0, 40)}`;
}

/** The actor id of a task id `<actorId>@<version>` (see effect-records.ts). */
function actorIdOf(taskId: string): string {
  const at = taskId.lastIndexOf('@');
  return at < 0 ? taskId : taskId.slice(0, at);
}

function childRecord(record: WorkflowRecord, parent: ParentLink): ChildRecord {
  return { id: record.id, status: record.status, output: record.output, error: record.error, parent };
}

/** A finished child's result for its parent task. */
function outcomeOf(child: ChildRecord): TaskOutcome {
  if (child.status === 'done') return { ok: true, output: child.output ?? null };
  const [kind, what] = child.status === 'cancelled' ? (['child_cancelled', 'was cancelled'] as const) : (['child_failed', 'failed'] as const);
  return { ok: false, error: toolError(kind, `child workflow ${child.id} ${what}`, { workflowId: child.id, childError: child.error }) };
}

/** The shape every tool error has (tools/tool-error.ts `ToolErrorJson`), so machines branch on `kind` alike. */
function toolError(kind: ChildErrorKind, message: string, extra: Record<string, JsonValue> = {}): JsonValue {
  return { name: 'ToolError', code: kind, tool: WORKFLOW_START, kind, attempts: 1, message, ...extra };
}

/** The start request in a task's input, or what is wrong with it. */
function startRequestOf(input: JsonValue): Omit<StartRequest, 'workflowId'> | string {
  if (!isJsonObject(input)) return 'workflow.start input must be an object { machineId, machineVersion?, input? }';
  const { machineId, machineVersion, input: childInput } = input;
  if (typeof machineId !== 'string' || machineId === '') return 'workflow.start input.machineId must be a non-empty string';
  if (machineVersion !== undefined && machineVersion !== null && (typeof machineVersion !== 'number' || !Number.isSafeInteger(machineVersion) || machineVersion < 1)) {
    return 'workflow.start input.machineVersion must be a positive integer';
  }
  if (childInput !== undefined && childInput !== null && !isJsonObject(childInput)) return 'workflow.start input.input must be an object';
  return {
    machineId,
    ...(typeof machineVersion === 'number' ? { machineVersion } : {}),
    input: (childInput ?? {}) as JsonObject,
  };
}
