import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from 'kysely';
import type { Kysely, Migration } from 'kysely';
import { createTestDatabaseOptions, openTestDatabase } from '../../tests/helpers/test-database.js';
import { silentLogger } from '../telemetry/logger.js';
import { openDatabase } from './database.js';
import { MigrationError } from './errors.js';
import { migrateToLatest } from './migrator.js';

/** Test-only migrations that count how often each `up` ran in this process. */
function widgetMigrations(runs: Map<string, number> = new Map()): Record<string, Migration> {
  const counted = (name: string, up: (db: Kysely<any>) => Promise<void>): Migration => ({
    up: async (db) => {
      runs.set(name, (runs.get(name) ?? 0) + 1);
      await up(db);
    },
  });
  return {
    '0001-widgets': counted('0001-widgets', (db) => db.schema.createTable('widgets').addColumn('id', 'integer', (c) => c.primaryKey()).execute()),
    '0002-widget-name': counted('0002-widget-name', (db) => db.schema.alterTable('widgets').addColumn('name', 'text').execute()),
  };
}

const tablesIn = async (db: Kysely<any>, schema: string) =>
  (
    await sql<{ table_name: string }>`
      select table_name from information_schema.tables where table_schema = ${schema} order by table_name`.execute(db)
  ).rows.map((r) => r.table_name);

describe('migrateToLatest', () => {
  it('applies pending migrations once and is idempotent', async () => {
    const database = await openTestDatabase({ migrate: false });
    try {
      const runs = new Map<string, number>();
      const list = widgetMigrations(runs);
      assert.deepEqual(await migrateToLatest(database.db, silentLogger, list), ['0001-widgets', '0002-widget-name']);
      assert.deepEqual(await migrateToLatest(database.db, silentLogger, list), []);
      assert.deepEqual([...runs.values()], [1, 1]);
      // The bookkeeping tables live in the database's own schema, beside the tables.
      assert.deepEqual(await tablesIn(database.db, database.schema), ['kysely_migration', 'kysely_migration_lock', 'widgets']);

      const more = { ...list, '0003-gadgets': { up: (db: Kysely<any>) => db.schema.createTable('gadgets').addColumn('id', 'integer').execute() } };
      assert.deepEqual(await migrateToLatest(database.db, silentLogger, more), ['0003-gadgets']);
    } finally {
      await database.close();
    }
  });

  it('names the failed migration and rolls back its work', async () => {
    const database = await openTestDatabase({ migrate: false });
    try {
      const list = widgetMigrations();
      await migrateToLatest(database.db, silentLogger, list);
      const broken: Record<string, Migration> = {
        ...list,
        '0003-broken': {
          up: async (db) => {
            await db.schema.createTable('half_done').addColumn('id', 'integer').execute();
            await sql`select * from no_such_table`.execute(db);
          },
        },
      };
      await assert.rejects(migrateToLatest(database.db, silentLogger, broken), (error: Error) => {
        assert.ok(error instanceof MigrationError, 'a MigrationError');
        assert.equal(error.migration, '0003-broken');
        assert.match(error.message, /^migration 0003-broken failed: relation "no_such_table" does not exist/);
        return true;
      });
      const tables = await tablesIn(database.db, database.schema);
      assert.ok(tables.includes('widgets'), 'earlier migrations stay applied');
      assert.ok(!tables.includes('half_done'), 'the failed migration left nothing behind');
    } finally {
      await database.close();
    }
  });

  it('refuses a list that lacks an applied migration', async () => {
    const database = await openTestDatabase({ migrate: false });
    try {
      await migrateToLatest(database.db, silentLogger, widgetMigrations());
      const { '0001-widgets': first } = widgetMigrations();
      await assert.rejects(
        migrateToLatest(database.db, silentLogger, { '0001-widgets': first! }),
        /before any migration ran: corrupted migrations: previously executed migration 0002-widget-name is missing/,
      );
    } finally {
      await database.close();
    }
  });

  it(
    'applies each migration once when two replicas migrate the same schema at once',
    { skip: process.env.DATABASE_URL ? false : 'DATABASE_URL is unset: needs two pools on one Postgres' },
    async () => {
      // Several rounds on fresh schemas, so the race on creating the bookkeeping tables is hit too.
      for (let round = 0; round < 5; round++) {
        const where = createTestDatabaseOptions();
        const open = () => openDatabase({ url: where.url, dataDir: ':memory:', schema: where.schema, poolSize: 2, logger: silentLogger });
        const [a, b] = await Promise.all([open(), open()]);
        try {
          const runs = new Map<string, number>();
          const [fromA, fromB] = await Promise.all([
            migrateToLatest(a.db, silentLogger, widgetMigrations(runs)),
            migrateToLatest(b.db, silentLogger, widgetMigrations(runs)),
          ]);
          assert.deepEqual([...fromA, ...fromB].sort(), ['0001-widgets', '0002-widget-name']);
          assert.deepEqual([...runs.values()], [1, 1]);
          const { rows } = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(a.db);
          assert.deepEqual(rows.map((r) => r.name), ['0001-widgets', '0002-widget-name']);
        } finally {
          await Promise.all([a.close(), b.close()]);
          await where.cleanup();
        }
      }
    },
  );

  it('migrates the real migration list', async () => {
    const database = await openTestDatabase({ migrate: false });
    try {
      await migrateToLatest(database.db, silentLogger);
      assert.deepEqual(await migrateToLatest(database.db, silentLogger), []);
    } finally {
      await database.close();
    }
  });
});
