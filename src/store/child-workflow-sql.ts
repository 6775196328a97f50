import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import type { JsonValue } from '../engine/json.js';
import type { ChildRecord } from '../engine/ports/workflow-store.js';
import type { WorkflowStatus } from '../engine/workflow-types.js';
import type { StoreSchema } from './schema.js';

type Db = Kysely<StoreSchema>;

/**
 * The store's side of child workflows (engine/child-workflows.ts). A child row carries its parent
 * task; the parent's task row is `waiting` while the child runs. These statements find what a
 * crash may have left undone: finished children not yet reported, open children of closed tasks.
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

interface ChildRow {
  id: string;
  status: string;
  output: unknown;
  error: unknown;
  parent_workflow_id: string;
  parent_task_id: string;
}

/** Finished children whose parent task is still `waiting` (walks the waiting tasks' index). */
export async function listUnreportedChildren(db: Db, limit: number): Promise<ChildRecord[]> {
  const { rows } = await sql<ChildRow>`select c.id, c.status, c.output, c.error, c.parent_workflow_id, c.parent_task_id
    from workflow_tasks t
    join workflows c on c.parent_workflow_id = t.workflow_id and c.parent_task_id = t.task_id
    where t.status = 'waiting' and c.status <> 'active'
    limit ${limit}`.execute(db);
  return rows.map((r) => ({
    id: r.id,
    status: r.status as WorkflowStatus,
    output: (r.output ?? null) as JsonValue | null,
    error: (r.error ?? null) as JsonValue | null,
    parent: { workflowId: r.parent_workflow_id, taskId: r.parent_task_id },
  }));
}

/** Active children whose parent task is not open (cancelled, finished, or gone). */
export async function listOrphanedChildren(db: Db, limit: number, parent?: { workflowId: string; taskIds: string[] }): Promise<string[]> {
  const scope = parent ? sql`and c.parent_workflow_id = ${parent.workflowId} and c.parent_task_id = any(${parent.taskIds}::text[])` : sql``;
  const { rows } = await sql<{ id: string }>`select c.id from workflows c
    where c.parent_workflow_id is not null and c.status = 'active' ${scope}
      and not exists (select 1 from workflow_tasks t where t.workflow_id = c.parent_workflow_id
        and t.task_id = c.parent_task_id and t.status in ('pending', 'running', 'waiting'))
    order by c.id limit ${limit}`.execute(db);
  return rows.map((r) => r.id);
}
