import { sql } from 'kysely';
import type { Kysely, Migration } from 'kysely';

/**
 * Child workflows (`workflow.start`, see engine/child-workflows.ts) and refused tool calls:
 * - a child row names the parent task it reports to (`parent_workflow_id`, `parent_task_id`),
 *   written with the child's first version, so the link can never be missing;
 * - a task waiting for its child is `waiting`: no lease, never claimed by a poll, so a child that
 *   runs for days holds no tool slot; leaving the state cancels it like any open task;
 * - the call journal gets `refused` for calls a policy turned away before the adapter ran
 *   (circuit_open, bulkhead_full).
 * The partial indexes let the engine's sweep walk waiting tasks and active children in key order,
 * a batch at a time, and find a task's children.
 */
const statements = [
  `alter table workflows add column parent_workflow_id text, add column parent_task_id text`,
  `create index workflows_parent_idx on workflows (parent_workflow_id, parent_task_id) where parent_workflow_id is not null`,
  `create index workflows_active_children_idx on workflows (id) where parent_workflow_id is not null and status = 'active'`,
  `alter table workflow_tasks drop constraint workflow_tasks_status_check`,
  `alter table workflow_tasks add constraint workflow_tasks_status_check check (status in ('pending', 'running', 'waiting', 'done', 'failed', 'cancelled'))`,
  `create index workflow_tasks_waiting_idx on workflow_tasks (workflow_id, task_id) where status = 'waiting'`,
  `alter table tool_calls drop constraint tool_calls_outcome_check`,
  `alter table tool_calls add constraint tool_calls_outcome_check check (outcome in ('ok', 'error', 'refused'))`,
];

export const childWorkflowsMigration: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    for (const statement of statements) await sql.raw(statement).execute(db);
  },
  async down(db: Kysely<any>): Promise<void> {
    for (const statement of [
      `alter table tool_calls drop constraint tool_calls_outcome_check`,
      `alter table tool_calls add constraint tool_calls_outcome_check check (outcome in ('ok', 'error'))`,
      `drop index if exists workflow_tasks_waiting_idx`,
      `alter table workflow_tasks drop constraint workflow_tasks_status_check`,
      `alter table workflow_tasks add constraint workflow_tasks_status_check check (status in ('pending', 'running', 'done', 'failed', 'cancelled'))`,
      `alter table workflows drop column parent_task_id, drop column parent_workflow_id`,
    ]) {
      await sql.raw(statement).execute(db);
    }
  },
};
