import { sql } from 'kysely';
import type { Kysely, Migration } from 'kysely';

/**
 * The workflow tables (see ../schema.ts). Plain SQL, one statement per call: PGlite runs
 * parameterless statements through the extended protocol, which takes one at a time.
 */
const statements = [
  `create table workflows (
    id text primary key,
    machine_id text not null,
    machine_version integer not null,
    machine_hash text not null,
    status text not null check (status in ('active', 'done', 'error', 'cancelled')),
    state jsonb not null,
    state_paths text[] not null,
    snapshot jsonb not null,
    input jsonb not null,
    input_hash text not null,
    start_request_id text unique,
    output jsonb,
    error jsonb,
    version integer not null,
    created_at timestamptz not null,
    updated_at timestamptz not null
  )`,
  // Listing pages newest first by (created_at, id), with or without a filter.
  `create index workflows_created_idx on workflows (created_at desc, id desc)`,
  `create index workflows_machine_created_idx on workflows (machine_id, created_at desc, id desc)`,
  `create index workflows_status_created_idx on workflows (status, created_at desc, id desc)`,
  `create index workflows_state_paths_idx on workflows using gin (state_paths)`,
  // Start-up checks the definition hash of every machine version with live instances.
  `create index workflows_live_machines_idx on workflows (machine_id, machine_version, machine_hash) where status = 'active'`,
  `create table workflow_history (
    workflow_id text not null references workflows (id) on delete cascade,
    version integer not null,
    event_type text not null,
    event jsonb not null,
    event_id text,
    from_state jsonb,
    to_state jsonb not null,
    status text not null,
    snapshot jsonb not null,
    at timestamptz not null,
    primary key (workflow_id, version),
    constraint workflow_history_event_id_key unique (workflow_id, event_id)
  )`,
  `create table workflow_timers (
    workflow_id text not null references workflows (id) on delete cascade,
    timer_id text not null,
    armed_version integer not null,
    event jsonb not null,
    due_at timestamptz not null,
    lease_owner text,
    lease_until timestamptz,
    primary key (workflow_id, timer_id)
  )`,
  `create index workflow_timers_due_idx on workflow_timers (due_at)`,
  `create table workflow_tasks (
    workflow_id text not null references workflows (id) on delete cascade,
    task_id text not null,
    actor_id text not null,
    src text not null,
    input jsonb not null,
    status text not null check (status in ('pending', 'running', 'done', 'failed', 'cancelled')),
    attempts integer not null default 0,
    lease_owner text,
    lease_until timestamptz,
    result jsonb,
    error jsonb,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    primary key (workflow_id, task_id)
  )`,
  // Claiming: pending tasks, and running ones whose lease ran out.
  `create index workflow_tasks_open_idx on workflow_tasks (lease_until nulls first) where status in ('pending', 'running')`,
  `create index workflow_tasks_open_actor_idx on workflow_tasks (workflow_id, actor_id) where status in ('pending', 'running')`,
];

export const workflowsMigration: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    for (const statement of statements) await sql.raw(statement).execute(db);
  },
  async down(db: Kysely<any>): Promise<void> {
    for (const table of ['workflow_tasks', 'workflow_timers', 'workflow_history', 'workflows']) {
      await sql.raw(`drop table if exists ${table}`).execute(db);
    }
  },
};
