import type { AnyMachineSnapshot } from 'xstate';
import type { EngineLimits } from './engine-options.js';
import { EngineError, EventNotAcceptedError, InvalidInputError, LimitExceededError, MachineDefinitionError, VersionConflictError, WorkflowFinishedError } from './errors.js';
import type { JsonObject, JsonValue } from './json.js';
import { jsonBytes, jsonProblem } from './json.js';
import { validateJsonSchema } from './json-schema.js';
import { canAccept, errorJson, nextStep, restoreSnapshot, statePaths } from './machine-runtime.js';
import type { MachineStep } from './machine-runtime.js';
import { effectRecords } from './effect-records.js';
import type { CommitEffects, Consume, TaskRecord, TimerRecord, TransitionCommit, WorkflowRecord } from './ports/workflow-store.js';
import { acceptedEvents, nextTasks, nextTimers } from './workflow-instance.js';
import type { WorkflowInstance } from './workflow-instance.js';
import { FINAL_STATUSES } from './workflow-types.js';

/** An event as the machine receives it. */
export type MachineEvent = JsonObject & { type: string };

/** One input to apply to one instance. */
export interface TransitionRequest {
  workflowId: string;
  event: MachineEvent;
  /** Dedupe key: client event id, `task:<taskId>`, `timer:<timerId>@<armedVersion>`, `cancel`. */
  eventId: string | null;
  expectedVersion?: number;
  /** client: must be accepted by the state; task/timer: engine-made; cancel: ends the instance. */
  source: 'client' | 'task' | 'timer' | 'cancel';
  consume?: Consume;
}

/** What a transition is computed against besides the instance: time, limits, task ownership. */
export interface BuildEnv {
  now: Date;
  limits: EngineLimits;
  /** When set, new tasks are committed already claimed by this owner (saves a claim round trip). */
  taskOwner: string | null;
  taskLeaseMs: number;
}

/** A transition ready to commit, and the instance as it will be after the commit. */
export interface BuiltTransition {
  commit: TransitionCommit;
  next: WorkflowRecord;
  snapshot: AnyMachineSnapshot | undefined;
  createdTasks: TaskRecord[];
  armedTimers: TimerRecord[];
  /** Commit time of the version this one follows (announced with it: see TransitionMessage.previousAt). */
  previousAt: Date;
}

/**
 * Computes the commit for `request` on `instance`, synchronously and without I/O. Throws the
 * engine error a client should see when the request cannot apply (finished, version mismatch,
 * not accepted, invalid, too large). An engine-made event (task result, timer) that breaks the
 * machine (an exception, a context over the limit or not JSON) does not throw: it ends the
 * instance with status `error`, so a broken instance is visible instead of retried forever.
 */
export function buildTransition(instance: WorkflowInstance, request: TransitionRequest, env: BuildEnv): BuiltTransition {
  const { record } = instance;
  if (FINAL_STATUSES.has(record.status)) throw new WorkflowFinishedError(record.id, record.status);
  if (request.expectedVersion !== undefined && request.expectedVersion !== record.version) {
    throw new VersionConflictError(`workflow ${record.id} is at version ${record.version}, not ${request.expectedVersion}`, {
      workflowId: record.id,
      expectedVersion: request.expectedVersion,
      actualVersion: record.version,
    });
  }
  if (request.source === 'cancel') return ending(instance, request, env, 'cancelled', { code: 'cancelled', reason: request.event.reason ?? '' });
  instance.snapshot ??= restoreSnapshot(instance.machine.machine, record.snapshot);
  if (request.source === 'client') checkPayload(instance, request.event);
  if (request.source === 'client' && !canAccept(instance.snapshot, request.event)) {
    throw new EventNotAcceptedError(request.event.type, record.state, acceptedEvents(instance.machine, record.status, record.state));
  }
  let step: MachineStep;
  try {
    step = takePrepared(instance, request.event) ?? checkedStep(instance, instance.snapshot, request.event, env.limits);
  } catch (error) {
    if (request.source === 'client') throw asClientError(error, request.event.type);
    return ending(instance, request, env, 'error', { code: error instanceof EngineError ? error.code : 'internal', ...(errorJson(error) as JsonObject) });
  }
  return fromStep(instance, request, env, step);
}

/**
 * Computes, ahead of its due time, the step a held timer's `event` will cause from `instance`,
 * and keeps it on the instance for `buildTransition`. Machines are pure (a transition is a
 * function of the snapshot and the event), so the step is the one the firing would compute;
 * what depends on the moment (the transition's time, the due times of the timers it arms, the
 * leases of the tasks it creates) is still stamped when it fires. An instance holds one
 * prepared step; a step the machine rejects is left for the firing to compute and report.
 */
export function prepareStep(instance: WorkflowInstance, event: MachineEvent, limits: EngineLimits): void {
  if (instance.prepared || FINAL_STATUSES.has(instance.record.status)) return;
  try {
    instance.snapshot ??= restoreSnapshot(instance.machine.machine, instance.record.snapshot);
    instance.prepared = { event, step: checkedStep(instance, instance.snapshot, event, limits) };
  } catch {
    // Computed again, and reported, when the timer fires.
  }
}

