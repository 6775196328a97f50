import type { MachineStep } from './machine-runtime.js';
import type { CommitEffects, TaskRecord, TimerRecord } from './ports/workflow-store.js';

export interface EffectRecords {
  /** Timer rows the step arms (none when it ends the workflow). */
  armedTimers: TimerRecord[];
  /** Task rows the step creates, leased to `taskOwner` when there is one. */
  createdTasks: TaskRecord[];
  /** The same, as the store's commit wants them. */
  timersArmed: CommitEffects['timersArmed'];
  tasksCreated: CommitEffects['tasksCreated'];
}

/**
 * The timer and task rows a step asks for, at `version` of `workflowId`: one place for the start
 * (version 1) and every later transition. Due times are absolute (`now` + delay) so any replica
 * can fire them; a task id names its invocation (`<actorId>@<version>`), so re-entering a state
 * makes a new task with a new idempotency key.
 */
export function effectRecords(
  step: MachineStep,
  at: { workflowId: string; version: number; now: Date; taskOwner: string | null; taskLeaseMs: number },
): EffectRecords {
  if (step.status !== 'active') return { armedTimers: [], createdTasks: [], timersArmed: [], tasksCreated: [] };
  const { workflowId, version, now, taskOwner } = at;
  const leaseUntil = taskOwner === null ? null : new Date(now.getTime() + at.taskLeaseMs);
  const armedTimers: TimerRecord[] = step.effects.timersArmed.map((t) => ({
    workflowId,
    timerId: t.timerId,
    armedVersion: version,
    event: t.event,
    dueAt: new Date(now.getTime() + t.delayMs),
  }));
  const createdTasks: TaskRecord[] = step.effects.tasksSpawned.map((t) => ({
    workflowId,
    taskId: `${t.actorId}@${version}`,
    actorId: t.actorId,
    src: t.src,
    input: t.input,
    status: taskOwner === null ? 'pending' : 'running',
    attempts: taskOwner === null ? 0 : 1,
    leaseOwner: taskOwner,
    leaseUntil,
    createdAt: now,
  }));
  return {
    armedTimers,
    createdTasks,
    timersArmed: armedTimers.map((t) => ({ timerId: t.timerId, event: t.event, dueAt: t.dueAt })),
    tasksCreated: createdTasks.map((t) => ({ taskId: t.taskId, actorId: t.actorId, src: t.src, input: t.input, leaseOwner: t.leaseOwner, leaseUntil: t.leaseUntil })),
  };
}
