import type { EngineLogger, ResolvedEngineOptions } from './engine-options.js';
import { SerialPoll } from './serial-poll.js';
import type { JsonValue } from './json.js';
import { jsonBytes, jsonProblem } from './json.js';
import { errorJson } from './machine-runtime.js';
import type { ToolAttempt, ToolInvoker } from './ports/tool-invoker.js';
import type { TaskRecord, WorkflowStore } from './ports/workflow-store.js';

/** How a tool call ended; `output` and `error` are JSON. */
export type TaskOutcome = { ok: true; output: JsonValue } | { ok: false; error: JsonValue };

/**
 * A task the engine runs itself instead of a tool adapter (`workflow.start`): resolves with an
 * outcome to report now, or null when the result is reported later by other means. A rejection
 * reports nothing: the task runs again after its lease.
 */
export type EngineTaskHandler = (task: TaskRecord, signal: AbortSignal) => Promise<TaskOutcome | null>;

interface Running {
  task: TaskRecord;
  controller: AbortController;
  done: Promise<void>;
}

/**
 * Runs tool tasks this engine holds a lease on, at least once per task:
 * - tasks committed by this engine start at once (they are inserted already leased to it);
 * - a poller claims pending tasks and tasks whose lease expired (their replica died);
 * - leases of running calls are renewed every third of the lease; a call whose lease is gone
 *   (cancelled by a transition on another replica, or taken over) is aborted;
 * - the outcome goes to `report`, which applies it as an event consuming the task row, so a
 *   result counts once even if the call ran twice.
 * `stop()` aborts running calls and hands their tasks back (pending) for another replica.
 */
export class TaskRunner {
  readonly #running = new Map<string, Running>();
  #pollTimer: NodeJS.Timeout | undefined;
  #renewTimer: NodeJS.Timeout | undefined;
  #started = false;
  readonly #polls = new SerialPoll(() => this.#poll(), () => this.#started);

  constructor(
    private readonly store: WorkflowStore,
    private readonly tools: ToolInvoker,
    private readonly options: ResolvedEngineOptions,
    private readonly logger: EngineLogger,
    private readonly report: (task: TaskRecord, outcome: TaskOutcome) => Promise<void>,
    private readonly handlers: ReadonlyMap<string, EngineTaskHandler> = new Map(),
  ) {}

  get started(): boolean {
    return this.#started;
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#pollTimer = setInterval(() => this.poll(), this.options.taskPollIntervalMs);
    this.#renewTimer = setInterval(() => void this.#renew(), Math.max(10, Math.floor(this.options.taskLeaseMs / 3)));
    this.#pollTimer.unref();
    this.#renewTimer.unref();
    this.poll();
  }

