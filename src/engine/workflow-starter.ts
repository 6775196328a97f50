import { createHash, randomUUID } from 'node:crypto';
import type { AnyMachineSnapshot } from 'xstate';
import type { ResolvedEngineOptions } from './engine-options.js';
import { DuplicateWorkflowError, InvalidInputError, LimitExceededError, MachineDefinitionError } from './errors.js';
import type { JsonObject, JsonValue } from './json.js';
import { jsonBytes, jsonProblem, stableStringify } from './json.js';
import { validateJsonSchema } from './json-schema.js';
import type { MachineRegistry } from './machine-registry.js';
import { effectRecords } from './effect-records.js';
import { initialStep, statePaths } from './machine-runtime.js';
import type { NewWorkflow, ParentLink, TaskRecord, TimerRecord, WorkflowRecord, WorkflowStore } from './ports/workflow-store.js';
import { checkId, checkJsonObject, checkKey, checkPositiveInt } from './request-checks.js';
import type { InstanceCache } from './instance-cache.js';
import { outcomeOfStatus, type EngineObserver } from './ports/engine-observer.js';

/** A start: the latest machine version unless one is named; a random id unless one is given. */
export interface StartRequest {
  machineId: string;
  machineVersion?: number;
  input: JsonObject;
  workflowId?: string;
  requestId?: string;
  /** Set by the engine for a child workflow (engine/child-workflows.ts); clients cannot set it. */
  parent?: ParentLink;
}

export type StartResult =
  | { kind: 'created'; record: WorkflowRecord; snapshot: AnyMachineSnapshot; createdTasks: TaskRecord[]; armedTimers: TimerRecord[] }
  /** The start request id was used before with the same machine and input: that instance. */
  | { kind: 'existing'; record: WorkflowRecord };

/**
 * Starts instances: checks the input against the machine's schema and the size limit, computes
 * the initial state with the pure `initialTransition()`, and inserts version 1 with its timers
 * and tasks in one statement. A start request id makes the call idempotent: the same id with
 * the same machine and input returns the first instance; with anything else it is
 * `already_exists`, as is a taken workflow id.
 */
export async function startWorkflow(
  deps: { store: WorkflowStore; registry: MachineRegistry; cache: InstanceCache; options: ResolvedEngineOptions; taskOwner: string | null },
  req: StartRequest,
): Promise<StartResult> {
  const { options } = deps;
  const accepted = performance.now();
  if (req.machineVersion !== undefined && req.machineVersion !== 0) checkPositiveInt('machine_version', req.machineVersion);
  const machine = deps.registry.get(req.machineId, req.machineVersion || undefined);
  checkJsonObject('input', req.input, options.limits.maxInputBytes);
  const violations = validateJsonSchema(machine.definition.inputSchema, req.input, 'input');
  if (violations.length) throw new InvalidInputError(`invalid input: ${violations.map((v) => `${v.field} ${v.description}`).join('; ')}`, violations);
  if (req.workflowId) checkId('workflow_id', req.workflowId);
  if (req.requestId) checkKey('request_id', req.requestId);
  const id = req.workflowId || randomUUID();
  const inputHash = createHash('sha256').update(stableStringify({ machineId: req.machineId, input: req.input })).digest('hex');

  const step = initialStep(machine.machine, req.input, 1);
  if (step.status === 'error') {
    const message = (step.error as { message?: string } | null)?.message ?? 'unknown error';
    throw new InvalidInputError(`machine ${machine.info.id} rejected the input: ${message}`, [{ field: 'input', description: message }]);
  }
  const problem = jsonProblem(step.persisted.context, 'context');
  if (problem) throw new MachineDefinitionError(`machine ${machine.info.id} put a value into its context that does not survive JSON: ${problem}`);
  const bytes = jsonBytes(step.persisted);
  if (bytes > options.limits.maxContextBytes) throw new LimitExceededError('the initial workflow snapshot', bytes, options.limits.maxContextBytes);

  const now = options.clock.now();
  const { armedTimers, createdTasks, timersArmed, tasksCreated } = effectRecords(step, {
    workflowId: id,
    version: 1,
    now,
    taskOwner: deps.taskOwner,
    taskLeaseMs: options.taskLeaseMs,
  });
  const state = step.snapshot.value as JsonValue;
  const workflow: NewWorkflow = {
    id,
    machineId: machine.info.id,
    machineVersion: machine.info.version,
    machineHash: machine.hash,
    status: step.status,
    state,
    statePaths: statePaths(state),
    snapshot: step.persisted,
    input: req.input,
    inputHash,
    startRequestId: req.requestId || null,
    output: step.output ?? null,
    error: step.error ?? null,
    at: now,
    effects: {
      timersCancelled: [],
      timersArmed,
      tasksCancelled: [],
      clearAll: false,
      tasksCreated,
    },
    ...(req.parent ? { parent: req.parent } : {}),
  };
  const inserted = await deps.store.insertWorkflow(workflow);
  if (!inserted.inserted) {
    const existing = inserted.existing;
    if (existing && req.requestId && existing.startRequestId === req.requestId) {
      if (existing.inputHash === inputHash) return { kind: 'existing', record: existing };
      throw new DuplicateWorkflowError(`start request ${req.requestId} was already used with a different machine or input`, { requestId: req.requestId, workflowId: existing.id });
    }
    throw new DuplicateWorkflowError(`workflow ${id} already exists`, { workflowId: id });
  }
  const { effects: _effects, statePaths: _paths, at: _at, ...rest } = workflow;
  const record: WorkflowRecord = { ...rest, version: 1, createdAt: now, updatedAt: now, timers: armedTimers, tasks: createdTasks };
  deps.cache.set(id, { record, machine, snapshot: step.snapshot });
  observeStart(options.observer, record, accepted);
  return { kind: 'created', record, snapshot: step.snapshot, createdTasks, armedTimers };
}

function observeStart(observer: EngineObserver, record: WorkflowRecord, accepted: number): void {
  const machine = record.machineId;
  observer.workflowStarted({ machine });
  observer.transitionCommitted({ machine, source: 'start', seconds: (performance.now() - accepted) / 1000 });
  // A machine can be final in its initial state.
  const outcome = outcomeOfStatus(record.status);
  if (outcome) observer.workflowFinished({ machine, outcome });
}
