import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import type { JsonValue } from '../engine/json.js';
import type { ChildRecord, ParentLink } from '../engine/ports/workflow-store.js';
import type { WorkflowStatus } from '../engine/workflow-types.js';
import { prepared } from './prepared-statements.js';
import type { StoreSchema } from './schema.js';

type Db = Kysely<StoreSchema>;

/**
 * The store's side of child workflows (engine/child-workflows.ts). A child row carries its parent
 * task; the parent's task row is `waiting` while the child runs. The scans look for what a crash
 * may have left undone (finished children not reported, open children of closed tasks) a batch at
 * a time along an index, so a sweep costs the same however many children run for days. The scans
 * run at every task poll (every second by default) on every replica, busy or not: they go out
 * prepared (planning them cost 0.5-0.8 ms each, more than running them on a quiet store).
 */

/** running under `owner` -> waiting, lease dropped; false when the task is not ours any more. */
export async function parkTask(db: Db, workflowId: string, taskId: string, owner: string, at: Date): Promise<boolean> {
  const result = await db
    .updateTable('workflow_tasks')
    .set({ status: 'waiting', lease_owner: null, lease_until: null, updated_at: at })
    .where('workflow_id', '=', workflowId)
    .where('task_id', '=', taskId)
    .where('status', '=', 'running')
    .where('lease_owner', '=', owner)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

interface WaitingRow {
  workflow_id: string;
  task_id: string;
  child_id: string | null;
  status: string | null;
  output: unknown;
  error: unknown;
}

export async function scanWaitingTasks(db: Db, after: ParentLink | null, limit: number): Promise<{ finished: ChildRecord[]; next: ParentLink | null }> {
  const from = after ? sql`and (workflow_id, task_id) > (${after.workflowId}, ${after.taskId})` : sql``;
  const { rows } = await prepared(sql<WaitingRow>`with batch as (
      select workflow_id, task_id from workflow_tasks where status = 'waiting' ${from}
      order by workflow_id, task_id limit ${limit})
    select b.workflow_id, b.task_id, c.id as child_id, c.status, c.output, c.error
    from batch b left join workflows c on c.parent_workflow_id = b.workflow_id and c.parent_task_id = b.task_id
    order by b.workflow_id, b.task_id`).execute(db);
  const finished = rows
    .filter((r) => r.child_id !== null && r.status !== 'active')
    .map((r) => ({
      id: r.child_id!,
      status: r.status as WorkflowStatus,
      output: (r.output ?? null) as JsonValue | null,
      error: (r.error ?? null) as JsonValue | null,
      parent: { workflowId: r.workflow_id, taskId: r.task_id },
    }));
  const last = rows.at(-1);
  return { finished, next: rows.length >= limit && last ? { workflowId: last.workflow_id, taskId: last.task_id } : null };
}

export async function scanActiveChildren(db: Db, after: string | null, limit: number): Promise<{ orphans: string[]; next: string | null }> {
  const from = after === null ? sql`` : sql`and id > ${after}`;
  const { rows } = await prepared(sql<{ id: string; open: boolean }>`with batch as (
      select id, parent_workflow_id, parent_task_id from workflows
      where parent_workflow_id is not null and status = 'active' ${from} order by id limit ${limit})
    select b.id, exists (select 1 from workflow_tasks t where t.workflow_id = b.parent_workflow_id
        and t.task_id = b.parent_task_id and t.status in ('pending', 'running', 'waiting')) as open
    from batch b order by b.id`).execute(db);
  const last = rows.at(-1);
  return { orphans: rows.filter((r) => !r.open).map((r) => r.id), next: rows.length >= limit && last ? last.id : null };
}

export async function listChildrenOfTasks(db: Db, parent: { workflowId: string; taskIds: string[] }, limit: number): Promise<string[]> {
  const rows = await db
    .selectFrom('workflows')
    .select('id')
    .where('parent_workflow_id', '=', parent.workflowId)
    .where('parent_task_id', 'in', parent.taskIds)
    .where('status', '=', 'active')
    .orderBy('id')
    .limit(limit)
    .execute();
  return rows.map((r) => r.id);
}
