import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect, sql } from 'kysely';
import type { Dialect } from 'kysely';
import { namePreparedStatements } from './prepared-statements.js';
import pg from 'pg';
import type { Logger } from '../telemetry/logger.js';
import { StoreUnavailableError } from '../engine/errors.js';
import { reasonOf } from './errors.js';
import { PGliteDialect } from './pglite-dialect.js';
import { lockDataDir } from './pglite-lock.js';
import { timeConnectionWaits } from './pool-wait.js';
import type { StoreSchema } from './schema.js';

export interface DatabaseOptions {
  /** Postgres connection string; unset means embedded PGlite in `dataDir`. */
  url?: string | undefined;
  /** PGlite data directory (created when missing), or ':memory:'. Ignored when `url` is set. */
  dataDir: string;
  /** Postgres schema holding the tables; created when missing; every connection's search_path. Default 'public'. */
  schema?: string;
  /** Most Postgres connections open at once (PGlite always has one). */
  poolSize: number;
  logger: Logger;
  /** How long start-up retries an unreachable Postgres, in ms. Default 0: one attempt. */
  startupTimeoutMs?: number;
  /** Bound on opening one Postgres connection, in ms. Default 5000. */
  connectTimeoutMs?: number;
  /** Default bound on `ping()`, in ms. Default 2000. */
  pingTimeoutMs?: number;
  /**
   * Postgres only: a query with no answer after this many ms fails (`Query read timeout`, mapped
   * to `unavailable`), so a network partition that swallows packets fails calls instead of
   * hanging them. 0 (the default): no bound. Must exceed the slowest legitimate query, migrations
   * included.
   */
  queryTimeoutMs?: number;
  /**
   * PGlite with ':memory:' only: start from this data directory dump (PGlite `dumpDataDir()`)
   * instead of an empty database. Tests clone a migrated template this way: much faster than initdb.
   */
  pgliteTemplate?: Blob;
  /** Told how long each query waited for a connection, in seconds (metrics; see pool-wait.ts). */
  onConnectionWait?: (seconds: number) => void;
}

/**
 * An open database: Kysely with the Postgres dialect over either a `pg` pool or PGlite, so all
 * store code takes one code path. Both kinds return int8/count(*) as strings, json/jsonb parsed,
 * timestamptz as Date. Streaming (`.stream()`) is not supported on either kind.
 */
export interface Database {
  readonly db: Kysely<StoreSchema>;
  readonly kind: 'postgres' | 'pglite';
  /** The schema every connection uses (its search_path). */
  readonly schema: string;
  /**
   * A cheap `select 1`. Resolves when the database answered within `timeoutMs` (default
   * `pingTimeoutMs`); otherwise throws `StoreUnavailableError` with the reason. Never retries.
   */
  ping(timeoutMs?: number): Promise<void>;
  /** Connections now: open, idle, and queries waiting for one (PGlite: its one session). For metrics. */
  poolUsage(): { total: number; idle: number; waiting: number };
  /** Waits for connections in use to be released, then closes the pool or PGlite. Idempotent. */
  close(): Promise<void>;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
const FIRST_RETRY_MS = 100;
const MAX_RETRY_MS = 5_000;

/**
 * Opens the database and checks it answers. Postgres: retries an unreachable server with
 * exponential backoff (100 ms doubling to 5 s), one warn log line per failed attempt, until
 * `startupTimeoutMs` has passed (the last attempt may overrun it by up to `connectTimeoutMs`),
 * then throws `StoreUnavailableError`. Authentication failures and a missing database are not
 * retried. PGlite: creates the directory, locks it against a second opener, and throws
 * `StoreUnavailableError` when it cannot be opened. Then creates `schema` when missing.
 */
export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  const schema = options.schema ?? 'public';
  if (!SCHEMA_NAME.test(schema)) throw new Error(`database schema must be a lower-case SQL identifier, got '${schema}'`);
  return options.url === undefined ? openPglite(options, schema) : openPostgres(options, options.url, schema);
}

async function openPostgres(options: DatabaseOptions, url: string, schema: string): Promise<Database> {
  const { logger } = options;
  const connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize,
    // A fixed-size pool, as HikariCP recommends: connections opened stay open (pg-pool would close
    // them after 10 s idle), so a burst after a quiet spell (timers due at one moment) does not
    // wait for new backends and prepare the commit statement again on each (bench/JOURNAL.md, Session 10).
    min: options.poolSize,
    connectionTimeoutMillis: connectTimeoutMs,
    ...(options.queryTimeoutMs ? { query_timeout: options.queryTimeoutMs } : {}),
    keepAlive: true,
    application_name: 'orchestrator',
    // Set at connection start-up, so no query on any pooled connection runs with another path.
    // The name is checked against SCHEMA_NAME, so it needs no quoting.
    options: `-c search_path=${schema}`,
  });
  // An idle connection that drops emits 'error' on the pool; unhandled, that would end the process.
  pool.on('error', (error) => logger.warn('idle database connection lost', { reason: reasonOf(error) }));
  // A checked-out client emits 'error' when its connection drops between queries, and the pool
  // listens only while it is idle. The next query on it fails anyway; this only keeps the process alive.
  pool.on('connect', (client) => {
    client.on('error', () => {});
    namePreparedStatements(client);
  });
  const db = new Kysely<StoreSchema>({ dialect: timed(new PostgresDialect({ pool }), options) });
  const target = describeUrl(url);
  try {
    await retryUntilReachable(
      () => withTimeout(sql`select 1`.execute(db), connectTimeoutMs),
      options.startupTimeoutMs ?? 0,
      logger.child({ database: target }),
    );
    await ensureSchema(db, schema);
  } catch (error) {
    await db.destroy();
    throw error;
  }
  logger.info('database connected', { kind: 'postgres', database: target, schema });
  const usage = () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount });
  return createHandle(db, 'postgres', schema, usage, options.pingTimeoutMs);
}

