import { sql } from 'kysely';
import type { RawBuilder } from 'kysely';
import type { CommitEffects, NewWorkflow, TransitionCommit } from '../engine/ports/workflow-store.js';
import { prepared } from './prepared-statements.js';
import { json, jsonOrNull } from './workflow-rows.js';

/**
 * The statements of the commit path. Transitions go to Postgres as ONE statement for any number
 * of workflows (group commit): the rows arrive as one jsonb array (`members`, one row per
 * transition, column `i` its position), and data-modifying CTEs all hang off the guarded UPDATE
 * (`upd`): a row whose version guard fails is not in `upd`, so nothing at all is written for
 * it, while the others commit. One statement is one transaction: an error (e.g. an event id
 * already in the history) fails every member, and the caller retries them one by one.
 * Every effect CTE reads `upd` first, so a workflow row is always locked before any of its
 * timer or task rows, and members are sorted by workflow id, so concurrent batches lock
 * workflow rows in one order: no deadlocks between transitions.
 */

export interface CommitResultRow {
  /** The member's position in the batch. */
  i: number;
  version: number;
  cancelled: { taskId: string; leaseOwner: string | null }[];
}

/**
 * Row update + history + effects of each commit, each guarded by its `expectedVersion` (and,
 * for a fired timer, by the timer row still being armed at that version; it is deleted in the
 * same statement). Returns one row per committed member; a member with no row did not commit
 * (version conflict, or its timer is gone). Members must be different workflows. A task
 * result's consume is not handled here (see `consumeStatement`); with `consumeDone` the
 * caller already consumed the timer or task in the same transaction.
 */
export function transitionsStatement(commits: TransitionCommit[], options: { consumeDone?: boolean } = {}): RawBuilder<CommitResultRow> {
  const rows = commits.map((c, i) => transitionRow(c, i, options.consumeDone ?? false));
  // Sorted by workflow id: the lock order of every batch (the statement locks rows in input order).
  rows.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const members = sql`members as (select * from jsonb_to_recordset(${json(rows)}::jsonb) as x(i int, id text, expected int, status text,
      state jsonb, state_paths text[], snapshot jsonb, output jsonb, error jsonb, at timestamptz, event_type text, event jsonb,
      event_id text, from_state jsonb, clear_all boolean, timers_delete text[], timers_arm jsonb, tasks_cancel text[],
      tasks_create jsonb, timer_id text, timer_armed int))`;
  // `w.id = any(ids)` looks the rows up by primary key: the planner takes a jsonb record set for
  // 100 rows and would otherwise hash-join them against a sequential scan of every workflow.
  // A lone member is looked up with `=`: its estimate (one row) is the same whatever the id, so
  // after five executions Postgres keeps the generic plan instead of planning the statement
  // again on every call, which cost it more than running it (bench/JOURNAL.md, Session 20). With
  // `any`, a generic plan would guess ten ids, and a custom plan stays cheaper.
  const ids = rows.map((r) => r.id);
  const byKey = ids.length === 1 ? sql`w.id = ${ids[0]}::text` : sql`w.id = any(${ids}::text[])`;
  // A fired timer must still be armed at its version (only a transition of its workflow, which
  // moves the version, deletes or re-arms a timer row, so the version guard keeps this true).
  // A scalar subquery, not `exists`: Postgres may run an `exists` under OR as a hashed subplan,
  // a sequential scan of every armed timer per statement (10-30 ms with 10,000 timers armed);
  // a scalar subquery is always one primary-key lookup per member.
  const firesTimers = rows.some((r) => r.timer_id !== null);
  const timerArmed = sql`and (x.timer_id is null or x.timer_armed = (select t.armed_version from workflow_timers t
      where t.workflow_id = x.id and t.timer_id = x.timer_id))`;
  const upd = sql`upd as (
    update workflows w set status = x.status, state = x.state, state_paths = x.state_paths, snapshot = x.snapshot,
      output = x.output, error = x.error, version = w.version + 1, updated_at = x.at
    from members x
    where ${byKey} and w.id = x.id and w.version = x.expected ${firesTimers ? timerArmed : sql``}
    returning x.i, w.id, w.version, w.state, w.status, w.snapshot)`;
  const history = sql`hist as (insert into workflow_history (workflow_id, version, event_type, event, event_id, from_state, to_state, status, snapshot, at)
    select u.id, u.version, x.event_type, x.event, x.event_id, x.from_state, u.state, u.status, u.snapshot, x.at
    from upd u join members x on x.i = u.i)`;
  const cancelled = cancelsTasks(rows)
    ? sql`coalesce((select json_agg(json_build_object('taskId', c.task_id, 'leaseOwner', c.lease_owner))
      from cancel_tasks c where c.workflow_id = u.id), '[]'::json)`
    : sql`'[]'::json`;
  return prepared(sql<CommitResultRow>`with ${sql.join([members, upd, history, ...effectCtes('upd', rows)], sql`, `)}
    select u.i, u.version, ${cancelled} as cancelled from upd u`);
}

