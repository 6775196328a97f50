import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import type { Transaction } from 'kysely';
import { openTestDatabase } from '../../tests/helpers/test-database.js';
import type { TestDatabase } from '../../tests/helpers/test-database.js';
import type { TransitionCommit } from '../engine/ports/workflow-store.js';
import { PostgresWorkflowStore } from './postgres-workflow-store.js';
import { prepared } from './prepared-statements.js';
import type { StoreSchema } from './schema.js';
import { transitionsStatement } from './workflow-commit-sql.js';

const postgres = Boolean(process.env.DATABASE_URL);
const AT = new Date(Date.UTC(2031, 0, 1));

/** Needs a server (PGlite has no pooled clients to name statements on). */
describe('prepared statements and the commit plan (postgres)', { skip: postgres ? false : 'needs DATABASE_URL' }, () => {
  let database: TestDatabase;

  before(async () => {
    database = await openTestDatabase();
  });
  after(() => database?.close());

  /** The statements prepared on one connection (a transaction's) after `run` used it. */
  async function preparedAfter(run: (trx: Transaction<StoreSchema>) => Promise<void>): Promise<{ name: string; statement: string }[]> {
    return database.db.transaction().execute(async (trx) => {
      await run(trx);
      const { rows } = await sql<{ name: string; statement: string }>`select name, statement from pg_prepared_statements`.execute(trx);
      return rows;
    });
  }

  /** The same, for a store on that connection; only the statements' text. */
  async function preparedStatementsAfter(run: (store: PostgresWorkflowStore) => Promise<void>): Promise<string[]> {
    return (await preparedAfter((trx) => run(new PostgresWorkflowStore(trx)))).map((r) => r.statement);
  }

  it('sends marked statements named, once per connection, and the rest unnamed', async () => {
    const names = await preparedAfter(async (trx) => {
      for (let i = 0; i < 3; i++) await prepared(sql`select ${i}::int as n`).execute(trx);
      await sql`select 1 as unmarked`.execute(trx);
    });
    const ours = names.filter((r) => r.statement.includes('as n'));
    assert.equal(ours.length, 1, JSON.stringify(names));
    assert.match(ours[0]!.name, /^o_[0-9a-f]{20}$/);
    assert.equal(names.some((r) => r.statement.includes('unmarked')), false);
  });

  it('reads history pages (what watch streams poll) with one named statement', async () => {
    const statements = await preparedStatementsAfter(async (store) => {
      for (const [from, limit] of [[1, 200], [7, 200], [1, 50]] as const) assert.deepEqual(await store.listHistory('nobody', from, limit), []);
    });
    assert.equal(statements.filter((s) => s.includes('from workflow_history')).length, 1, statements.join('\n'));
  });

  it('runs the child-workflow sweeps (every task poll on every replica) as named statements', async () => {
    const statements = await preparedStatementsAfter(async (store) => {
      for (let i = 0; i < 2; i++) {
        assert.deepEqual(await store.scanWaitingTasks(null, 100), { finished: [], next: null });
        assert.deepEqual(await store.scanActiveChildren(null, 100), { orphans: [], next: null });
      }
    });
    assert.equal(statements.filter((s) => s.includes("where status = 'waiting'")).length, 1, statements.join('\n'));
    assert.equal(statements.filter((s) => s.includes('where parent_workflow_id is not null')).length, 1, statements.join('\n'));
  });

  /** `count` active workflows `<prefix>-1`... at version 1, analysed. */
  async function seedWorkflows(prefix: string, count: number): Promise<void> {
    await sql`insert into workflows (id, machine_id, machine_version, machine_hash, status, state, state_paths, snapshot, input, input_hash, version, created_at, updated_at)
      select ${prefix} || '-' || n, 'm', 1, 'h', 'active', '"a"'::jsonb, array['a'], '{}'::jsonb, '{}'::jsonb, 'x', 1, ${AT}, ${AT}
      from generate_series(1, ${count}::int) n`.execute(database.db);
    await sql`analyze workflows`.execute(database.db);
  }

  /** A transition of `workflowId` from version 1, with no effects. */
  function transitionOf(workflowId: string): TransitionCommit {
    return {
      workflowId, expectedVersion: 1, status: 'active', state: 'b', statePaths: ['b'], snapshot: { value: 'b' }, output: null, error: null,
      at: AT, eventType: 'go', event: { type: 'go' }, eventId: null, fromState: 'a',
      effects: { timersCancelled: [], timersArmed: [], tasksCancelled: [], clearAll: false, tasksCreated: [] },
    };
  }

  it('commits a transition by primary key, never by scanning every workflow', async () => {
    // Enough rows, analysed, for the planner to prefer a hash join over a sequential scan when
    // nothing else narrows the update (it takes a jsonb record set for 100 rows).
    await seedWorkflows('plan', 5000);
    const compiled = transitionsStatement([transitionOf('plan-7')]).compile(database.db);
    const plan = await database.db.transaction().execute(async (trx) => {
      const { rows } = await trx.executeQuery<{ 'QUERY PLAN': string }>({ ...compiled, sql: `explain ${compiled.sql}` });
      return rows.map((r) => r['QUERY PLAN']).join('\n');
    });
    assert.doesNotMatch(plan, /Seq Scan on workflows/, plan);
    assert.match(plan, /Index Scan using workflows_pkey/, plan);
  });

  it('commits on a generic plan once the statement is warm, still by primary key', async () => {
    // Planning the commit statement (a dozen CTEs) costs Postgres more than running it: its plan
    // must stop depending on the values, so that after the first five executions Postgres keeps
    // the generic one (bench/JOURNAL.md, Session 20).
    await seedWorkflows('generic', 1000);
    const { plans, scans } = await database.db.transaction().execute(async (trx) => {
      // This backend's counts not yet flushed to the statistics (earlier transactions' among them).
      const counts = () => sql<{ seq_scan: string; idx_scan: string }>`select seq_scan, idx_scan from pg_stat_xact_user_tables
        where relid = 'workflows'::regclass`.execute(trx).then(({ rows }) => ({ seq: Number(rows[0]!.seq_scan), idx: Number(rows[0]!.idx_scan) }));
      const before = await counts();
      for (let n = 1; n <= 12; n++) {
        const { rows } = await transitionsStatement([transitionOf(`generic-${n}`)]).execute(trx);
        assert.equal(rows.length, 1, `generic-${n} committed`);
      }
      const plans = await sql<{ generic_plans: string; custom_plans: string }>`select generic_plans, custom_plans from pg_prepared_statements
        where statement like '%update workflows w set%'`.execute(trx);
      const after = await counts();
      return { plans: plans.rows, scans: { seq: after.seq - before.seq, idx: after.idx - before.idx } };
    });
    assert.equal(plans.length, 1, JSON.stringify(plans));
    assert.ok(Number(plans[0]!.generic_plans) >= 7 && Number(plans[0]!.custom_plans) <= 5, JSON.stringify(plans));
    // Every commit found its row through an index (the update's, then the history's foreign key check).
    assert.equal(scans.seq, 0, JSON.stringify(scans));
    assert.ok(scans.idx >= 12, JSON.stringify(scans));
  });
});