  async stop(): Promise<void> {
    if (!this.#started) return;
    this.#started = false;
    clearInterval(this.#pollTimer);
    clearInterval(this.#renewTimer);
    await this.#polls.running;
    const running = [...this.#running.values()];
    for (const r of running) r.controller.abort(new Error('the workflow engine is stopping'));
    await Promise.all(running.map((r) => r.done));
    try {
      await this.store.releaseTasks(this.options.instanceId);
    } catch (error) {
      // Not fatal: the leases expire and another replica claims the tasks then.
      this.logger.warn('could not hand back running tasks on stop', { error });
    }
  }

  /**
   * Claims what is claimable now, up to free capacity. See SerialPoll.
   */
  poll(): void {
    this.#polls.request();
  }

  async #poll(): Promise<void> {
    const free = this.options.maxConcurrentTasks - this.#running.size;
    if (free <= 0) return;
    try {
      const now = this.options.clock.now();
      const claimed = await this.store.claimTasks(this.options.instanceId, now, new Date(now.getTime() + this.options.taskLeaseMs), free);
      for (const task of claimed) this.run(task);
    } catch (error) {
      this.logger.warn('claiming tool tasks failed; retrying at the next poll', { error });
    }
  }

  /** Runs a task this engine holds the lease of (no-op if it runs already). */
  run(task: TaskRecord): void {
    const key = keyOf(task);
    if (!this.#started || this.#running.has(key)) return;
    const controller = new AbortController();
    const entry: Running = { task, controller, done: Promise.resolve() };
    this.#running.set(key, entry);
    const committedAt = task.createdAt?.getTime();
    this.options.observer.taskStarted({ tool: task.src, scheduleToStartSeconds: committedAt === undefined ? undefined : Math.max(0, this.options.clock.now().getTime() - committedAt) / 1000 });
    entry.done = this.#execute(task, controller.signal).finally(() => {
      this.#running.delete(key);
      // A slot is free: pick up waiting work without waiting for the next poll (in no trace: the
      // tasks it claims belong to other transitions than this task's).
      if (this.#started) this.options.observer.untraced(() => this.poll());
    });
  }

  /** Aborts the call of a task that was cancelled (its state was left). Its result is dropped. */
  abort(workflowId: string, taskId: string): void {
    this.#running.get(`${workflowId}/${taskId}`)?.controller.abort(new Error('the task was cancelled'));
  }

  async #execute(task: TaskRecord, signal: AbortSignal): Promise<void> {
    const handler = this.handlers.get(task.src);
    if (handler) return this.#handle(handler, task, signal);
    let outcome: TaskOutcome;
    // The call journal: attempts are written in order as they end, best effort (a lost row
    // loses an audit line, never a result), and complete before the outcome is reported.
    let journal: Promise<void> = Promise.resolve();
    const onAttempt = (attempt: ToolAttempt) => {
      const record = {
        workflowId: task.workflowId, taskId: task.taskId, src: task.src, claim: task.attempts, attempt: attempt.attempt, owner: this.options.instanceId,
        startedAt: attempt.startedAt, endedAt: attempt.endedAt, latencyMs: Math.max(0, attempt.endedAt.getTime() - attempt.startedAt.getTime()),
        outcome: attempt.ok ? ('ok' as const) : attempt.refused ? ('refused' as const) : ('error' as const), errorKind: attempt.errorKind ?? null, status: attempt.status ?? null,
      };
      journal = journal
        .then(() => this.store.recordToolCall(record))
        .catch((error: unknown) => this.logger.warn('could not write a tool call journal row', { workflowId: task.workflowId, taskId: task.taskId, error }));
    };
    try {
      const context = { signal, idempotencyKey: `${task.workflowId}:${task.taskId}`, attempt: task.attempts, onAttempt };
      const output = await this.options.observer.span('orchestrator.tool_call', { 'orchestrator.tool': task.src, 'orchestrator.task.claim': task.attempts }, () =>
        this.tools.invoke(task.src, task.input, context),
      );
      outcome = this.#checkOutput(output ?? null);
    } catch (error) {
      outcome = { ok: false, error: errorJson(error) };
    }
    await journal;
    await this.#report(task, outcome, signal);
  }

  async #handle(handler: EngineTaskHandler, task: TaskRecord, signal: AbortSignal): Promise<void> {
    let outcome: TaskOutcome | null;
    try {
      outcome = await handler(task, signal);
    } catch (error) {
      this.logger.error('an engine task failed; it will run again after its lease', { workflowId: task.workflowId, taskId: task.taskId, src: task.src, error });
      return;
    }
    if (outcome) await this.#report(task, outcome, signal);
  }

  async #report(task: TaskRecord, outcome: TaskOutcome, signal: AbortSignal): Promise<void> {
    // Cancelled, lease lost or stopping: whoever holds the task now reports for it.
    if (signal.aborted) return;
    try {
      await this.report(task, outcome);
    } catch (error) {
      // The lease runs out and the task runs again elsewhere: at least once, counted once.
      this.logger.error('could not record a tool result; the task will run again after its lease', { workflowId: task.workflowId, taskId: task.taskId, error });
    }
  }

  #checkOutput(output: unknown): TaskOutcome {
    const problem = jsonProblem(output, 'output');
    if (problem) return { ok: false, error: { name: 'ToolOutputError', code: 'invalid_output', message: `the tool returned a value that is not JSON: ${problem}` } };
    const bytes = jsonBytes(output);
    if (bytes > this.options.limits.maxEventBytes) {
      return { ok: false, error: { name: 'ToolOutputError', code: 'resource_exhausted', message: `the tool output is ${bytes} bytes, over the limit of ${this.options.limits.maxEventBytes}` } };
    }
    return { ok: true, output: output as JsonValue };
  }

  async #renew(): Promise<void> {
    const running = [...this.#running.values()];
    if (!running.length) return;
    try {
      const now = this.options.clock.now();
      const held = await this.store.renewTaskLeases(this.options.instanceId, running.map((r) => r.task), new Date(now.getTime() + this.options.taskLeaseMs));
      for (const r of running) {
        if (!held.has(keyOf(r.task)) && this.#running.get(keyOf(r.task)) === r) r.controller.abort(new Error('the task lease was lost'));
      }
    } catch (error) {
      this.logger.warn('renewing task leases failed', { error });
    }
  }

  /** Whether another call fits under `maxConcurrentTasks`. */
  get hasCapacity(): boolean {
    return this.#running.size < this.options.maxConcurrentTasks;
  }

  /** Running calls, for tests and metrics. */
  get runningCount(): number {
    return this.#running.size;
  }
}

function keyOf(task: { workflowId: string; taskId: string }): string {
  return `${task.workflowId}/${task.taskId}`;
}