/** Version 1 of a new instance; returns no row when its id or start request id is taken. */
export function insertStatement(w: NewWorkflow): RawBuilder<CommitResultRow> {
  const row = { i: 0, at: w.at, ...effectColumns(w.effects, []) };
  const members = sql`members as (select * from jsonb_to_recordset(${json([row])}::jsonb) as x(i int, clear_all boolean,
      timers_delete text[], timers_arm jsonb, tasks_cancel text[], tasks_create jsonb, at timestamptz))`;
  const ins = sql`ins as (
    insert into workflows (id, machine_id, machine_version, machine_hash, status, state, state_paths, snapshot, input,
      input_hash, start_request_id, output, error, version, created_at, updated_at, parent_workflow_id, parent_task_id)
    values (${w.id}, ${w.machineId}, ${w.machineVersion}, ${w.machineHash}, ${w.status}, ${json(w.state)}::jsonb,
      ${w.statePaths}::text[], ${json(w.snapshot)}::jsonb, ${json(w.input)}::jsonb, ${w.inputHash}, ${w.startRequestId},
      ${jsonOrNull(w.output)}::jsonb, ${jsonOrNull(w.error)}::jsonb, 1, ${w.at}, ${w.at}, ${w.parent?.workflowId ?? null}, ${w.parent?.taskId ?? null})
    on conflict do nothing
    returning id, version, state, status, snapshot)`;
  const upd = sql`upd as (select 0 as i, id, version, state, status, snapshot from ins)`;
  const event = { type: 'xstate.init', input: w.input };
  const history = sql`hist as (insert into workflow_history (workflow_id, version, event_type, event, event_id, from_state, to_state, status, snapshot, at)
    select id, version, 'xstate.init', ${json(event)}::jsonb, null, null, state, status, snapshot, ${w.at} from upd)`;
  return prepared(sql<CommitResultRow>`with ${sql.join([members, ins, upd, history, ...effectCtes('upd', [row])], sql`, `)}
    select u.i, u.version, '[]'::json as cancelled from upd u`);
}

export interface ConsumeRow {
  locked: string;
  consumed: string;
}

/**
 * Locks the workflow row at `expectedVersion` (same lock order as every writer), then marks the
 * task done/failed (if still running under `owner`, or waiting for its child when `owner` is
 * null) or deletes the timer row (if still armed with that version). Run in the transaction of
 * the transition, before it (`consumeDone`).
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
  return prepared(sql<ConsumeRow>`with ${lock}, consumed as (${body})
    select (select count(*) from w) as locked, (select count(*) from consumed) as consumed`);
}

/** One row of `transitionsStatement`'s members. */
function transitionRow(c: TransitionCommit, i: number, consumeDone: boolean) {
  // A fired timer is checked and deleted here unless the caller consumed it already.
  const timer = !consumeDone && c.consume?.kind === 'timer' ? c.consume : undefined;
  return {
    i,
    id: c.workflowId,
    expected: c.expectedVersion,
    status: c.status,
    state: c.state,
    state_paths: c.statePaths,
    snapshot: c.snapshot,
    output: c.output,
    error: c.error,
    at: c.at,
    event_type: c.eventType,
    event: c.event,
    event_id: c.eventId,
    from_state: c.fromState,
    timer_id: timer?.timerId ?? null,
    timer_armed: timer?.armedVersion ?? null,
    ...effectColumns(c.effects, timer ? [timer.timerId] : []),
  };
}

