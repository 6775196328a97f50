import { afterAnswers } from './answer-turn.js';
import { ChildWorkflows, WORKFLOW_START } from './child-workflows.js';
import type { EngineLogger, ResolvedEngineOptions, WorkflowEngineOptions } from './engine-options.js';
import { resolveEngineOptions } from './engine-options.js';
import { EngineError, InvalidInputError, MachineDefinitionError } from './errors.js';
import { storeFailure } from './store-failures.js';
import { InstanceCache } from './instance-cache.js';
import type { JsonObject } from './json.js';
import { KeyedQueue } from './keyed-queue.js';
import type { WorkflowDefinition } from './machine-kit.js';
import { MachineRegistry } from './machine-registry.js';
import type { EventBus } from './ports/event-bus.js';
import type { ToolInvoker } from './ports/tool-invoker.js';
import type { TaskRecord, TimerRecord, ToolCallRecord, WorkflowRecord, WorkflowStore } from './ports/workflow-store.js';
import { checkKey, checkPositiveInt, clientEvent } from './request-checks.js';
import { TaskRunner } from './task-runner.js';
import type { TaskOutcome } from './task-runner.js';
import { TimerScheduler } from './timer-scheduler.js';
import { listToolCalls } from './tool-call-queries.js';
import type { ListToolCallsQuery } from './tool-call-queries.js';
import { TransitionApplier } from './transition-applier.js';
import type { ApplyResult } from './transition-applier.js';
import { prepareStep } from './transition-builder.js';
import type { MachineEvent, TransitionRequest } from './transition-builder.js';
import { WorkflowQueries } from './workflow-queries.js';
import type { HistoryQuery, ListWorkflowsQuery } from './workflow-queries.js';
import { startWorkflow } from './workflow-starter.js';
import type { StartRequest } from './workflow-starter.js';
import { transitionMessage, type CommittedStep } from './transition-message.js';
import { earliestDue, WorkAnnouncer } from './work-announcer.js';
import { watchWorkflow } from './workflow-watch.js';
import { WatchPoller } from './watch-poller.js';
import { FleetPoller } from './fleet-poller.js';
import { decodeWatchCursor, watchWorkflows, type FleetWatchItem } from './fleet-watch.js';
import type { WorkflowStatus } from './workflow-types.js';
import type { HistoryEntry, MachineInfo, WorkflowView } from './workflow-types.js';

export type { HistoryEntry, MachineInfo, WorkflowStatus, WorkflowView } from './workflow-types.js';
export type { ToolCallRecord } from './ports/workflow-store.js';
export type { ListWorkflowsQuery, HistoryQuery } from './workflow-queries.js';
export type { ListToolCallsQuery } from './tool-call-queries.js';
export type { StartRequest } from './workflow-starter.js';

/** What the engine is built from; `app.ts` wires the adapters. */
export interface WorkflowEngineDeps {
  store: WorkflowStore;
  bus: EventBus;
  /** The machines to load: a registry, or definitions (e.g. `machines/index.ts`). */
  machines: MachineRegistry | Iterable<WorkflowDefinition>;
  tools: ToolInvoker;
  logger: EngineLogger;
  options?: WorkflowEngineOptions;
}

/** A client event; `eventId` deduplicates, `expectedVersion` makes it conditional. */
export interface SendEventRequest {
  workflowId: string;
  event: { type: string; payload?: JsonObject };
  eventId?: string;
  expectedVersion?: number;
}

/**
 * Builds an engine. Throws MachineDefinitionError when a machine invokes a tool `deps.tools`
 * cannot run, so a missing adapter stops start-up instead of failing instances later.
 */
export function createWorkflowEngine(deps: WorkflowEngineDeps): WorkflowEngine {
  return new WorkflowEngine(deps);
}

/**
 * The durable workflow engine (see DESIGN.md, "The flow of one event"). Every input (start,
 * client event, tool result, timer, cancel) is computed with xstate's pure transition functions
 * and committed in one transaction guarded by the instance version, with its history row and
 * the effects it asks for; only after commit is it published on the bus and are tasks run and
 * timers scheduled. Errors it throws on purpose are EngineErrors (see errors.ts); a database
 * failure surfaces as StoreUnavailableError.
 */
