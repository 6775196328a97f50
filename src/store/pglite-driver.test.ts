import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import { silentLogger } from '../telemetry/logger.js';
import { openDatabase } from './database.js';
import type { Database } from './database.js';
import { StoreUnavailableError } from '../engine/errors.js';

// The PGlite driver is this repo's code, so it is tested even when DATABASE_URL is set.
const openPglite = (dataDir = ':memory:', schema?: string) =>
  openDatabase({ dataDir, poolSize: 1, logger: silentLogger, ...(schema ? { schema } : {}) });

// The tests use their own tables, which the store's schema type does not know.
const raw = (database: Database) => database.db as unknown as Kysely<any>;

describe('PGlite driver', () => {
  let database: Database;
  before(async () => {
    database = await openPglite();
    await sql`create table counter (id int primary key, n int not null)`.execute(database.db);
    await sql`insert into counter values (1, 0)`.execute(database.db);
  });
  after(() => database.close());

  it('serialises concurrent transactions so read-then-write counters end exact', async () => {
    const db = raw(database);
    await Promise.all(
      Array.from({ length: 20 }, () =>
        db.transaction().execute(async (trx) => {
          const { n } = await trx.selectFrom('counter').select('n').where('id', '=', 1).executeTakeFirstOrThrow();
          // Yield to the event loop between read and write, so an interleaving would show.
          await new Promise((resolve) => setImmediate(resolve));
          await trx.updateTable('counter').set({ n: n + 1 }).where('id', '=', 1).execute();
        }),
      ),
    );
    const { n } = await db.selectFrom('counter').select('n').where('id', '=', 1).executeTakeFirstOrThrow();
    assert.equal(n, 20);
  });

  it('keeps queries outside a transaction out of it while it runs', async () => {
    const db = raw(database);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let started!: () => void;
    const inside = new Promise<void>((resolve) => (started = resolve));
    const tx = db.transaction().execute(async (trx) => {
      await trx.updateTable('counter').set({ n: -1 }).where('id', '=', 1).execute();
      started();
      await held;
      throw new Error('roll back');
    });
    await inside;
    // This query must wait for the transaction: had it run inside it, it would read -1.
    const outside = db.selectFrom('counter').select('n').where('id', '=', 1).executeTakeFirstOrThrow();
    release();
    await assert.rejects(tx, /roll back/);
    assert.notEqual((await outside).n, -1);
  });

  it('supports savepoints in controlled transactions', async () => {
    const trx = await raw(database).startTransaction().execute();
    await trx.updateTable('counter').set({ n: 100 }).where('id', '=', 1).execute();
    const sp = await trx.savepoint('before "risky"').execute();
    await sp.updateTable('counter').set({ n: 200 }).where('id', '=', 1).execute();
    await sp.rollbackToSavepoint('before "risky"').execute();
    await trx.commit().execute();
    const { n } = await raw(database).selectFrom('counter').select('n').where('id', '=', 1).executeTakeFirstOrThrow();
    assert.equal(n, 100);
  });

  it('rejects streaming with a clear error', async () => {
    const stream = raw(database).selectFrom('counter').selectAll().stream();
    await assert.rejects(stream.next(), /streaming queries is not supported/);
  });

  it('uses the configured schema for unqualified names', async () => {
    const other = await openPglite(':memory:', 'tenant_a');
    try {
      await sql`create table things (id int)`.execute(other.db);
      const { rows } = await sql<{ table_schema: string }>`
        select table_schema from information_schema.tables where table_name = 'things'`.execute(other.db);
      assert.deepEqual(rows, [{ table_schema: 'tenant_a' }]);
    } finally {
      await other.close();
    }
  });
});

describe('PGlite on disk', () => {
  let root: string;
  before(() => (root = mkdtempSync(join(tmpdir(), 'pglite-driver-test-'))));
  after(() => rmSync(root, { recursive: true, force: true }));

  it('creates the directory and keeps committed data across close and reopen', async () => {
    const dir = join(root, 'nested', 'data');
    const first = await openPglite(dir);
    await sql`create table notes (body text)`.execute(first.db);
    await first.db.transaction().execute((trx) => sql`insert into notes values ('kept')`.execute(trx));
    await first.close();
    assert.ok(existsSync(join(dir, 'PG_VERSION')), 'the data directory holds a cluster');

    const second = await openPglite(dir);
    try {
      const { rows } = await sql<{ body: string }>`select body from notes`.execute(second.db);
      assert.deepEqual(rows, [{ body: 'kept' }]);
    } finally {
      await second.close();
    }
  });

  it('refuses a second opener of the same directory until the first closes', async () => {
    const dir = join(root, 'locked');
    const first = await openPglite(dir);
    await assert.rejects(openPglite(dir), (error: Error) => {
      assert.ok(error instanceof StoreUnavailableError, 'a StoreUnavailableError');
      assert.match(error.message, /already open in this process/);
      return true;
    });
    await first.close();
    const again = await openPglite(dir);
    await again.close();
  });

  it('takes over a lock left by a process that died', async () => {
    const dir = join(root, 'stale');
    const first = await openPglite(dir);
    await first.close();
    const child = spawnSync(process.execPath, ['-e', '']);
    assert.equal(child.status, 0);
    writeFileSync(join(dir, 'orchestrator.lock'), JSON.stringify({ pid: child.pid, host: hostname() }));
    const reopened = await openPglite(dir);
    await reopened.close();
  });

  it('refuses a lock held by a live process', async () => {
    const dir = join(root, 'live');
    const first = await openPglite(dir);
    await first.close();
    // The parent of this process is alive for as long as the test runs.
    writeFileSync(join(dir, 'orchestrator.lock'), JSON.stringify({ pid: process.ppid, host: hostname() }));
    await assert.rejects(openPglite(dir), new RegExp(`in use by pid ${process.ppid}`));
  });
});