async function openPglite(options: DatabaseOptions, schema: string): Promise<Database> {
  const memory = options.dataDir === ':memory:';
  let unlock = () => {};
  let pglite: PGlite | undefined;
  try {
    if (!memory) {
      mkdirSync(options.dataDir, { recursive: true });
      unlock = lockDataDir(options.dataDir);
    }
    pglite = memory
      ? new PGlite(options.pgliteTemplate ? { loadDataDir: options.pgliteTemplate } : {})
      : new PGlite(options.dataDir);
    await pglite.waitReady;
    // PGlite is one session: setting the path once covers every later query.
    await pglite.exec(`create schema if not exists ${schema}; set search_path to ${schema}`);
  } catch (error) {
    if (pglite && !pglite.closed) await pglite.close().catch(() => {});
    unlock();
    throw new StoreUnavailableError(`cannot open PGlite database in ${options.dataDir}: ${reasonOf(error)}`, { cause: error });
  }
  const dialect = new PGliteDialect(pglite);
  const db = new Kysely<StoreSchema>({ dialect: timed(dialect, options) });
  options.logger.info('database opened', { kind: 'pglite', dataDir: options.dataDir, schema });
  const opened = pglite;
  // Kysely starts its driver on the first query and destroys only a started one: a database
  // closed before any query would leave PGlite (and its timers) running, so close it here too.
  const afterClose = async () => {
    try {
      if (!opened.closed) await opened.close();
    } finally {
      unlock();
    }
  };
  return createHandle(db, 'pglite', schema, () => dialect.usage(), options.pingTimeoutMs, afterClose);
}

function timed(dialect: Dialect, options: DatabaseOptions): Dialect {
  return options.onConnectionWait ? timeConnectionWaits(dialect, options.onConnectionWait) : dialect;
}

function createHandle(
  db: Kysely<StoreSchema>,
  kind: Database['kind'],
  schema: string,
  poolUsage: Database['poolUsage'],
  pingTimeoutMs = 2_000,
  afterClose: () => Promise<void> = async () => {},
): Database {
  let closing: Promise<void> | undefined;
  return {
    db,
    kind,
    schema,
    poolUsage,
    async ping(timeoutMs = pingTimeoutMs) {
      try {
        await withTimeout(sql`select 1`.execute(db), timeoutMs);
      } catch (error) {
        throw new StoreUnavailableError(`database ping failed: ${reasonOf(error)}`, { cause: error });
      }
    },
    close() {
      closing ??= db.destroy().finally(afterClose);
      return closing;
    },
  };
}

/** Runs `attempt` until it resolves, backing off between failures, for at most `timeoutMs`. */
async function retryUntilReachable(attempt: () => Promise<unknown>, timeoutMs: number, logger: Logger): Promise<void> {
  const started = Date.now();
  let delay = FIRST_RETRY_MS;
  for (let n = 1; ; n++) {
    try {
      await attempt();
      return;
    } catch (error) {
      const reason = reasonOf(error);
      if (isPermanent(error)) {
        throw new StoreUnavailableError(`database refused the connection, not retrying: ${reason}`, { cause: error });
      }
      const elapsed = Date.now() - started;
      const left = timeoutMs - elapsed;
      if (left <= 0) {
        throw new StoreUnavailableError(`database unreachable after ${n} attempt(s) in ${elapsed} ms: ${reason}`, { cause: error });
      }
      const wait = Math.min(delay, left);
      logger.warn('database unreachable, retrying', { attempt: n, retryInMs: wait, reason });
      await new Promise((resolve) => setTimeout(resolve, wait));
      delay = Math.min(delay * 2, MAX_RETRY_MS);
    }
  }
}

/** Wrong credentials (class 28) or a database that does not exist (3D000) will not fix themselves. */
function isPermanent(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('28') || code === '3D000');
}

async function ensureSchema(db: Kysely<StoreSchema>, schema: string): Promise<void> {
  // Look first, so a role without CREATE on the database can use a schema made for it.
  const found = await sql`select 1 from pg_namespace where nspname = ${schema}`.execute(db);
  if (found.rows.length > 0) return;
  try {
    await sql`create schema if not exists ${sql.id(schema)}`.execute(db);
  } catch (error) {
    // Two replicas creating it at once: the loser gets a unique violation; the schema exists.
    if ((error as { code?: unknown }).code !== '23505') throw error;
  }
}

/** Rejects with "no answer within N ms" when `promise` takes longer. */
async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  try {
    // race() subscribes to both, so a late rejection of `promise` is never unhandled.
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** host:port/database, without credentials, for logs. */
function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || '5432'}${parsed.pathname}`;
  } catch {
    return '(unparsable url)';
  }
}