export class WorkflowEngine {
  readonly instanceId: string;
  readonly #deps: WorkflowEngineDeps;
  readonly #options: ResolvedEngineOptions;
  readonly #registry: MachineRegistry;
  readonly #cache: InstanceCache;
  readonly #queue = new KeyedQueue();
  readonly #applier: TransitionApplier;
  readonly #queries: WorkflowQueries;
  readonly #runner: TaskRunner;
  readonly #timers: TimerScheduler;
  readonly #children: ChildWorkflows;
  readonly #work: WorkAnnouncer;
  readonly #watchPoller: WatchPoller;
  readonly #fleetPoller: FleetPoller;
  #started = false;

  constructor(deps: WorkflowEngineDeps) {
    this.#deps = deps;
    this.#options = resolveEngineOptions(deps.options);
    this.instanceId = this.#options.instanceId;
    this.#registry = deps.machines instanceof MachineRegistry ? deps.machines : new MachineRegistry(deps.machines);
    this.#children = new ChildWorkflows({
      store: deps.store,
      logger: deps.logger,
      options: this.#options,
      start: (req) => this.#guard(() => this.#start(req)),
      cancel: async (workflowId, reason) => void (await this.cancelWorkflow({ workflowId, reason })),
      report: (task, outcome, owner) => this.#reportTask(task, outcome, owner),
    });
    for (const machine of this.#registry.list()) {
      const missing = machine.tools.filter((src) => !deps.tools.has(src) && !this.#children.handles(src));
      if (missing.length) throw new MachineDefinitionError(`machine ${machine.info.id}@${machine.info.version} uses tools with no adapter: ${missing.join(', ')}`);
    }
    this.#cache = new InstanceCache(this.#options.cacheSize);
    this.#applier = new TransitionApplier(deps.store, this.#registry, this.#cache, this.#queue, this.#options, () => this.#taskOwner());
    this.#queries = new WorkflowQueries(deps.store, this.#registry);
    this.#runner = new TaskRunner(deps.store, deps.tools, this.#options, deps.logger, (task, outcome) => this.#reportTask(task, outcome, this.instanceId), new Map([[WORKFLOW_START, (task) => this.#children.run(task)]]));
    this.#timers = new TimerScheduler(
      deps.store,
      this.#options,
      deps.logger,
      (timer) => this.#fireTimer(timer),
      (timer) => this.#prepareTimer(timer),
    );
    this.#work = new WorkAnnouncer(deps.bus, this.instanceId, deps.logger);
    this.#watchPoller = new WatchPoller({
      store: deps.store,
      bus: deps.bus,
      pollIntervalMs: this.#options.watchPollIntervalMs,
      onError: (error) => deps.logger.warn('polling watched workflows failed; their WatchWorkflow streams end with the error', { error }),
    });
    this.#fleetPoller = new FleetPoller({
      store: deps.store,
      bus: deps.bus,
      clock: this.#options.clock,
      pollIntervalMs: this.#options.watchPollIntervalMs,
      onError: (error) => deps.logger.warn('polling for WatchWorkflows streams failed; the streams end with the error', { error }),
    });
  }

  listMachines(): MachineInfo[] {
    return this.#registry.list().map((m) => m.info);
  }

  /** The latest version when `version` is omitted; throws MachineNotFoundError. */
  getMachine(id: string, version?: number): MachineInfo {
    return this.#registry.get(id, version || undefined).info;
  }

  startWorkflow(req: StartRequest): Promise<WorkflowView> {
    return this.#guard(async () => this.#queries.view(await this.#start(req)));
  }

  async #start(req: StartRequest): Promise<WorkflowRecord> {
    const result = await startWorkflow(
      { store: this.#deps.store, registry: this.#registry, cache: this.#cache, options: this.#options, taskOwner: this.#taskOwner() },
      req,
    );
    if (result.kind === 'created') {
      const step = { event: { type: 'xstate.init', input: result.record.input }, eventId: null, fromState: null, previousAt: undefined };
      this.#afterCommit(result.record, step, result.createdTasks, result.armedTimers, []);
    }
    return result.record;
  }

  getWorkflow(id: string, opts: { atVersion?: number } = {}): Promise<WorkflowView> {
    return this.#guard(() => this.#queries.getWorkflow(id, opts.atVersion));
  }

  listWorkflows(q: ListWorkflowsQuery): Promise<{ workflows: WorkflowView[]; nextPageToken: string }> {
    return this.#guard(() => this.#queries.listWorkflows(q));
  }

  getHistory(q: HistoryQuery): Promise<{ entries: HistoryEntry[]; nextPageToken: string }> {
    return this.#guard(() => this.#queries.getHistory(q));
  }

  /** The call journal of a workflow, a page at a time: see tool-call-queries.ts. */
  listToolCalls(q: ListToolCallsQuery): Promise<{ calls: ToolCallRecord[]; nextPageToken: string }> {
    return this.#guard(() => listToolCalls(this.#deps.store, q));
  }

  /**
   * Applies a client event. The same `eventId` again returns the view at the version the first
   * delivery produced, with no second transition. `expectedVersion` makes it conditional
   * (`aborted` when the instance is elsewhere).
   */
  sendEvent(req: SendEventRequest): Promise<WorkflowView> {
    return this.#guard(async () => {
      checkKey('workflow_id', req.workflowId);
      if (req.eventId !== undefined && req.eventId !== '') checkKey('event_id', req.eventId);
      if (req.expectedVersion !== undefined && req.expectedVersion !== 0) checkPositiveInt('expected_version', req.expectedVersion);
      const event = clientEvent(req.event, this.#options.limits.maxEventBytes);
      const result = await this.#apply({
        workflowId: req.workflowId,
        event,
        eventId: req.eventId || null,
        ...(req.expectedVersion ? { expectedVersion: req.expectedVersion } : {}),
        source: 'client',
      });
      return this.#resultView(req.workflowId, result);
    });
  }

  /** Ends an instance: timers deleted, tasks cancelled and their calls aborted. Idempotent once cancelled. */
  cancelWorkflow(req: { workflowId: string; reason: string }): Promise<WorkflowView> {
    return this.#guard(async () => {
      checkKey('workflow_id', req.workflowId);
      const reason = (req.reason ?? '').slice(0, 1000);
      const result = await this.#apply({ workflowId: req.workflowId, event: { type: 'workflow.cancel', reason }, eventId: 'cancel', source: 'cancel' });
      if (result.kind === 'duplicate') return this.#queries.getWorkflow(req.workflowId);
      return this.#resultView(req.workflowId, result);
    });
  }

  /** See workflow-watch.ts: replay from `fromVersion`, then live; ends after a final status. */
  watch(workflowId: string, fromVersion: number, signal: AbortSignal): AsyncIterable<HistoryEntry> {
    return watchWorkflow({ store: this.#deps.store, bus: this.#deps.bus, poller: this.#watchPoller }, workflowId, fromVersion, signal);
  }

  /**
   * See fleet-watch.ts: live transitions of every matching workflow, each workflow's versions
   * once and in order, from `since` or a `cursor` (a previous item's) or from now. Never ends by
   * itself; a database failure ends it with `unavailable` (resume with the last cursor).
   */
  watchWorkflows(
    req: { machineId?: string; statuses?: WorkflowStatus[]; since?: Date; cursor?: string },
    signal: AbortSignal,
  ): AsyncIterable<FleetWatchItem> {
    if (req.machineId !== undefined) checkKey('machine_id', req.machineId);
    if (req.since !== undefined && req.cursor !== undefined) throw new InvalidInputError('give since or cursor, not both', [{ field: 'cursor', description: 'conflicts with since' }]);
    const since = req.cursor !== undefined ? decodeWatchCursor(req.cursor) : req.since;
    if (since !== undefined && Number.isNaN(since.getTime())) throw new InvalidInputError('since is not a valid time', [{ field: 'since', description: 'invalid' }]);
    const deps = { store: this.#deps.store, bus: this.#deps.bus, clock: this.#options.clock, poller: this.#fleetPoller, marginMs: this.#options.fleetWatchMarginMs };
    const query = { ...(req.machineId !== undefined ? { machineId: req.machineId } : {}), ...(req.statuses ? { statuses: req.statuses } : {}), ...(since ? { since } : {}) };
    return watchWorkflows(deps, query, signal);
  }

  /**
   * Refuses to run when an active instance is pinned to a machine version that is not loaded
   * or whose definition hash changed (MachineDefinitionError); then starts the task and timer
   * pollers, which at once claim orphaned tasks and fire overdue timers.
   */
  async start(): Promise<void> {
    if (this.#started) return;
    const live = await this.#guard(() => this.#deps.store.liveMachineVersions());
    for (const { machineId, machineVersion, machineHash } of live) {
      const loaded = this.#registry.find(machineId, machineVersion);
      if (!loaded) throw new MachineDefinitionError(`active workflows use machine ${machineId}@${machineVersion}, which is not loaded; keep old versions registered while instances of them live`);
      if (loaded.hash !== machineHash) {
        throw new MachineDefinitionError(`machine ${machineId}@${machineVersion} differs from the definition its active workflows started with; ship the change as a new version`, {
          machineId,
          machineVersion,
          storedHash: machineHash,
          loadedHash: loaded.hash,
        });
      }
    }
    this.#started = true;
    this.#runner.start();
    this.#timers.start();
    this.#children.start();
    // An announcement may arrive in the publishing transition's trace (the in-process bus): the
    // polls it triggers serve other workflows, so they run in none.
    const { observer } = this.#options;
    await this.#work.start({ tasks: () => observer.untraced(() => this.#runner.poll()), timer: (dueAt) => observer.untraced(() => this.#timers.notify(dueAt)) });
    this.#deps.logger.info('workflow engine started', { instanceId: this.instanceId, machines: this.#registry.list().length, liveMachineVersions: live.length });
  }

  /** Stops pollers, aborts running tool calls and hands their tasks back; waits for transitions in flight. */
  async stop(): Promise<void> {
    if (!this.#started) return;
    this.#started = false;
    await this.#work.stop();
    await this.#children.stop();
    await this.#timers.stop();
    await this.#runner.stop();
    // Its running tasks went back to pending: the other replicas take them now, not at their next poll.
    this.#work.tasksReleased();
    await this.#queue.idle();
    // The last transitions' publishes wait for the answers (see #afterCommit): one queue, in order, so this runs after them.
    await new Promise<void>((resolve) => afterAnswers(resolve));
    this.#deps.logger.info('workflow engine stopped', { instanceId: this.instanceId });
  }

  /** One traced transition: applying the input, then announcing it and starting its effects. */
  #apply(request: TransitionRequest): Promise<ApplyResult> {
    const attributes = { 'orchestrator.workflow_id': request.workflowId, 'orchestrator.source': request.source, 'orchestrator.event_type': request.event.type };
    return this.#options.observer.span('orchestrator.transition', attributes, () => this.#applyNow(request));
  }

  async #applyNow(request: TransitionRequest): Promise<ApplyResult> {
    const result = await this.#applier.apply(request);
    if (result.kind === 'applied') {
      const { built, cancelledTasks } = result;
      const step = { event: request.event, eventId: built.commit.eventId, fromState: built.commit.fromState, previousAt: built.previousAt };
      this.#afterCommit(built.next, step, built.createdTasks, built.armedTimers, cancelledTasks);
    }
    return result;
  }

  async #resultView(workflowId: string, result: ApplyResult): Promise<WorkflowView> {
    if (result.kind === 'applied') return this.#queries.view(result.built.next);
    const record = await this.#deps.store.loadWorkflow(workflowId);
    if (result.kind === 'duplicate' && record) return this.#queries.historicalView(record, result.original);
    // 'stale' comes only from engine-made events; a client request never consumes a row.
    return this.#queries.view(record as WorkflowRecord);
  }

  /**
   * After commit, never before: announce the transition (with its history entry, so watchers
   * need no read), start its tasks, schedule its timers, abort cancelled calls, and wake other
   * replicas for work they may claim.
   */
  #afterCommit(record: WorkflowRecord, step: CommittedStep, created: TaskRecord[], armed: TimerRecord[], cancelled: { taskId: string; leaseOwner: string | null }[]): void {
    // Fault-injection point (crash tests): the commit is durable, nothing after it has happened yet.
    this.#options.afterCommit();
    const message = transitionMessage(record, step);
    const failed = (error: unknown) => this.#deps.logger.warn('publishing a transition failed', { workflowId: record.id, version: record.version, error });
    afterAnswers(() => {
      try {
        this.#deps.bus.publish(message).catch(failed);
      } catch (error) {
        failed(error); // a bus that throws instead of rejecting must not stop the other fan-outs
      }
    });
    for (const task of cancelled) if (task.leaseOwner === this.instanceId) this.#runner.abort(record.id, task.taskId);
    for (const task of created) if (task.leaseOwner === this.instanceId) this.#runner.run(task);
    this.#children.afterCommit(record, cancelled.map((t) => t.taskId));
    const earliest = earliestDue(armed);
    // The wake-up fires other workflows' timers too: schedule it outside this transition's trace.
    if (earliest) this.#options.observer.untraced(() => this.#timers.notify(earliest));
    this.#work.announce(created, armed);
  }

  /** A task's result as its machine event; `owner` null for a task waiting on a child workflow (no lease). */
  async #reportTask(task: Pick<TaskRecord, 'workflowId' | 'taskId' | 'actorId'>, outcome: TaskOutcome, owner: string | null): Promise<void> {
    const event: MachineEvent = outcome.ok
      ? { type: `xstate.done.actor.${task.actorId}`, output: outcome.output, actorId: task.actorId }
      : { type: `xstate.error.actor.${task.actorId}`, error: outcome.error, actorId: task.actorId };
    const consume = outcome.ok
      ? { kind: 'task' as const, taskId: task.taskId, owner, status: 'done' as const, result: outcome.output, error: null }
      : { kind: 'task' as const, taskId: task.taskId, owner, status: 'failed' as const, result: null, error: outcome.error };
    await this.#applyInternal({ workflowId: task.workflowId, event, eventId: `task:${task.taskId}`, source: 'task', consume });
  }

  async #fireTimer(timer: TimerRecord): Promise<void> {
    const consume = { kind: 'timer' as const, timerId: timer.timerId, armedVersion: timer.armedVersion };
    await this.#applyInternal({ workflowId: timer.workflowId, event: timer.event as MachineEvent, eventId: `timer:${timer.timerId}@${timer.armedVersion}`, source: 'timer', consume });
  }

  /** A held timer's machine step, computed before it is due when its instance is in the cache. */
  #prepareTimer(timer: TimerRecord): void {
    const instance = this.#cache.get(timer.workflowId);
    if (instance) prepareStep(instance, timer.event as MachineEvent, this.#options.limits);
  }

  /** Tool results and timers: a refusal (the instance finished or is gone) just drops the input. */
  async #applyInternal(request: TransitionRequest): Promise<void> {
    try {
      const result = await this.#apply(request);
      if (result.kind !== 'applied') this.#deps.logger.debug('input dropped', { workflowId: request.workflowId, eventId: request.eventId, why: result.kind });
    } catch (error) {
      if (error instanceof EngineError && error.code !== 'unavailable' && error.code !== 'internal' && error.code !== 'aborted') {
        this.#deps.logger.debug('input dropped', { workflowId: request.workflowId, eventId: request.eventId, why: error.message });
        return;
      }
      throw error;
    }
  }

  /** New tasks are committed already claimed by this engine while it has room to run them; else any replica's poll claims them. */
  #taskOwner(): string | null {
    return this.#runner.started && this.#runner.hasCapacity ? this.instanceId : null;
  }

  /** Engine errors pass; a database failure becomes `unavailable`. */
  async #guard<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      throw storeFailure(error);
    }
  }
}
