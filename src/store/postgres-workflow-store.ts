import { sql } from 'kysely';
import type { Kysely, RawBuilder } from 'kysely';
import type {
  ChangedWorkflow,
  ChildRecord,
  CommitOutcome,
  HistoryRecord,
  ParentLink,
  NewWorkflow,
  TaskRecord,
  TimerClaim,
  TimerRecord,
  ToolCallRecord,
  TransitionCommit,
  WorkflowFilter,
  WorkflowRecord,
  WorkflowStore,
} from '../engine/ports/workflow-store.js';
import { listChildrenOfTasks, parkTask, scanActiveChildren, scanWaitingTasks } from './child-workflow-sql.js';
import { CommitBatcher } from './commit-batcher.js';
import type { MemberResult } from './commit-batcher.js';
import type { StoreSchema } from './schema.js';
import { prepared } from './prepared-statements.js';
import { consumeStatement, insertStatement, transitionsStatement } from './workflow-commit-sql.js';
import type { CommitResultRow } from './workflow-commit-sql.js';
import { toHistoryRecord, toTaskRecord, toTimerRecord, toWorkflowRecord, workflowColumns } from './workflow-rows.js';
import type { HistoryRow, TaskRow, TimerRow, WorkflowRow } from './workflow-rows.js';

type Db = Kysely<StoreSchema>;

/** Thrown inside a transaction to roll it back with a known outcome. */
class Rollback extends Error {
  constructor(readonly outcome: CommitOutcome) {
    super(outcome.kind);
  }
}

export interface PostgresWorkflowStoreOptions {
  /** Most transitions committed in one statement (group commit). Default 64. */
  maxCommitBatch?: number;
  /**
   * Commit statements in flight at once; transitions ready meanwhile wait for the next batch.
   * Default 2 (PGlite runs one statement at a time anyway). Keep it below the pool size.
   */
  maxConcurrentCommits?: number;
  /**
   * Fewest ready transitions that start a statement while another is committing; fewer wait for
   * it and join the next. Default 8 (at most `maxCommitBatch`); at 8 callers in flight over
   * HTTP/1.1 it cut Postgres's CPU per transition by about a third (bench/JOURNAL.md, Session 18).
   */
  minOverlappingCommitBatch?: number;
  /**
   * Called after every group commit with its size (transitions) and duration in seconds, e.g.
   * for the `orchestrator_commit_batch_size` and `orchestrator_commit_duration_seconds`
   * histograms. Must not throw.
   */
  onCommitBatch?: (size: number, seconds: number) => void;
}

/**
 * The workflow store on Postgres, and on PGlite through the same Kysely dialect. Transitions of
 * different workflows that are ready together are committed in one statement (see
 * workflow-commit-sql.ts and commit-batcher.ts); a task result adds one locking statement in the
 * transaction of its transition, and goes alone.
 */
export class PostgresWorkflowStore implements WorkflowStore {
  // A data property, not a getter: the telemetry Proxy reads it through itself (instrumented-store.ts).
  readonly commitCapacity: number;
  readonly #batcher: CommitBatcher;

