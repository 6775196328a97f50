import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AbortedTransactionError, sql } from 'kysely';
import type { Kysely } from 'kysely';
import { openTestDatabase } from '../../tests/helpers/test-database.js';
import type { TestDatabase } from '../../tests/helpers/test-database.js';
import { StoreUnavailableError } from '../engine/errors.js';

// Postgres when DATABASE_URL is set, PGlite otherwise: the same assertions hold for both kinds.
const expectedKind = process.env.DATABASE_URL ? 'postgres' : 'pglite';

describe(`openDatabase (${expectedKind})`, () => {
  let database: TestDatabase;
  // The tests use their own tables, which the store's schema type does not know.
  let db: Kysely<any>;
  before(async () => {
    database = await openTestDatabase({ migrate: false });
    db = database.db as unknown as Kysely<any>;
    await sql`create table items (id serial primary key, name text not null unique, body jsonb, at timestamptz)`.execute(db);
  });
  after(() => database.close());

  it('opens the expected kind and answers ping', async () => {
    assert.equal(database.kind, expectedKind);
    await database.ping();
  });

  it('writes and reads rows with the same value types on both kinds', async () => {
    const at = new Date('2024-05-01T12:00:00Z');
    const inserted = await db
      .insertInto('items')
      .values({ name: 'a', body: JSON.stringify({ nested: [1, 2] }), at })
      .returning(['id'])
      .executeTakeFirstOrThrow();
    assert.equal(typeof inserted.id, 'number');
    const row = await db.selectFrom('items').selectAll().where('name', '=', 'a').executeTakeFirstOrThrow();
    assert.deepEqual(row.body, { nested: [1, 2] });
    assert.deepEqual(row.at, at);
    const { count } = await db.selectFrom('items').select((eb) => eb.fn.countAll().as('count')).executeTakeFirstOrThrow();
    // int8 comes back as a string from node-postgres; the PGlite driver matches it.
    assert.equal(count, '1');
    const updated = await db.updateTable('items').set({ body: null }).where('name', '=', 'a').executeTakeFirst();
    assert.equal(updated.numUpdatedRows, 1n);
  });

  it('rolls a transaction back when its callback throws', async () => {
    await assert.rejects(
      db.transaction().execute(async (trx) => {
        await trx.insertInto('items').values({ name: 'rolled-back' }).execute();
        throw new Error('boom');
      }),
      /boom/,
    );
    const row = await db.selectFrom('items').select('id').where('name', '=', 'rolled-back').executeTakeFirst();
    assert.equal(row, undefined);
  });

  it('reports a commit that the database turned into a rollback', async () => {
    await assert.rejects(
      db.transaction().execute(async (trx) => {
        await trx.insertInto('items').values({ name: 'lost' }).execute();
        // A failed statement aborts the transaction even though the callback carries on.
        await trx.insertInto('items').values({ name: 'lost' }).execute().catch(() => {});
      }),
      AbortedTransactionError,
    );
    const row = await db.selectFrom('items').select('id').where('name', '=', 'lost').executeTakeFirst();
    assert.equal(row, undefined);
    await database.ping();
  });

  it('keeps its tables in its own schema', async () => {
    const { rows } = await sql<{ table_schema: string }>`
      select table_schema from information_schema.tables where table_name = 'items'
      and table_schema = current_schema()`.execute(db);
    assert.deepEqual(rows, [{ table_schema: database.schema }]);
  });
});

describe('schema isolation (postgres)', { skip: process.env.DATABASE_URL ? false : 'DATABASE_URL is unset; PGlite instances never share a database' }, () => {
  it('does not show a table of schema A in schema B', async () => {
    const a = await openTestDatabase({ migrate: false });
    const b = await openTestDatabase({ migrate: false });
    try {
      assert.notEqual(a.schema, b.schema);
      await sql`create table only_in_a (id int)`.execute(a.db);
      await sql`insert into only_in_a values (1)`.execute(a.db);
      await assert.rejects(sql`select * from only_in_a`.execute(b.db), /relation "only_in_a" does not exist/);
      await sql`create table only_in_a (id int)`.execute(b.db);
      const fromB = await sql`select * from only_in_a`.execute(b.db);
      assert.equal(fromB.rows.length, 0);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe('close', () => {
  it('makes ping fail with StoreUnavailableError and is idempotent', async () => {
    const database = await openTestDatabase({ migrate: false });
    await database.close();
    await database.close();
    await assert.rejects(database.ping(), StoreUnavailableError);
  });
});