function takePrepared(instance: WorkflowInstance, event: MachineEvent): MachineStep | undefined {
  const prepared = instance.prepared;
  if (prepared?.event !== event) return undefined;
  instance.prepared = undefined;
  return prepared.step;
}

function checkedStep(instance: WorkflowInstance, snapshot: AnyMachineSnapshot, event: MachineEvent, limits: EngineLimits): MachineStep {
  const step = nextStep(instance.machine.machine, snapshot, event, instance.record.version + 1);
  checkContext(step, limits);
  return step;
}

function fromStep(instance: WorkflowInstance, request: TransitionRequest, env: BuildEnv, step: MachineStep): BuiltTransition {
  const { record } = instance;
  const version = record.version + 1;
  const final = step.status !== 'active';
  const { armedTimers, createdTasks, timersArmed, tasksCreated } = effectRecords(step, {
    workflowId: record.id,
    version,
    now: env.now,
    taskOwner: env.taskOwner,
    taskLeaseMs: env.taskLeaseMs,
  });
  const effects: CommitEffects = {
    timersCancelled: step.effects.timersCancelled,
    timersArmed,
    tasksCancelled: step.effects.tasksCancelled,
    clearAll: final,
    tasksCreated,
  };
  const state = step.snapshot.value as JsonValue;
  const commit = baseCommit(instance, request, env, { status: step.status, state, snapshot: step.persisted, output: step.output ?? null, error: step.error ?? null, effects });
  const stopped = new Set(record.tasks.filter((t) => final || step.effects.tasksCancelled.includes(t.actorId)).map((t) => t.taskId));
  if (request.consume?.kind === 'task') stopped.add(request.consume.taskId);
  const cancelledTimers = new Set(step.effects.timersCancelled);
  if (request.consume?.kind === 'timer') cancelledTimers.add(request.consume.timerId);
  const next: WorkflowRecord = {
    ...record,
    status: step.status,
    state,
    snapshot: step.persisted,
    output: commit.output,
    error: commit.error,
    version,
    updatedAt: env.now,
    timers: nextTimers(record.timers, cancelledTimers, armedTimers, final),
    tasks: nextTasks(record.tasks, stopped, createdTasks),
  };
  return { commit, next, snapshot: step.snapshot, createdTasks, armedTimers, previousAt: record.updatedAt };
}

/** Cancel, or an engine-made event that broke the machine: the instance ends where it is. */
function ending(instance: WorkflowInstance, request: TransitionRequest, env: BuildEnv, status: 'cancelled' | 'error', error: JsonValue): BuiltTransition {
  const { record } = instance;
  const effects: CommitEffects = { timersCancelled: [], timersArmed: [], tasksCancelled: [], clearAll: true, tasksCreated: [] };
  // The snapshot says it ended too (history views read status and error from it); it is
  // never restored again, since nothing applies to a finished instance.
  const snapshot = { ...record.snapshot, status: status === 'cancelled' ? 'stopped' : 'error', error };
  const commit = baseCommit(instance, request, env, { status, state: record.state, snapshot, output: null, error, effects });
  const next: WorkflowRecord = { ...record, status, snapshot, error, version: record.version + 1, updatedAt: env.now, timers: [], tasks: [] };
  return { commit, next, snapshot: instance.snapshot, createdTasks: [], armedTimers: [], previousAt: record.updatedAt };
}

function baseCommit(
  instance: WorkflowInstance,
  request: TransitionRequest,
  env: BuildEnv,
  to: Pick<TransitionCommit, 'status' | 'state' | 'snapshot' | 'output' | 'error' | 'effects'>,
): TransitionCommit {
  const commit: TransitionCommit = {
    workflowId: instance.record.id,
    expectedVersion: instance.record.version,
    ...to,
    statePaths: statePaths(to.state),
    at: env.now,
    eventType: request.event.type,
    event: request.event,
    eventId: request.eventId,
    fromState: instance.record.state,
  };
  if (request.consume) commit.consume = request.consume;
  return commit;
}

/** The payload against the machine's schema for this event type, if it declares one. */
function checkPayload(instance: WorkflowInstance, event: MachineEvent): void {
  const schema = instance.machine.definition.eventSchemas?.[event.type];
  if (!schema) return;
  const { type: _type, ...payload } = event;
  const violations = validateJsonSchema(schema, payload, 'event.payload');
  if (violations.length) throw new InvalidInputError(`event '${event.type}' is invalid: ${violations.map((v) => `${v.field} ${v.description}`).join('; ')}`, violations);
}

function checkContext(step: MachineStep, limits: EngineLimits): void {
  const context = step.persisted.context;
  const problem = jsonProblem(context, 'context');
  if (problem) throw new MachineDefinitionError(`the machine put a value into its context that does not survive JSON: ${problem}`);
  const bytes = jsonBytes(step.persisted);
  if (bytes > limits.maxContextBytes) throw new LimitExceededError('the workflow snapshot after this event', bytes, limits.maxContextBytes);
}

/** An exception from a client event's transition: the request's fault unless it is an engine error. */
function asClientError(error: unknown, eventType: string): EngineError {
  if (error instanceof EngineError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new InvalidInputError(`event '${eventType}' failed in the machine: ${message}`, [{ field: 'event', description: message }]);
}