  constructor(
    private readonly db: Db,
    options: PostgresWorkflowStoreOptions = {},
  ) {
    const maxBatch = options.maxCommitBatch ?? 64;
    const maxInFlight = options.maxConcurrentCommits ?? 2;
    this.commitCapacity = maxBatch * maxInFlight;
    this.#batcher = new CommitBatcher((commits) => this.#commitBatch(commits), {
      maxBatch,
      maxInFlight,
      minOverlappingBatch: options.minOverlappingCommitBatch ?? 8,
      onBatch: options.onCommitBatch,
    });
  }

  async insertWorkflow(workflow: NewWorkflow): Promise<{ inserted: true } | { inserted: false; existing: WorkflowRecord | undefined }> {
    const { rows } = await insertStatement(workflow).execute(this.db);
    if (rows.length) return { inserted: true };
    const byRequest = workflow.startRequestId === null ? undefined : await this.#loadWhere(sql`w.start_request_id = ${workflow.startRequestId}`);
    return { inserted: false, existing: byRequest ?? (await this.loadWorkflow(workflow.id)) };
  }

  loadWorkflow(id: string): Promise<WorkflowRecord | undefined> {
    return this.#loadWhere(sql`w.id = ${id}`);
  }

  async workflowVersions(ids: string[]): Promise<Map<string, number>> {
    const { rows } = await prepared(sql<{ id: string; version: number }>`select id, version from workflows where id = any(${ids}::text[])`).execute(this.db);
    return new Map(rows.map((r) => [r.id, r.version]));
  }

  async #loadWhere(where: ReturnType<typeof sql>, db: Db = this.db, lock = false): Promise<WorkflowRecord | undefined> {
    const { rows } = await prepared(sql<WorkflowRow>`select ${workflowColumns} from workflows w where ${where} ${lock ? sql`for update of w` : sql``}`).execute(db);
    return rows[0] && toWorkflowRecord(rows[0]);
  }

  commitTransition(commit: TransitionCommit): Promise<CommitOutcome> {
    // A task result must lock its task row under the workflow's lock first: its own transaction.
    if (commit.consume?.kind === 'task') return this.#commitAlone(commit);
    return this.#batcher.submit(commit);
  }

  async #commitAlone(commit: TransitionCommit): Promise<CommitOutcome> {
    try {
      if (commit.consume?.kind === 'task') return await this.db.transaction().execute((trx) => this.#consumeAndCommit(trx, commit));
      return outcomesOf([commit], await transitionsStatement([commit]).execute(this.db))[0]!;
    } catch (error) {
      return failureOutcome(error);
    }
  }

  /**
   * One statement for the batch; each member commits or not by its own guard. When the statement
   * fails (one member's event id is already in the history, a value the database refuses, a
   * deadlock), nothing of it was written: each member is retried alone, so it fails only itself.
   */
  async #commitBatch(commits: TransitionCommit[]): Promise<MemberResult[]> {
    if (commits.length === 1) return settle(this.#commitAlone(commits[0]!)).then((r) => [r]);
    try {
      return outcomesOf(commits, await transitionsStatement(commits).execute(this.db)).map((outcome) => ({ ok: true, outcome }));
    } catch {
      return Promise.all(commits.map((c) => settle(this.#commitAlone(c))));
    }
  }

  async commitLocked(workflowId: string, build: (record: WorkflowRecord | undefined) => TransitionCommit | undefined): Promise<CommitOutcome | undefined> {
    try {
      return await this.db.transaction().execute(async (trx) => {
        const record = await this.#loadWhere(sql`w.id = ${workflowId}`, trx, true);
        const commit = build(record);
        if (!commit) return undefined;
        if (commit.consume) return this.#consumeAndCommit(trx, commit);
        const outcome = outcomesOf([commit], await transitionsStatement([commit]).execute(trx))[0]!;
        if (outcome.kind !== 'committed') throw new Rollback(outcome);
        return outcome;
      });
    } catch (error) {
      return failureOutcome(error);
    }
  }

  async #consumeAndCommit(trx: Db, commit: TransitionCommit): Promise<CommitOutcome> {
    const { rows } = await consumeStatement(commit).execute(trx);
    if (Number(rows[0]?.locked) === 0) throw new Rollback({ kind: 'conflict' });
    if (Number(rows[0]?.consumed) === 0) throw new Rollback({ kind: 'stale' });
    const outcome = outcomesOf([commit], await transitionsStatement([commit], { consumeDone: true }).execute(trx))[0]!;
    if (outcome.kind !== 'committed') throw new Rollback(outcome);
    return outcome;
  }

  async findHistoryByEventId(workflowId: string, eventId: string): Promise<HistoryRecord | undefined> {
    const row = await this.db.selectFrom('workflow_history').selectAll().where('workflow_id', '=', workflowId).where('event_id', '=', eventId).executeTakeFirst();
    return row && toHistoryRecord(row as HistoryRow);
  }

  async getHistoryAt(workflowId: string, version: number): Promise<HistoryRecord | undefined> {
    const row = await this.db.selectFrom('workflow_history').selectAll().where('workflow_id', '=', workflowId).where('version', '=', version).executeTakeFirst();
    return row && toHistoryRecord(row as HistoryRow);
  }

  async listHistory(workflowId: string, fromVersion: number, limit: number): Promise<HistoryRecord[]> {
    // Prepared: every watch stream reads a page when it starts and polls every few seconds while
    // its workflow is quiet, and planning the query cost more than running it (~120 us against
    // ~35 per read; bench/JOURNAL.md, Session 14).
    const { rows } = await prepared(sql<HistoryRow>`select * from workflow_history
      where workflow_id = ${workflowId} and version >= ${fromVersion} order by version limit ${limit}`).execute(this.db);
    return rows.map(toHistoryRecord);
  }

  async listChangedSince(query: { since: Date; machineId?: string; workflowId?: string; afterId?: string; limit: number }): Promise<ChangedWorkflow[]> {
    const where = [sql`h.at >= ${query.since}`];
    if (query.machineId !== undefined) where.push(sql`w.machine_id = ${query.machineId}`);
    if (query.workflowId !== undefined) where.push(sql`h.workflow_id = ${query.workflowId}`);
    if (query.afterId !== undefined) where.push(sql`h.workflow_id > ${query.afterId}`);
    const { rows } = await sql<{ workflow_id: string; machine_id: string; machine_version: number; first_version: number; last_version: number }>`
      select h.workflow_id, w.machine_id, w.machine_version, min(h.version) as first_version, max(h.version) as last_version
      from workflow_history h join workflows w on w.id = h.workflow_id
      where ${sql.join(where, sql` and `)}
      group by h.workflow_id, w.machine_id, w.machine_version order by h.workflow_id limit ${query.limit}`.execute(this.db);
    return rows.map((r) => ({
      workflowId: r.workflow_id, machineId: r.machine_id, machineVersion: Number(r.machine_version),
      firstVersion: Number(r.first_version), lastVersion: Number(r.last_version),
    }));
  }

  async listWorkflows(filter: WorkflowFilter, limit: number): Promise<WorkflowRecord[]> {
    const where = [sql`true`];
    if (filter.machineId !== undefined) where.push(sql`w.machine_id = ${filter.machineId}`);
    if (filter.status !== undefined) where.push(sql`w.status = ${filter.status}`);
    if (filter.state !== undefined) where.push(sql`w.state_paths @> array[${filter.state}]::text[]`);
    if (filter.createdAfter !== undefined) where.push(sql`w.created_at > ${filter.createdAfter}`);
    if (filter.createdBefore !== undefined) where.push(sql`w.created_at < ${filter.createdBefore}`);
    if (filter.after !== undefined) where.push(sql`(w.created_at, w.id) < (${filter.after.createdAt}::timestamptz, ${filter.after.id})`);
    const { rows } = await sql<WorkflowRow>`select ${workflowColumns} from workflows w
      where ${sql.join(where, sql` and `)} order by w.created_at desc, w.id desc limit ${limit}`.execute(this.db);
    return rows.map(toWorkflowRecord);
  }

  async claimDueTimers(owner: string, claim: TimerClaim): Promise<TimerRecord[]> {
    const { rows } = await prepared(sql<TimerRow>`update workflow_timers t set lease_owner = ${owner}, lease_until = ${claim.leaseUntil}
      where ${lockedRows('t', sql`select ctid from workflow_timers where due_at <= ${claim.dueBy} and (lease_until is null or lease_until < ${claim.now})
            order by due_at limit ${claim.limit} for update skip locked`)}
      returning t.workflow_id, t.timer_id, t.armed_version, t.event, t.due_at`).execute(this.db);
    return rows.map(toTimerRecord).sort((a, b) => a.dueAt.getTime() - b.dueAt.getTime());
  }

  async nextTimerDue(now: Date, lookaheadMs: number): Promise<Date | undefined> {
    // Two range scans of the due_at index, not a scan of every armed timer (a minimum over an
    // expression reads them all: 1.7 ms per poll at 10,000 armed, growing with every timer armed
    // days ahead): the earliest unleased timer, then the lease ends of leased ones. A claim
    // leases only rows due within its lookahead and re-arming clears the lease, so leased rows
    // are due within it (their claimable moment is their lease's end); one leased by a replica
    // whose clock runs ahead is missed here and found by the next poll.
    const { rows } = await prepared(sql<{ due: Date | null; lease_end: Date | null }>`select
        (select due_at from workflow_timers where lease_until is null order by due_at limit 1) as due,
        (select min(lease_until) from workflow_timers where due_at <= ${new Date(now.getTime() + lookaheadMs)} and lease_until is not null) as lease_end`).execute(this.db);
    const row = rows[0];
    const at = Math.min(row?.due ? row.due.getTime() - lookaheadMs : Infinity, row?.lease_end ? row.lease_end.getTime() : Infinity);
    return at === Infinity ? undefined : new Date(at);
  }

  async releaseTimers(owner: string): Promise<number> {
    const result = await this.db.updateTable('workflow_timers').set({ lease_owner: null, lease_until: null }).where('lease_owner', '=', owner).executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  async claimTasks(owner: string, now: Date, leaseUntil: Date, limit: number): Promise<TaskRecord[]> {
    const { rows } = await prepared(sql<TaskRow>`update workflow_tasks k set status = 'running', lease_owner = ${owner},
        lease_until = ${leaseUntil}, attempts = k.attempts + 1, updated_at = ${now}
      where ${lockedRows('k', sql`select ctid from workflow_tasks where status = 'pending' or (status = 'running' and lease_until < ${now})
            order by created_at limit ${limit} for update skip locked`)}
      returning k.workflow_id, k.task_id, k.actor_id, k.src, k.input, k.status, k.attempts, k.lease_owner, k.lease_until, k.created_at`).execute(this.db);
    return rows.map(toTaskRecord);
  }

  async renewTaskLeases(owner: string, tasks: { workflowId: string; taskId: string }[], leaseUntil: Date): Promise<Set<string>> {
    if (!tasks.length) return new Set();
    // Sorted, so two renewals lock rows in the same order.
    const sorted = [...tasks].sort((a, b) => (a.workflowId + '/' + a.taskId).localeCompare(b.workflowId + '/' + b.taskId));
    const { rows } = await sql<{ workflow_id: string; task_id: string }>`update workflow_tasks k set lease_until = ${leaseUntil}
      from unnest(${sorted.map((t) => t.workflowId)}::text[], ${sorted.map((t) => t.taskId)}::text[]) as held(workflow_id, task_id)
      where k.workflow_id = held.workflow_id and k.task_id = held.task_id and k.status = 'running' and k.lease_owner = ${owner}
      returning k.workflow_id, k.task_id`.execute(this.db);
    return new Set(rows.map((r) => `${r.workflow_id}/${r.task_id}`));
  }

  async releaseTasks(owner: string): Promise<number> {
    const result = await this.db
      .updateTable('workflow_tasks')
      .set({ status: 'pending', lease_owner: null, lease_until: null })
      .where('lease_owner', '=', owner)
      .where('status', '=', 'running')
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  async recordToolCall(r: ToolCallRecord): Promise<void> {
    await this.db
      .insertInto('tool_calls')
      .values({
        workflow_id: r.workflowId, task_id: r.taskId, src: r.src, claim: r.claim, attempt: r.attempt, owner: r.owner,
        started_at: r.startedAt, ended_at: r.endedAt, latency_ms: r.latencyMs, outcome: r.outcome, error_kind: r.errorKind, status: r.status,
      })
      .execute();
  }

  async listToolCalls(workflowId: string, limit: number, after?: { startedAt: Date; id: string }): Promise<(ToolCallRecord & { id: string })[]> {
    let query = this.db.selectFrom('tool_calls').selectAll().where('workflow_id', '=', workflowId);
    if (after) query = query.where(sql<boolean>`(started_at, id) > (${after.startedAt}::timestamptz, ${after.id}::bigint)`);
    const rows = await query.orderBy('started_at').orderBy('id').limit(limit).execute();
    return rows.map((r) => ({
      id: String(r.id),
      workflowId: r.workflow_id, taskId: r.task_id, src: r.src, claim: r.claim, attempt: r.attempt, owner: r.owner,
      startedAt: new Date(r.started_at), endedAt: new Date(r.ended_at), latencyMs: r.latency_ms, outcome: r.outcome as ToolCallRecord['outcome'],
      errorKind: r.error_kind, status: r.status,
    }));
  }

  parkTask(workflowId: string, taskId: string, owner: string, at: Date): Promise<boolean> {
    return parkTask(this.db, workflowId, taskId, owner, at);
  }

  scanWaitingTasks(after: ParentLink | null, limit: number): Promise<{ finished: ChildRecord[]; next: ParentLink | null }> {
    return scanWaitingTasks(this.db, after, limit);
  }

  scanActiveChildren(after: string | null, limit: number): Promise<{ orphans: string[]; next: string | null }> {
    return scanActiveChildren(this.db, after, limit);
  }

  listChildrenOfTasks(parent: { workflowId: string; taskIds: string[] }, limit: number): Promise<string[]> {
    return listChildrenOfTasks(this.db, parent, limit);
  }

  async liveMachineVersions(): Promise<{ machineId: string; machineVersion: number; machineHash: string }[]> {
    const rows = await this.db
      .selectFrom('workflows')
      .select(['machine_id', 'machine_version', 'machine_hash'])
      .where('status', '=', 'active')
      .distinct()
      .execute();
    return rows.map((r) => ({ machineId: r.machine_id, machineVersion: r.machine_version, machineHash: r.machine_hash }));
  }
}

/** Per member: committed, or a conflict (version moved, or its fired timer is gone: a locked retry tells which). */
function outcomesOf(commits: TransitionCommit[], result: { rows: CommitResultRow[] }): CommitOutcome[] {
  const byMember = new Map(result.rows.map((row) => [row.i, row]));
  return commits.map((_, i) => {
    const row = byMember.get(i);
    return row ? { kind: 'committed', version: row.version, cancelledTasks: row.cancelled } : { kind: 'conflict' };
  });
}

function settle(outcome: Promise<CommitOutcome>): Promise<MemberResult> {
  return outcome.then(
    (value) => ({ ok: true, outcome: value }),
    (error: unknown) => ({ ok: false, error }),
  );
}

/** A rollback we asked for, a repeated event id, or a lost race Postgres aborted; else rethrows. */
function failureOutcome(error: unknown): CommitOutcome {
  if (error instanceof Rollback) return error.outcome;
  const { code, constraint } = error as { code?: unknown; constraint?: unknown };
  if (code === '23505' && constraint === 'workflow_history_event_id_key') return { kind: 'duplicate' };
  // Serialization failure or deadlock: the other writer won; reload and retry.
  if (code === '40001' || code === '40P01') return { kind: 'conflict' };
  throw error;
}

/**
 * `<alias>.ctid = any(array(<select ctid ... for update skip locked>))`: the rows a claim locked,
 * updated by their physical address. Joining them back by key instead let Postgres hash every
 * row of the table on each poll (a sequential scan: 10-13 ms with 10,000 timers armed, even when
 * none was due). A locked row cannot move before the update, so its ctid stays valid.
 */
function lockedRows(alias: 't' | 'k', select: RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`${sql.raw(alias)}.ctid = any(array(${select}))`;
}
