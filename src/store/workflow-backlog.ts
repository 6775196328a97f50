import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import type { StoreSchema } from './schema.js';

/** Work waiting in the store, across all replicas (the shape telemetry's `Backlog` expects). */
export interface WorkflowBacklog {
  runningByMachine: { machine: string; count: number }[];
  timersPending: number;
  tasksPending: number;
  tasksRunning: number;
}

/**
 * Counts active instances per machine, armed timers and open tasks, for the scrape-time gauges.
 * One round trip; each count is served by a partial index (active workflows, open tasks) or is a
 * table as small as the number of armed timers. Throws on a database failure.
 */
export async function readWorkflowBacklog(db: Kysely<StoreSchema>): Promise<WorkflowBacklog> {
  const { rows } = await sql<{ kind: string; key: string; n: string }>`
    select 'workflows' as kind, machine_id as key, count(*) as n from workflows where status = 'active' group by machine_id
    union all
    select 'timers', '', count(*) from workflow_timers
    union all
    select 'tasks', status, count(*) from workflow_tasks where status in ('pending', 'running') group by status`.execute(db);
  const count = (kind: string, key: string) => Number(rows.find((r) => r.kind === kind && r.key === key)?.n ?? 0);
  return {
    runningByMachine: rows.filter((r) => r.kind === 'workflows').map((r) => ({ machine: r.key, count: Number(r.n) })),
    timersPending: count('timers', ''),
    tasksPending: count('tasks', 'pending'),
    tasksRunning: count('tasks', 'running'),
  };
}
