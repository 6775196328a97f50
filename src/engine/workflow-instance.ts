import type { AnyMachineSnapshot } from 'xstate';
import type { JsonObject, JsonValue } from './json.js';
import type { RegisteredMachine } from './machine-registry.js';
import { statePaths } from './machine-runtime.js';
import type { MachineStep } from './machine-runtime.js';
import type { TaskRecord, TimerRecord, WorkflowRecord } from './ports/workflow-store.js';
import { FINAL_STATUSES } from './workflow-types.js';
import type { WorkflowStatus, WorkflowView } from './workflow-types.js';

/**
 * An instance as the engine holds it between transitions: the store's record plus the
 * restored snapshot (restoring from JSON costs ~10x a transition, so it is cached). Valid
 * only for `version`; any write by another replica makes it stale, which the next commit's
 * version guard detects.
 */
export interface WorkflowInstance {
  readonly record: WorkflowRecord;
  readonly machine: RegisteredMachine;
  /** Restored lazily: reads do not need it. */
  snapshot: AnyMachineSnapshot | undefined;
  /**
   * The step one engine-made event (a held timer's) causes from this very instance, computed
   * before the event is due (see `prepareStep`). A commit replaces the instance object, so a
   * prepared step never outlives the snapshot it was computed from.
   */
  prepared?: PreparedStep;
}

/** A machine step computed ahead for `event` (matched by identity: the claimed timer's own event object). */
export interface PreparedStep {
  event: JsonObject;
  step: MachineStep;
}

/** The view of an instance's current version. */
export function toView(record: WorkflowRecord, machine: RegisteredMachine | undefined): WorkflowView {
  const view: WorkflowView = {
    id: record.id,
    machineId: record.machineId,
    machineVersion: record.machineVersion,
    status: record.status,
    state: record.state,
    context: contextOf(record.snapshot),
    version: record.version,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    timers: record.timers.map((t) => ({ id: t.timerId, dueAt: t.dueAt })),
    tasks: record.tasks.map((t) => ({ id: t.taskId, actorId: t.actorId, src: t.src, status: t.status, attempts: t.attempts })),
    acceptedEvents: acceptedEvents(machine, record.status, record.state),
  };
  if (record.output !== null) view.output = record.output;
  if (record.error !== null) view.error = record.error;
  if (record.parent) view.parentWorkflowId = record.parent.workflowId;
  return view;
}

export function contextOf(snapshot: JsonObject): JsonObject {
  const context = snapshot.context;
  return typeof context === 'object' && context !== null && !Array.isArray(context) ? context : {};
}

/** Client event types with a transition from `state` (guards not evaluated); none once final. */
export function acceptedEvents(machine: RegisteredMachine | undefined, status: WorkflowStatus, state: JsonValue): string[] {
  if (!machine || FINAL_STATUSES.has(status)) return [];
  const events = new Set<string>();
  for (const path of statePaths(state)) for (const e of machine.info.stateEvents[path] ?? []) events.add(e);
  return [...events].sort();
}

/** Open tasks after a commit: cancelled and consumed ones removed, created ones added. */
export function nextTasks(tasks: TaskRecord[], removed: ReadonlySet<string>, created: TaskRecord[]): TaskRecord[] {
  return [...tasks.filter((t) => !removed.has(t.taskId)), ...created];
}

/** Armed timers after a commit: cancelled (and re-armed) ids replaced. */
export function nextTimers(timers: TimerRecord[], cancelled: ReadonlySet<string>, armed: TimerRecord[], clearAll: boolean): TimerRecord[] {
  if (clearAll) return [];
  return [...timers.filter((t) => !cancelled.has(t.timerId)), ...armed].sort((a, b) => a.dueAt.getTime() - b.dueAt.getTime());
}
