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

  it('commits a transition by primary key, never by scanning every workflow', async () => {
    // Enough rows, analysed, for the planner to prefer a hash join over a sequential scan when
    // nothing else narrows the update (it takes a jsonb record set for 100 rows).
    await sql`insert into workflows (id, machine_id, machine_version, machine_hash, status, state, state_paths, snapshot, input, input_hash, version, created_at, updated_at)
      select 'plan-' || n, 'm', 1, 'h', 'active', '"a"'::jsonb, array['a'], '{}'::jsonb, '{}'::jsonb, 'x', 1, ${AT}, ${AT}
      from generate_series(1, 5000) n`.execute(database.db);
    await sql`analyze workflows`.execute(database.db);
    const commit: TransitionCommit = {
      workflowId: 'plan-7', expectedVersion: 1, status: 'active', state: 'b', statePaths: ['b'], snapshot: { value: 'b' }, output: null, error: null,
      at: AT, eventType: 'go', event: { type: 'go' }, eventId: null, fromState: 'a',
      effects: { timersCancelled: [], timersArmed: [], tasksCancelled: [], clearAll: false, tasksCreated: [] },
    };
    const compiled = transitionsStatement([commit]).compile(database.db);
    const plan = await database.db.transaction().execute(async (trx) => {
      const { rows } = await trx.executeQuery<{ 'QUERY PLAN': string }>({ ...compiled, sql: `explain ${compiled.sql}` });
      return rows.map((r) => r['QUERY PLAN']).join('\n');
    });
    assert.doesNotMatch(plan, /Seq Scan on workflows/, plan);
    assert.match(plan, /Index Scan using workflows_pkey/, plan);
  });
});
