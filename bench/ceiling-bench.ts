import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { dropBenchSchema } from './bench-server.js';
import { ownedKeys, runClosedLoop } from './load-runner.js';
import { cpuUsPerOp, isLocalPostgres, startCpuMeter } from './process-stats.js';
import type { LatencySummary } from './stats.js';

/** One concurrency level of the ceiling. */
export interface CeilingLevel {
  concurrency: number;
  /** pg connections used: min(concurrency, maxPool); more in flight queue in the pool. */
  connections: number;
  txns: number;
  perSec: number;
  latency: LatencySummary;
  /** Every local Postgres process, in % of one core, and per transaction in microseconds; NaN when the database is not on this machine. */
  postgresCpuPct: number;
  postgresUsPerTxn: number;
}

/**
 * The Postgres commit ceiling: what `pg` alone reaches with the engine's write pattern.
 * `txn` is the engine's shape (BEGIN; conditional UPDATE; history INSERT; COMMIT: four round
 * trips); `oneTrip` does the same writes in one statement (a CTE in an implicit transaction:
 * one round trip, one commit), which bounds what batching round trips could gain.
 */
export interface CeilingResult {
  rows: number;
  txn: CeilingLevel[];
  oneTrip: CeilingLevel[];
}

export interface CeilingOptions {
  databaseUrl: string;
  concurrencies: number[];
  /** Transactions per level and variant (at least). */
  txns: number;
  /** Least time per level and variant, in ms (see runClosedLoop). */
  minLevelMs: number;
  /** Rows updated round robin, like the engine's workflows (at least the highest concurrency). */
  rows: number;
  maxPool: number;
}

// Sized like a small machine's persisted snapshot and history row, so bytes written match the engine's.
const SNAPSHOT = JSON.stringify({ status: 'active', value: 'counting', historyValue: {}, context: { count: 0, timerMs: null }, children: {}, output: null, error: null });
const EVENT = JSON.stringify({ type: 'counter.increment' });
const STATE = JSON.stringify('counting');

/**
 * Runs the ceiling in a schema of its own (`bench_<hex>`, dropped afterwards, also on failure):
 * both variants at every concurrency.
 */
export async function runCeiling(options: CeilingOptions): Promise<CeilingResult> {
  const table = await CeilingTable.open(options.databaseUrl, Math.max(options.rows, ...options.concurrencies));
  try {
    const txn: CeilingLevel[] = [];
    const oneTrip: CeilingLevel[] = [];
    for (const concurrency of options.concurrencies) {
      txn.push(await table.level(concurrency, 'txn', options));
      oneTrip.push(await table.level(concurrency, 'oneTrip', options));
    }
    return { rows: table.rows, txn, oneTrip };
  } finally {
    await table.close();
  }
}

/** How long a ceiling level runs and how many connections it may open. */
export type CeilingLevelOptions = Pick<CeilingOptions, 'txns' | 'minLevelMs' | 'maxPool'>;

/**
 * The ceiling's rows and history in a schema of its own (`bench_<hex>`), for levels run one at a
 * time: by the ceiling part, and by the engine part right before each of its levels (a ceiling
 * measured beside the engine level it is compared with). Every transaction updates a row only
 * at the version it last wrote (`WHERE id = $1 AND version = $2`) and fails the level if no row
 * matched: each worker owns its rows, so none ever should.
 */
export class CeilingTable {
  readonly #versions: number[];

  private constructor(
    readonly databaseUrl: string,
    readonly schema: string,
    readonly rows: number,
  ) {
    this.#versions = new Array<number>(rows).fill(1);
  }

