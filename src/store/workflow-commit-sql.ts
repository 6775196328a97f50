import { sql } from 'kysely';
import type { RawBuilder } from 'kysely';
import type { CommitEffects, NewWorkflow, TransitionCommit } from '../engine/ports/workflow-store.js';
import { json, jsonOrNull } from './workflow-rows.js';

/**
 * The statements of the commit path. A transition (row update, history row, timers armed and
 * cancelled, tasks created and cancelled) is ONE statement: data-modifying CTEs that all hang
 * off the guarded UPDATE (`upd`), so when the version guard fails nothing at all is written,
 * and when the history insert hits the event-id unique constraint the whole statement fails.
 * Every effect CTE reads `upd` first, so the workflow row is always locked before any timer or
 * task row: one lock order for every writer, hence no deadlocks between transitions.
 */

export interface CommitResultRow {
  version: number;
  cancelled: { taskId: string; leaseOwner: string | null }[];
}

/** Row update + history + effects, guarded by `expectedVersion`. Returns no row on a version conflict. */
export function transitionStatement(c: TransitionCommit): RawBuilder<CommitResultRow> {
  const upd = sql`upd as (
    update workflows set status = ${c.status}, state = ${json(c.state)}::jsonb, state_paths = ${c.statePaths}::text[],
      snapshot = ${json(c.snapshot)}::jsonb, output = ${jsonOrNull(c.output)}::jsonb, error = ${jsonOrNull(c.error)}::jsonb,
      version = version + 1, updated_at = ${c.at}
    where id = ${c.workflowId} and version = ${c.expectedVersion}
    returning id, version, state, status, snapshot)`;
  const [ctes, cancelled] = effectCtes('upd', c.effects, c.at);
  return sql<CommitResultRow>`with ${sql.join([upd, ...ctes], sql`, `)}
    insert into workflow_history (workflow_id, version, event_type, event, event_id, from_state, to_state, status, snapshot, at)
    select id, version, ${c.eventType}, ${json(c.event)}::jsonb, ${c.eventId}, ${jsonOrNull(c.fromState)}::jsonb, state, status, snapshot, ${c.at}
    from upd
    returning version, ${cancelled} as cancelled`;
}

/** Version 1 of a new instance; returns no row when its id or start request id is taken. */
export function insertStatement(w: NewWorkflow): RawBuilder<CommitResultRow> {
  const ins = sql`ins as (
    insert into workflows (id, machine_id, machine_version, machine_hash, status, state, state_paths, snapshot, input,
      input_hash, start_request_id, output, error, version, created_at, updated_at, parent_workflow_id, parent_task_id)
    values (${w.id}, ${w.machineId}, ${w.machineVersion}, ${w.machineHash}, ${w.status}, ${json(w.state)}::jsonb,
      ${w.statePaths}::text[], ${json(w.snapshot)}::jsonb, ${json(w.input)}::jsonb, ${w.inputHash}, ${w.startRequestId},
      ${jsonOrNull(w.output)}::jsonb, ${jsonOrNull(w.error)}::jsonb, 1, ${w.at}, ${w.at}, ${w.parent?.workflowId ?? null}, ${w.parent?.taskId ?? null})
    on conflict do nothing
    returning id, version, state, status, snapshot)`;
  const [ctes, cancelled] = effectCtes('ins', w.effects, w.at);
  const event = { type: 'xstate.init', input: w.input };
  return sql<CommitResultRow>`with ${sql.join([ins, ...ctes], sql`, `)}
    insert into workflow_history (workflow_id, version, event_type, event, event_id, from_state, to_state, status, snapshot, at)
    select id, version, 'xstate.init', ${json(event)}::jsonb, null, null, state, status, snapshot, ${w.at}
    from ins
    returning version, ${cancelled} as cancelled`;
}

export interface ConsumeRow {
  locked: string;
  consumed: string;
}

/**
 * Locks the workflow row at `expectedVersion` (same lock order as every writer), then marks the
 * task done/failed (if still running under `owner`, or waiting for its child when `owner` is
 * null) or deletes the timer row (if still armed
 * with that version). Run in the transaction of the transition, before it.
 */
