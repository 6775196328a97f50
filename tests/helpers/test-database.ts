import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { Kysely } from 'kysely';
import type { Migration } from 'kysely';
import pg from 'pg';
import { openDatabase } from '../../src/store/database.js';
import type { Database } from '../../src/store/database.js';
import { migrateToLatest } from '../../src/store/migrator.js';
import { PGliteDialect } from '../../src/store/pglite-dialect.js';
import { migrations } from '../../src/store/migrations/index.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import type { Logger } from '../../src/telemetry/logger.js';

/**
 * Where a test's data lives. With DATABASE_URL set: a fresh random schema `t_<hex>` on that
 * database. Otherwise a PGlite location: ':memory:' by default, a fresh temp directory with
 * `onDisk` (so a child process, or a reopen after a crash, sees the same data).
 */
export interface TestDatabaseOptions {
  readonly url: string | undefined;
  readonly schema: string;
  readonly dataDir: string;
  /** The same, as the service's environment variables, for child processes. */
  readonly env: { DATABASE_SCHEMA: string; DATA_DIR: string; DATABASE_URL?: string };
  /** Drops the schema (CASCADE) or removes the temp directory. Idempotent. Call after closing. */
  cleanup(): Promise<void>;
}

export function createTestDatabaseOptions(options: { onDisk?: boolean } = {}): TestDatabaseOptions {
  const url = process.env.DATABASE_URL || undefined;
  const schema = url ? `t_${randomBytes(6).toString('hex')}` : 'public';
  const dataDir = url || !options.onDisk ? ':memory:' : mkdtempSync(join(tmpdir(), 'orchestrator-test-'));
  let cleaned = false;
  return {
    url,
    schema,
    dataDir,
    env: { DATABASE_SCHEMA: schema, DATA_DIR: dataDir, ...(url ? { DATABASE_URL: url } : {}) },
    async cleanup() {
      if (cleaned) return;
      cleaned = true;
      if (url) await dropSchema(url, schema);
      else if (dataDir !== ':memory:') rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** An open test database; `close()` closes it and then runs `options.cleanup()`. */
export interface TestDatabase extends Database {
  readonly options: TestDatabaseOptions;
}

/**
 * Opens a database of its own for one test (file): see `createTestDatabaseOptions`. Migrates to
 * the latest of `migrations` (the real list unless given) unless `migrate: false`.
 */
export async function openTestDatabase(
  options: { migrate?: boolean; migrations?: Record<string, Migration>; onDisk?: boolean; logger?: Logger } = {},
): Promise<TestDatabase> {
  const where = createTestDatabaseOptions({ onDisk: options.onDisk ?? false });
  const logger = options.logger ?? silentLogger;
  const list = options.migrations ?? migrations;
  const migrate = options.migrate ?? true;
  let database: Database;
  try {
    // PGlite in memory starts from a template made once per process: loading one takes a fraction
    // of initdb. Migrating below then finds nothing to do, which also checks the template.
    const template = where.dataDir === ':memory:' && !where.url ? await pgliteTemplate(migrate ? list : undefined) : undefined;
    database = await openDatabase({
      url: where.url,
      dataDir: where.dataDir,
      schema: where.schema,
      poolSize: 5,
      logger,
      ...(template ? { pgliteTemplate: template } : {}),
    });
  } catch (error) {
    await where.cleanup();
    throw error;
  }
  const close = async () => {
    try {
      await database.close();
    } finally {
      await where.cleanup();
    }
  };
  if (migrate) {
    try {
      await migrateToLatest(database.db, logger, list);
    } catch (error) {
      await close();
      throw error;
    }
  }
  return { db: database.db, kind: database.kind, schema: database.schema, ping: (ms) => database.ping(ms), poolUsage: () => database.poolUsage(), close, options: where };
}

/** Dumps of a fresh PGlite migrated with a list (by identity), or not migrated (`empty`). */
const templates = new WeakMap<object, Promise<Blob>>();
const empty = {};

function pgliteTemplate(list: Record<string, Migration> | undefined): Promise<Blob> {
  const key = list ?? empty;
  let template = templates.get(key);
  if (!template) {
    template = buildTemplate(list);
    templates.set(key, template);
    template.catch(() => templates.delete(key));
  }
  return template;
}

async function buildTemplate(list: Record<string, Migration> | undefined): Promise<Blob> {
  const pglite = new PGlite();
  const db = new Kysely<any>({ dialect: new PGliteDialect(pglite) });
  try {
    await pglite.waitReady;
    if (list) await migrateToLatest(db, silentLogger, list);
    return await pglite.dumpDataDir('none');
  } finally {
    await db.destroy();
    if (!pglite.closed) await pglite.close();
  }
}

async function dropSchema(url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`drop schema if exists "${schema}" cascade`);
  } finally {
    await client.end();
  }
}