/**
 * The effect columns of one member row. A statement must not touch one row twice: re-armed
 * timer ids are only upserted (which replaces the consumed or cancelled row), never deleted.
 */
type EffectColumns = ReturnType<typeof effectColumns>;

function effectColumns(e: CommitEffects, consumed: string[]) {
  const armedIds = new Set(e.timersArmed.map((t) => t.timerId));
  return {
    clear_all: e.clearAll,
    timers_delete: e.clearAll ? [] : [...e.timersCancelled, ...consumed].filter((id) => !armedIds.has(id)),
    timers_arm: e.clearAll ? [] : e.timersArmed.map((t) => ({ timer_id: t.timerId, event: t.event, due_at: t.dueAt })),
    tasks_cancel: e.tasksCancelled,
    tasks_create: e.clearAll
      ? []
      : e.tasksCreated.map((t) => ({
          task_id: t.taskId,
          actor_id: t.actorId,
          src: t.src,
          input: t.input,
          lease_owner: t.leaseOwner,
          lease_until: t.leaseUntil,
        })),
  };
}

/**
 * The effect CTEs over `source` (columns i, id, version; one row per written workflow) joined
 * to `members` (the effect columns): timers deleted and armed, tasks cancelled and created.
 * Only those some member needs: a batch of plain transitions is just the update and history.
 * `cancel_tasks`, when present, returns (workflow_id, task_id, lease_owner) of what it cancelled.
 */
function effectCtes(source: string, rows: EffectColumns[]): RawBuilder<unknown>[] {
  const from = sql`${sql.raw(source)} u join members x on x.i = u.i`;
  const ctes: RawBuilder<unknown>[] = [];
  if (rows.some((r) => r.clear_all || r.timers_delete.length)) {
    ctes.push(sql`del_timers as (delete from workflow_timers t using ${from}
      where t.workflow_id = u.id and (x.clear_all or t.timer_id = any(x.timers_delete)))`);
  }
  if (rows.some((r) => r.timers_arm.length)) {
    ctes.push(sql`arm_timers as (insert into workflow_timers (workflow_id, timer_id, armed_version, event, due_at)
      select u.id, a.timer_id, u.version, a.event, a.due_at
      from ${from} cross join jsonb_to_recordset(x.timers_arm) as a(timer_id text, event jsonb, due_at timestamptz)
      on conflict (workflow_id, timer_id) do update set armed_version = excluded.armed_version, event = excluded.event,
        due_at = excluded.due_at, lease_owner = null, lease_until = null)`);
  }
  if (cancelsTasks(rows)) {
    ctes.push(sql`cancel_tasks as (update workflow_tasks k set status = 'cancelled', updated_at = x.at
      from ${from}
      where k.workflow_id = u.id and k.status in ('pending', 'running', 'waiting') and (x.clear_all or k.actor_id = any(x.tasks_cancel))
      returning k.workflow_id, k.task_id, k.lease_owner)`);
  }
  if (rows.some((r) => r.tasks_create.length)) {
    ctes.push(sql`new_tasks as (insert into workflow_tasks (workflow_id, task_id, actor_id, src, input, status, attempts,
        lease_owner, lease_until, created_at, updated_at)
      select u.id, t.task_id, t.actor_id, t.src, coalesce(t.input, 'null'::jsonb),
        case when t.lease_owner is null then 'pending' else 'running' end,
        case when t.lease_owner is null then 0 else 1 end, t.lease_owner, t.lease_until, x.at, x.at
      from ${from} cross join jsonb_to_recordset(x.tasks_create)
        as t(task_id text, actor_id text, src text, input jsonb, lease_owner text, lease_until timestamptz))`);
  }
  return ctes;
}

function cancelsTasks(rows: EffectColumns[]): boolean {
  return rows.some((r) => r.clear_all || r.tasks_cancel.length);
}
