import { sql } from 'kysely';
import type { RawBuilder } from 'kysely';
import type { JsonObject, JsonValue } from '../engine/json.js';
import type { HistoryRecord, TaskRecord, TimerRecord, WorkflowRecord } from '../engine/ports/workflow-store.js';
import type { WorkflowStatus } from '../engine/workflow-types.js';

/** JSON text for a jsonb parameter (null stays SQL null). */
export function json(value: unknown): string {
  return JSON.stringify(value ?? null);
}

export function jsonOrNull(value: unknown): string | null {
  return value === null || value === undefined ? null : JSON.stringify(value);
}

/**
 * A workflows row (alias `w`) plus its timers and open tasks, aggregated in the same
 * statement so loading an instance is one round trip.
 */
export const workflowColumns: RawBuilder<unknown> = sql`w.*,
  coalesce((select json_agg(json_build_object('timerId', t.timer_id, 'armedVersion', t.armed_version,
      'event', t.event, 'dueAt', t.due_at) order by t.due_at, t.timer_id)
    from workflow_timers t where t.workflow_id = w.id), '[]'::json) as timers,
  coalesce((select json_agg(json_build_object('taskId', k.task_id, 'actorId', k.actor_id, 'src', k.src,
      'input', k.input, 'status', k.status, 'attempts', k.attempts, 'leaseOwner', k.lease_owner,
      'leaseUntil', k.lease_until) order by k.created_at, k.task_id)
    from workflow_tasks k where k.workflow_id = w.id and k.status in ('pending', 'running', 'waiting')), '[]'::json) as tasks`;

export interface WorkflowRow {
  id: string;
  machine_id: string;
  machine_version: number;
  machine_hash: string;
  status: string;
  state: unknown;
  snapshot: unknown;
  input: unknown;
  input_hash: string;
  start_request_id: string | null;
  output: unknown;
  error: unknown;
  version: number;
  created_at: Date;
  updated_at: Date;
  parent_workflow_id: string | null;
  parent_task_id: string | null;
  timers: { timerId: string; armedVersion: number; event: unknown; dueAt: string }[];
  tasks: (Omit<TaskRecord, 'workflowId' | 'leaseUntil' | 'input'> & { input: unknown; leaseUntil: string | null })[];
}

export function toWorkflowRecord(row: WorkflowRow): WorkflowRecord {
  return {
    id: row.id,
    machineId: row.machine_id,
    machineVersion: row.machine_version,
    machineHash: row.machine_hash,
    status: row.status as WorkflowStatus,
    state: row.state as JsonValue,
    snapshot: row.snapshot as JsonObject,
    input: row.input as JsonObject,
    inputHash: row.input_hash,
    startRequestId: row.start_request_id,
    output: (row.output ?? null) as JsonValue | null,
    error: (row.error ?? null) as JsonValue | null,
    version: row.version,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    timers: row.timers.map((t) => ({ workflowId: row.id, timerId: t.timerId, armedVersion: t.armedVersion, event: t.event as JsonObject, dueAt: new Date(t.dueAt) })),
    tasks: row.tasks.map((t) => ({ ...t, workflowId: row.id, input: t.input as JsonValue, leaseUntil: t.leaseUntil === null ? null : new Date(t.leaseUntil) })),
    ...(row.parent_workflow_id !== null && row.parent_task_id !== null ? { parent: { workflowId: row.parent_workflow_id, taskId: row.parent_task_id } } : {}),
  };
}

export interface HistoryRow {
  workflow_id: string;
  version: number;
  event_type: string;
  event: unknown;
  event_id: string | null;
  from_state: unknown;
  to_state: unknown;
  status: string;
  snapshot: unknown;
  at: Date;
}

export function toHistoryRecord(row: HistoryRow): HistoryRecord {
  return {
    workflowId: row.workflow_id,
    version: row.version,
    eventType: row.event_type,
    event: row.event as JsonObject,
    eventId: row.event_id,
    fromState: (row.from_state ?? null) as JsonValue | null,
    toState: row.to_state as JsonValue,
    status: row.status as WorkflowStatus,
    snapshot: row.snapshot as JsonObject,
    at: row.at,
  };
}

export interface TimerRow {
  workflow_id: string;
  timer_id: string;
  armed_version: number;
  event: unknown;
  due_at: Date;
}

export function toTimerRecord(row: TimerRow): TimerRecord {
  return { workflowId: row.workflow_id, timerId: row.timer_id, armedVersion: row.armed_version, event: row.event as JsonObject, dueAt: row.due_at };
}

export interface TaskRow {
  workflow_id: string;
  task_id: string;
  actor_id: string;
  src: string;
  input: unknown;
  status: string;
  attempts: number;
  lease_owner: string | null;
  lease_until: Date | null;
  created_at?: Date;
}

export function toTaskRecord(row: TaskRow): TaskRecord {
  return {
    workflowId: row.workflow_id,
    taskId: row.task_id,
    actorId: row.actor_id,
    src: row.src,
    input: row.input as JsonValue,
    status: row.status as TaskRecord['status'],
    attempts: row.attempts,
    leaseOwner: row.lease_owner,
    leaseUntil: row.lease_until,
    ...(row.created_at ? { createdAt: row.created_at } : {}),
  };
}