export function consumeStatement(c: TransitionCommit): RawBuilder<ConsumeRow> {
  const consume = c.consume!;
  const lock = sql`w as (select id from workflows where id = ${c.workflowId} and version = ${c.expectedVersion} for update)`;
  const body =
    consume.kind === 'timer'
      ? sql`delete from workflow_timers where workflow_id = (select id from w) and timer_id = ${consume.timerId}
          and armed_version = ${consume.armedVersion} returning 1`
      : sql`update workflow_tasks set status = ${consume.status}, result = ${jsonOrNull(consume.result)}::jsonb,
          error = ${jsonOrNull(consume.error)}::jsonb, lease_until = null, updated_at = ${c.at}
          where workflow_id = (select id from w) and task_id = ${consume.taskId}
          and ${consume.owner === null ? sql`status = 'waiting'` : sql`status = 'running' and lease_owner = ${consume.owner}`} returning 1`;
  return sql<ConsumeRow>`with ${lock}, consumed as (${body})
    select (select count(*) from w) as locked, (select count(*) from consumed) as consumed`;
}

/** The effect CTEs for `source` (`upd` or `ins`), and the expression listing cancelled tasks. */
function effectCtes(source: string, e: CommitEffects, at: Date): [RawBuilder<unknown>[], RawBuilder<unknown>] {
  const src = sql.raw(source);
  const owner = sql`(select id from ${src})`;
  const ctes: RawBuilder<unknown>[] = [];
  const armedIds = new Set(e.timersArmed.map((t) => t.timerId));
  if (e.clearAll) {
    ctes.push(sql`del_timers as (delete from workflow_timers where workflow_id = ${owner})`);
  } else {
    // Re-armed ids are upserted below; a statement must not touch one row twice.
    const deleteIds = e.timersCancelled.filter((id) => !armedIds.has(id));
    if (deleteIds.length) ctes.push(sql`del_timers as (delete from workflow_timers where workflow_id = ${owner} and timer_id = any(${deleteIds}::text[]))`);
    if (e.timersArmed.length) {
      const rows = e.timersArmed.map((t) => ({ timer_id: t.timerId, event: t.event, due_at: t.dueAt.toISOString() }));
      ctes.push(sql`arm_timers as (insert into workflow_timers (workflow_id, timer_id, armed_version, event, due_at)
        select s.id, t.timer_id, s.version, t.event, t.due_at
        from ${src} s cross join jsonb_to_recordset(${json(rows)}::jsonb) as t(timer_id text, event jsonb, due_at timestamptz)
        on conflict (workflow_id, timer_id) do update set armed_version = excluded.armed_version, event = excluded.event,
          due_at = excluded.due_at, lease_owner = null, lease_until = null)`);
    }
  }
  let cancelled: RawBuilder<unknown> = sql`'[]'::json`;
  if (e.clearAll || e.tasksCancelled.length) {
    const which = e.clearAll ? sql`` : sql`and actor_id = any(${e.tasksCancelled}::text[])`;
    ctes.push(sql`cancel_tasks as (update workflow_tasks set status = 'cancelled', updated_at = ${at}
      where workflow_id = ${owner} and status in ('pending', 'running', 'waiting') ${which}
      returning task_id, lease_owner)`);
    cancelled = sql`(select coalesce(json_agg(json_build_object('taskId', task_id, 'leaseOwner', lease_owner)), '[]'::json) from cancel_tasks)`;
  }
  if (e.tasksCreated.length && !e.clearAll) {
    const rows = e.tasksCreated.map((t) => ({
      task_id: t.taskId,
      actor_id: t.actorId,
      src: t.src,
      input: t.input,
      lease_owner: t.leaseOwner,
      lease_until: t.leaseUntil?.toISOString() ?? null,
    }));
    ctes.push(sql`new_tasks as (insert into workflow_tasks (workflow_id, task_id, actor_id, src, input, status, attempts,
        lease_owner, lease_until, created_at, updated_at)
      select s.id, t.task_id, t.actor_id, t.src, coalesce(t.input, 'null'::jsonb),
        case when t.lease_owner is null then 'pending' else 'running' end,
        case when t.lease_owner is null then 0 else 1 end, t.lease_owner, t.lease_until, ${at}, ${at}
      from ${src} s cross join jsonb_to_recordset(${json(rows)}::jsonb)
        as t(task_id text, actor_id text, src text, input jsonb, lease_owner text, lease_until timestamptz))`);
  }
  return [ctes, cancelled];
}
