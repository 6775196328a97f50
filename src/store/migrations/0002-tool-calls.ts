import { sql } from 'kysely';
import type { Kysely, Migration } from 'kysely';

/**
 * The call journal (see ../schema.ts `ToolCallsTable`): every attempt of every tool task, written
 * by the task runner as each attempt ends. Rows go with their workflow (on delete cascade).
 */
const statements = [
  `create table tool_calls (
    id bigserial primary key,
    workflow_id text not null references workflows (id) on delete cascade,
    task_id text not null,
    src text not null,
    claim integer not null,
    attempt integer not null,
    owner text not null,
    started_at timestamptz not null,
    ended_at timestamptz not null,
    latency_ms integer not null,
    outcome text not null check (outcome in ('ok', 'error')),
    error_kind text,
    status integer
  )`,
  `create index tool_calls_workflow_idx on tool_calls (workflow_id, started_at, id)`,
];

export const toolCallsMigration: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    for (const statement of statements) await sql.raw(statement).execute(db);
  },
  async down(db: Kysely<any>): Promise<void> {
    await sql.raw('drop table if exists tool_calls').execute(db);
  },
};