  /** Creates the schema with `rows` rows; `close` drops it. */
  static async open(databaseUrl: string, rows: number): Promise<CeilingTable> {
    const schema = `bench_${randomBytes(5).toString('hex')}`;
    const admin = new pg.Client({ connectionString: databaseUrl });
    await admin.connect();
    try {
      await admin.query(`create schema ${schema}`);
      await admin.query(`create table ${schema}.rows (id text primary key, version integer not null, state jsonb not null, snapshot jsonb not null, updated_at timestamptz not null)`);
      await admin.query(`create table ${schema}.history (row_id text not null references ${schema}.rows (id), version integer not null, event_type text not null, event jsonb not null, from_state jsonb, to_state jsonb not null, snapshot jsonb not null, at timestamptz not null, primary key (row_id, version))`);
      await admin.query(`insert into ${schema}.rows select 'row-' || i, 1, $1, $2, now() from generate_series(0, $3 - 1) i`, [STATE, SNAPSHOT, rows]);
    } catch (error) {
      await dropBenchSchema(databaseUrl, schema);
      throw error;
    } finally {
      await admin.end().catch(() => {});
    }
    return new CeilingTable(databaseUrl, schema, rows);
  }

  /** One level: `concurrency` transactions in flight (at most `rows`) of one variant. */
  level(concurrency: number, variant: 'txn' | 'oneTrip', options: CeilingLevelOptions): Promise<CeilingLevel> {
    if (concurrency > this.rows) throw new RangeError(`a ceiling level of ${concurrency} in flight needs at least as many rows (${this.rows})`);
    return level({ ...options, databaseUrl: this.databaseUrl }, this.schema, concurrency, this.rows, this.#versions, variant);
  }

  close(): Promise<void> {
    return dropBenchSchema(this.databaseUrl, this.schema);
  }
}

async function level(
  options: CeilingLevelOptions & { databaseUrl: string },
  schema: string,
  concurrency: number,
  rows: number,
  versions: number[],
  variant: 'txn' | 'oneTrip',
): Promise<CeilingLevel> {
  const connections = Math.min(concurrency, options.maxPool);
  const pool = new pg.Pool({ connectionString: options.databaseUrl, max: connections });
  pool.on('error', () => {}); // an idle client's error surfaces on its next query
  const update = `update ${schema}.rows set version = $2 + 1, state = $3, snapshot = $4, updated_at = now() where id = $1 and version = $2`;
  const insert = `insert into ${schema}.history (row_id, version, event_type, event, from_state, to_state, snapshot, at) values ($1, $2 + 1, 'counter.increment', $5, $3, $3, $4, now())`;
  const cte = `with u as (${update} returning id) insert into ${schema}.history (row_id, version, event_type, event, from_state, to_state, snapshot, at) select id, $2 + 1, 'counter.increment', $5, $3, $3, $4, now() from u`;
  const owned = ownedKeys(rows, concurrency);

  const write = async (worker: number, k: number) => {
    const keys = owned[worker]!;
    const row = keys[k % keys.length]!;
    const id = `row-${row}`;
    const version = versions[row]!;
    const values = [id, version, STATE, SNAPSHOT, EVENT];
    const client = await pool.connect();
    try {
      if (variant === 'oneTrip') {
        const res = await client.query({ name: `${schema}-cte`, text: cte, values });
        if (res.rowCount !== 1) throw new Error(`version conflict on ${id}@${version}`);
      } else {
        await client.query('begin');
        try {
          const res = await client.query({ name: `${schema}-update`, text: update, values: values.slice(0, 4) });
          if (res.rowCount !== 1) throw new Error(`version conflict on ${id}@${version}`);
          await client.query({ name: `${schema}-insert`, text: insert, values });
          await client.query('commit');
        } catch (error) {
          await client.query('rollback').catch(() => {});
          throw error;
        }
      }
      versions[row] = version + 1;
    } finally {
      client.release();
    }
  };

  try {
    // Warm-up: open every connection and prepare the statements on it, outside the timing.
    await runClosedLoop({ total: connections * 2, concurrency, op: write });
    // The warm-up opened every connection: no backend starts or exits within the measurement.
    const cpu = startCpuMeter(undefined, isLocalPostgres(options.databaseUrl));
    const result = await runClosedLoop({ total: options.txns, concurrency, op: write, minDurationMs: options.minLevelMs });
    const { postgresCpuPct } = cpu();
    return { concurrency, connections, txns: result.ops, perSec: result.perSec, latency: result.latency, postgresCpuPct, postgresUsPerTxn: cpuUsPerOp(postgresCpuPct, result.perSec) };
  } finally {
    await pool.end();
  }
}
