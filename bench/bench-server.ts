import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startServerProcess, type ServerProcess } from '../tests/helpers/server-process.js';
import { isLocalPostgres, readMemory, type MemoryUsage } from './process-stats.js';

/** Where and how a benchmark's server runs. */
export interface BenchServerOptions {
  /** Postgres URL; unset means an in-memory PGlite (only useful for smoke runs). */
  databaseUrl: string | undefined;
  /** DATABASE_POOL_SIZE of the server; unset keeps the server's default. */
  poolSize?: number;
  /** Node's flags for the server; unset: production's (SERVER_NODE_FLAGS). */
  nodeFlags?: string[] | undefined;
  /** Write a V8 CPU profile of the server into this directory when it stops. */
  cpuProfDir?: string;
  /** Extra environment for the server. */
  env?: Record<string, string>;
  /** Run the compiled server (`make build`: dist/src/main.js) instead of src/main.ts through tsx. */
  compiled?: boolean;
  /** The compiled tree `compiled` runs (default the repository's dist/). */
  distDir?: string | undefined;
}

/** A server child process with a store of its own. */
export interface BenchServer {
  readonly baseUrl: string;
  readonly pid: number;
  /** Its database is a Postgres server on this machine, whose CPU can be read (process-stats.ts). */
  readonly localPostgres: boolean;
  readonly process: ServerProcess;
  memory(): MemoryUsage;
  /**
   * ANALYZE every table of the server's schema, as pgbench does after its initial load: a
   * bulk fill queried at once would otherwise be planned without statistics (see storage-bench.ts).
   * Resolves false on PGlite (the server's own in-memory database, out of reach).
   */
  analyze(): Promise<boolean>;
  /** Stops the server (SIGTERM, waits for exit), then drops its schema. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts `src/main.ts` (or with `compiled` dist/src/main.js) as a child process (tests/helpers/server-process.ts) on a fresh Postgres
 * schema `bench_<hex>` (dropped by `stop`), or on an in-memory PGlite without a database URL.
 * Loads bench/bench-counter-machine.ts with EXTRA_MODULES. REDIS_URL passes through from this process's environment. Logs at info: the per-call debug
 * line would cost more than the calls being measured.
 */
export async function startBenchServer(options: BenchServerOptions): Promise<BenchServer> {
  const schema = `bench_${randomBytes(5).toString('hex')}`;
  // The benchmark's own machine (bench-counter) is loaded beside the shipped ones.
  const dist = resolve(options.distDir ?? fileURLToPath(new URL('../dist', import.meta.url)));
  const machineModule = options.compiled ? join(dist, 'bench/bench-counter-machine.js') : fileURLToPath(new URL('./bench-counter-machine.ts', import.meta.url));
  const entry = join(dist, 'src/main.js');
  if (options.compiled && !existsSync(entry)) throw new Error(`${entry} is missing: run 'make build' first (--compiled)`);
  const env: Record<string, string> = { LOG_LEVEL: 'info', EXTRA_MODULES: machineModule, ...options.env };
  if (options.databaseUrl) Object.assign(env, { DATABASE_URL: options.databaseUrl, DATABASE_SCHEMA: schema });
  else Object.assign(env, { DATABASE_URL: '', DATA_DIR: ':memory:' });
  if (options.poolSize) env.DATABASE_POOL_SIZE = String(options.poolSize);
  if (options.cpuProfDir) {
    // Node 20 does not take --cpu-prof from NODE_OPTIONS; this preload profiles in-process instead.
    mkdirSync(options.cpuProfDir, { recursive: true });
    env.BENCH_CPU_PROF_DIR = resolve(options.cpuProfDir);
    env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --import ${fileURLToPath(new URL('./cpu-profiler.mjs', import.meta.url))}`.trim();
  }
  const dropSchema = async () => {
    if (options.databaseUrl) await dropBenchSchema(options.databaseUrl, schema);
  };
  let server: ServerProcess;
  try {
    server = await startServerProcess(env, 60_000, options.compiled ? [entry] : undefined, options.nodeFlags);
  } catch (error) {
    await dropSchema();
    throw error;
  }
  let stopped: Promise<void> | undefined;
  return {
    baseUrl: server.baseUrl,
    pid: server.child.pid!,
    localPostgres: isLocalPostgres(options.databaseUrl),
    process: server,
    memory: () => readMemory(server.child.pid!),
    analyze: async () => {
      if (!options.databaseUrl) return false;
      await analyzeSchema(options.databaseUrl, schema);
      return true;
    },
    stop() {
      stopped ??= (async () => {
        try {
          await server.stop('SIGTERM');
        } finally {
          await dropSchema();
        }
      })();
      return stopped;
    },
  };
}

async function analyzeSchema(url: string, schema: string): Promise<void> {
  await withClient(url, async (client) => {
    const { rows } = await client.query<{ name: string }>('select tablename as name from pg_tables where schemaname = $1', [schema]);
    for (const { name } of rows) await client.query(`analyze "${schema}"."${name}"`);
  });
}

/** Drops a schema the harness created; failures are reported, not thrown (cleanup must go on). */
export async function dropBenchSchema(url: string, schema: string): Promise<void> {
  try {
    await withClient(url, (client) => client.query(`drop schema if exists "${schema}" cascade`));
  } catch (error) {
    process.stderr.write(`bench: could not drop schema ${schema}: ${(error as Error).message}\n`);
  }
}

/** `body` on a connection of its own to `url`, closed afterwards whatever happens. */
async function withClient<T>(url: string, body: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    return await body(client);
  } finally {
    await client.end().catch(() => {});
  }
}
