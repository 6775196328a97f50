import type { ResolvedEngineOptions } from './engine-options.js';
import { EngineError, LimitExceededError, MachineDefinitionError, VersionConflictError, WorkflowNotFoundError } from './errors.js';
import type { InstanceCache } from './instance-cache.js';
import type { KeyedQueue } from './keyed-queue.js';
import type { MachineRegistry } from './machine-registry.js';
import type { CommitOutcome, HistoryRecord, WorkflowRecord, WorkflowStore } from './ports/workflow-store.js';
import { outcomeOfStatus } from './ports/engine-observer.js';
import { buildTransition } from './transition-builder.js';
import type { BuiltTransition, TransitionRequest } from './transition-builder.js';
import type { WorkflowInstance } from './workflow-instance.js';

export type ApplyResult =
  | { kind: 'applied'; built: BuiltTransition; cancelledTasks: { taskId: string; leaseOwner: string | null }[] }
  | { kind: 'duplicate'; original: HistoryRecord }
  /** The consumed task or timer row was gone (cancelled, or handled by another replica): dropped. */
  | { kind: 'stale' };

/** Optimistic attempt, then this many locked attempts (only a deadlock victim needs more than one). */
const LOCKED_ATTEMPTS = 3;

/**
 * Applies one input to one instance: computes the transition from the cached snapshot, commits
 * it conditionally on the version, and reports what was committed (the caller publishes and
 * starts effects). Transitions of one instance on this engine run one at a time (KeyedQueue).
 *
 * On a version conflict (another replica wrote), the cache entry is dropped and the input is
 * applied again under the row lock, so a busy instance still makes progress; after
 * LOCKED_ATTEMPTS failures it throws VersionConflictError. A refusal computed from a cached
 * snapshot is re-checked against the store before it is reported, and a refused input whose
 * event id is already in the history returns that original transition instead.
 */
export class TransitionApplier {
  constructor(
    private readonly store: WorkflowStore,
    private readonly registry: MachineRegistry,
    private readonly cache: InstanceCache,
    private readonly queue: KeyedQueue,
    private readonly options: ResolvedEngineOptions,
    private readonly taskOwner: () => string | null,
  ) {}

  apply(request: TransitionRequest): Promise<ApplyResult> {
    const accepted = performance.now();
    return this.queue.run(request.workflowId, () => this.#apply(request)).then((result) => {
      if (result.kind === 'applied') this.#observe(request, result.built.next, accepted);
      return result;
    });
  }

  #observe(request: TransitionRequest, next: WorkflowRecord, accepted: number): void {
    const { observer } = this.options;
    observer.transitionCommitted({ machine: next.machineId, source: request.source, seconds: (performance.now() - accepted) / 1000 });
    const outcome = outcomeOfStatus(next.status);
    if (outcome) observer.workflowFinished({ machine: next.machineId, outcome });
  }

  async #apply(request: TransitionRequest): Promise<ApplyResult> {
    const id = request.workflowId;
    let instance = this.cache.get(id);
    const fromCache = instance !== undefined;
    instance ??= await this.load(id);
    let built: BuiltTransition;
    try {
      built = buildTransition(instance, request, this.#env());
    } catch (error) {
      if (!fromCache || error instanceof LimitExceededError) return this.#refuse(request, error);
      // The cache may be behind another replica: judge against the stored version.
      this.cache.delete(id);
      instance = await this.load(id);
      try {
        built = buildTransition(instance, request, this.#env());
      } catch (again) {
        return this.#refuse(request, again);
      }
    }
    const outcome = await this.store.commitTransition(built.commit);
    if (outcome.kind !== 'conflict') return this.#settle(request, built, outcome);
    this.options.observer.conflict();
    this.cache.delete(id);
    for (let attempt = 1; attempt <= LOCKED_ATTEMPTS; attempt++) {
      let lockedBuild: BuiltTransition | undefined;
      let refusal: unknown;
      const locked = await this.store.commitLocked(id, (record) => {
        if (!record) {
          refusal = new WorkflowNotFoundError(id);
          return undefined;
        }
        try {
          lockedBuild = buildTransition(this.#instance(record), request, this.#env());
          return lockedBuild.commit;
        } catch (error) {
          refusal = error;
          return undefined;
        }
      });
      if (refusal !== undefined) return this.#refuse(request, refusal);
      if (locked && lockedBuild && locked.kind !== 'conflict') return this.#settle(request, lockedBuild, locked);
    }
    throw new VersionConflictError(`workflow ${id} kept changing under this request; try again`, { workflowId: id });
  }

  async #settle(request: TransitionRequest, built: BuiltTransition, outcome: CommitOutcome): Promise<ApplyResult> {
    if (outcome.kind === 'committed') {
      this.cache.set(request.workflowId, { record: built.next, machine: this.#machine(built.next), snapshot: built.snapshot });
      return { kind: 'applied', built, cancelledTasks: outcome.cancelledTasks };
    }
    this.cache.delete(request.workflowId);
    if (outcome.kind === 'duplicate') {
      const original = await this.store.findHistoryByEventId(request.workflowId, request.eventId!);
      if (original) return { kind: 'duplicate', original };
    }
    return { kind: 'stale' };
  }

  /** A refused input: the original transition when its event id was applied before, else the error. */
  async #refuse(request: TransitionRequest, error: unknown): Promise<ApplyResult> {
    if (request.eventId !== null && error instanceof EngineError && !(error instanceof WorkflowNotFoundError)) {
      const original = await this.store.findHistoryByEventId(request.workflowId, request.eventId);
      if (original) return { kind: 'duplicate', original };
    }
    throw error;
  }

  /** The stored instance (cache entry refreshed); throws WorkflowNotFoundError. */
  async load(id: string): Promise<WorkflowInstance> {
    const record = await this.store.loadWorkflow(id);
    if (!record) throw new WorkflowNotFoundError(id);
    const instance = this.#instance(record);
    this.cache.set(id, instance);
    return instance;
  }

  #instance(record: WorkflowRecord): WorkflowInstance {
    return { record, machine: this.#machine(record), snapshot: undefined };
  }

  #machine(record: WorkflowRecord) {
    const machine = this.registry.find(record.machineId, record.machineVersion);
    if (!machine) throw new MachineDefinitionError(`machine ${record.machineId}@${record.machineVersion} of workflow ${record.id} is not loaded`);
    if (machine.hash !== record.machineHash) {
      throw new MachineDefinitionError(`machine ${record.machineId}@${record.machineVersion} changed since workflow ${record.id} started (definition hash differs)`);
    }
    return machine;
  }

  #env() {
    return { now: this.options.clock.now(), limits: this.options.limits, taskOwner: this.taskOwner(), taskLeaseMs: this.options.taskLeaseMs };
  }
}
