import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { PostgresDialect, sql } from 'kysely';
import { createTestDatabaseOptions } from '../../tests/helpers/test-database.js';
import { silentLogger } from '../telemetry/logger.js';
import { openDatabase } from './database.js';
import { timeConnectionWaits } from './pool-wait.js';

const kind = process.env.DATABASE_URL ? 'postgres' : 'pglite';

describe(`connection waits (${kind})`, () => {
  it('reports every acquisition, a queued query\'s as long as the holder kept the only connection', async () => {
    const where = createTestDatabaseOptions();
    const waits: number[] = [];
    const database = await openDatabase({
      url: where.url,
      dataDir: where.dataDir,
      schema: where.schema,
      poolSize: 1,
      logger: silentLogger,
      onConnectionWait: (seconds) => waits.push(seconds),
    });
    try {
      await sql`select 1`.execute(database.db); // the pool's one connection is open from here on
      waits.length = 0;
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let holding!: () => void;
      const held = new Promise<void>((resolve) => (holding = resolve));
      const holder = database.db.connection().execute(async (connection) => {
        await sql`select 1`.execute(connection);
        holding();
        await released;
      });
      await held;
      const queued = sql<{ n: number }>`select 2 as n`.execute(database.db);
      await sleep(150);
      release();
      const [, { rows }] = await Promise.all([holder, queued]);
      assert.equal(rows[0]?.n, 2, 'the queued query ran once the connection was free');
      assert.equal(waits.length, 2, `one wait per acquisition (the holder's, the queued query's), got ${waits.join(', ')}`);
      const [first, second] = waits as [number, number];
      assert.ok(first < 0.1, `an idle connection is handed over at once, took ${first} s`);
      assert.ok(second >= 0.14, `the queued query waited for the holder (150 ms), reported ${second} s`);
    } finally {
      await database.close();
      await where.cleanup();
    }
  });
});

describe('timeConnectionWaits', () => {
  it('reports a failed acquisition\'s wait and passes the failure on', async () => {
    const waits: number[] = [];
    // A pool that gives up after 30 ms, as pg's does at its connect timeout.
    const refusing = new PostgresDialect({
      pool: {
        connect: async () => {
          await sleep(30);
          throw new Error('timeout exceeded when trying to connect');
        },
        end: async () => {},
      },
    });
    const driver = timeConnectionWaits(refusing, (s) => waits.push(s)).createDriver();
    await driver.init();
    await assert.rejects(driver.acquireConnection(), /timeout exceeded/);
    assert.equal(waits.length, 1, 'the failed acquisition is reported');
    assert.ok(waits[0]! >= 0.025, `it waited ~30 ms, reported ${waits[0]} s`);
  });

  it('leaves the driver\'s other methods as they were (savepoints included)', () => {
    const inner = new PostgresDialect({ pool: { connect: async () => assert.fail('not used'), end: async () => {} } });
    const plain = inner.createDriver();
    const timed = timeConnectionWaits(inner, () => {}).createDriver();
    assert.equal(typeof timed.savepoint, 'function', 'savepoints still supported');
    assert.equal(timed.savepoint, plain.savepoint, 'the same savepoint method');
    assert.equal(timed.releaseConnection, plain.releaseConnection, 'the same release');
    assert.notEqual(timed.acquireConnection, plain.acquireConnection, 'only the acquisition is timed');
  });
});
