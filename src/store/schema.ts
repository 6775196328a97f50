import type { ColumnType, Generated } from 'kysely';

/**
 * Kysely table types of the orchestrator's store. Migrations in ./migrations create exactly
 * these tables, on Postgres and PGlite alike.
 *
 * jsonb columns read as parsed JSON and are written as JSON text (`JSON.stringify`), which
 * both drivers pass through unchanged: node-postgres would turn a JS array into a Postgres
 * array literal, not JSON. Timestamps are written from the engine's clock, not `now()`, so
 * they have millisecond precision and page tokens built from them are exact.
 */
export interface StoreSchema {
  workflows: WorkflowsTable;
  workflow_history: WorkflowHistoryTable;
  workflow_timers: WorkflowTimersTable;
  workflow_tasks: WorkflowTasksTable;
  tool_calls: ToolCallsTable;
}

/** Read as parsed JSON, written as JSON text. */
type Json = ColumnType<unknown, string, string>;
type NullableJson = ColumnType<unknown, string | null, string | null>;

export interface WorkflowsTable {
  id: string;
  machine_id: string;
  machine_version: number;
  /** Definition hash of (machine_id, machine_version) when the instance started. */
  machine_hash: string;
  /** active | done | error | cancelled */
  status: string;
  /** xstate state value. */
  state: Json;
  /** Every active state path, ancestors included ('a', 'a.b'), for filtering by state. */
  state_paths: string[];
  /** xstate persisted snapshot (getPersistedSnapshot). */
  snapshot: Json;
  input: Json;
  /** sha256 of machine id and input: an idempotent start compares it. */
  input_hash: string;
  start_request_id: string | null;
  output: NullableJson;
  error: NullableJson;
  /** 1 after the initial state; +1 per transition. Every write is guarded by it. */
  version: number;
  created_at: Date;
  updated_at: Date;
  /** A child workflow (migration 0003): the parent workflow and task it reports to; null otherwise. */
  parent_workflow_id: string | null;
  parent_task_id: string | null;
}

export interface WorkflowHistoryTable {
  workflow_id: string;
  version: number;
  event_type: string;
  event: Json;
  /** Client event id, `task:<taskId>` or `timer:<timerId>@<armedVersion>`; unique per workflow. */
  event_id: string | null;
  from_state: NullableJson;
  to_state: Json;
  status: string;
  snapshot: Json;
  at: Date;
}

export interface WorkflowTimersTable {
  workflow_id: string;
  /** xstate send id, e.g. `xstate.after.5000.agent.waiting`; re-arming replaces the row. */
  timer_id: string;
  /** Instance version that armed it: part of the firing's event id. */
  armed_version: number;
  event: Json;
  due_at: Date;
  /** Replica firing it now, so two replicas do not both compute the firing. */
  lease_owner: string | null;
  lease_until: Date | null;
}

export interface WorkflowTasksTable {
  workflow_id: string;
  /** `<actorId>@<version that spawned it>`: unique per invocation. */
  task_id: string;
  actor_id: string;
  src: string;
  input: Json;
  /** pending | running | waiting (for a child workflow, no lease) | done | failed | cancelled */
  status: string;
  attempts: number;
  lease_owner: string | null;
  lease_until: Date | null;
  result: NullableJson;
  error: NullableJson;
  created_at: Date;
  updated_at: Date;
}

/** The call journal (migration 0002): one row per attempt of a tool task, append-only. */
export interface ToolCallsTable {
  id: Generated<string>;
  workflow_id: string;
  task_id: string;
  src: string;
  /** The task's claim number; attempts of a re-run after a crash have a higher one. */
  claim: number;
  attempt: number;
  owner: string;
  started_at: Date;
  ended_at: Date;
  latency_ms: number;
  /** ok | error | refused (a policy turned the call away before the adapter ran) */
  outcome: string;
  error_kind: string | null;
  status: number | null;
}
