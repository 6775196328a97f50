import type { BenchOptions, Part } from './bench-options.js';
import { startBenchServer, type BenchServer } from './bench-server.js';
import { runCeiling, type CeilingResult } from './ceiling-bench.js';
import { runEngine, type EngineResult } from './engine-bench.js';
import { describeMachine, type MachineInfo } from './machine-info.js';
import { PartUnavailableError } from './part-unavailable-error.js';
import { runRpc, type RpcResult } from './rpc-bench.js';
import { medianOfRuns } from './stats.js';
import { prepareStorage, type StorageRun, type StorageSetup } from './storage-bench.js';
import { runTimers, type TimerResult } from './timer-bench.js';

/**
 * How one part went. `ok` carries every run and their median (numbers merged path by path);
 * `unavailable` means this server or setup cannot run it (see PartUnavailableError); `failed`
 * is a real failure of the part or of the server under it.
 */
export type PartOutcome<T> =
  | { status: 'ok'; runs: T[]; median: T }
  | PartProblem;

export type PartProblem = { status: 'unavailable'; reason: string } | { status: 'failed'; error: string };

export interface BenchReport {
  startedAt: string;
  finishedAt: string;
  options: BenchOptions;
  machine: MachineInfo;
  parts: {
    ceiling?: PartOutcome<CeilingResult>;
    rpc?: PartOutcome<RpcResult>;
    engine?: PartOutcome<EngineResult>;
    timers?: PartOutcome<TimerResult>;
    storage?: PartOutcome<StorageRun> & { setup?: StorageSetup };
  };
}

type Results = { ceiling: CeilingResult; rpc: RpcResult; engine: EngineResult; timers: TimerResult };

/**
 * Runs the chosen parts `options.runs` times, interleaved (run 1 of every part, then run 2...),
 * so the ceiling and the engine are measured under the same conditions. Each run of a part
 * gets a server of its own on a fresh schema (unless `shareServer`); storage fills one server
 * once and repeats only its queries. A part that fails or is unavailable is recorded and the others go on.
 * `log` receives progress lines.
 */
export async function runBench(options: BenchOptions, log: (line: string) => void = () => {}): Promise<BenchReport> {
  const startedAt = new Date().toISOString();
  const machine = await describeMachine(options.databaseUrl, process.env.REDIS_URL || undefined);
  const servers = new ServerSource(options);
  let parts: BenchReport['parts'];
  try {
    parts = await runRepeatedParts(options, servers, log);
    if (options.parts.includes('storage')) parts.storage = await runStorage(options, servers, log);
  } finally {
    await servers.close();
  }
  return { startedAt, finishedAt: new Date().toISOString(), options: { ...options, databaseUrl: redact(options.databaseUrl) }, machine, parts };
}

/** The report may be shared: keep the database's address, drop its password. */
function redact(url: string | undefined): string | undefined {
  if (!url) return url;
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable URL)';
  }
}

/** Every part but storage, `options.runs` times interleaved; a part stops at its first problem. */
async function runRepeatedParts(options: BenchOptions, servers: ServerSource, log: (line: string) => void): Promise<BenchReport['parts']> {
  const runs: { [P in keyof Results]?: Results[P][] } = {};
  const stopped = new Map<Part, PartProblem>();
  for (let run = 1; run <= options.runs; run++) {
    for (const part of options.parts) {
      if (part === 'storage' || stopped.has(part)) continue;
      log(`run ${run}/${options.runs}: ${part}`);
      const started = performance.now();
      try {
        const result = await runPart(part, options, servers);
        ((runs[part] ??= []) as unknown[]).push(result);
        log(`run ${run}/${options.runs}: ${part} done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
      } catch (error) {
        const outcome = failure(error);
        stopped.set(part, outcome);
        log(`run ${run}/${options.runs}: ${part} ${outcome.status}: ${'reason' in outcome ? outcome.reason : outcome.error}`);
      }
    }
  }
  const parts: Record<string, unknown> = {};
  for (const part of options.parts) {
    if (part === 'storage') continue;
    const done = runs[part] as unknown[] | undefined;
    parts[part] = stopped.get(part) ?? { status: 'ok', runs: done, median: medianOfRuns(done ?? []) };
  }
  return parts as BenchReport['parts'];
}

async function runPart(part: Exclude<Part, 'storage'>, options: BenchOptions, servers: ServerSource): Promise<Results[keyof Results]> {
  if (part === 'ceiling') {
    if (!options.databaseUrl) throw new PartUnavailableError('the ceiling needs a real Postgres: set DATABASE_URL');
    return runCeiling({ databaseUrl: options.databaseUrl, concurrencies: options.concurrencies, txns: options.ceiling.txns, minLevelMs: options.minLevelSeconds * 1000, rows: options.engine.workflows, maxPool: options.ceiling.maxPool });
  }
  return servers.with<Results[keyof Results]>((server) => {
    if (part === 'rpc') return runRpc(server, options.rpc);
    if (part === 'engine') {
      const minLevelMs = options.minLevelSeconds * 1000;
      const { databaseUrl } = options;
      const pairedCeiling = databaseUrl && options.pairCeiling ? { databaseUrl, txns: options.ceiling.txns, minLevelMs, maxPool: options.ceiling.maxPool } : undefined;
      return runEngine(server, { ...options.engine, concurrencies: options.concurrencies, minLevelMs, machine: options.machine, pairedCeiling });
    }
    return runTimers(server, { ...options.timers, machine: options.machine, redisUrl: process.env.REDIS_URL || undefined });
  });
}

async function runStorage(options: BenchOptions, servers: ServerSource, log: (line: string) => void): Promise<NonNullable<BenchReport['parts']['storage']>> {
  try {
    return await servers.with(async (server) => {
      log(`storage: storing ${options.storage.count} workflows (budget ${options.storage.budgetSeconds} s)`);
      const storage = await prepareStorage(server, { ...options.storage, machine: options.machine });
      try {
        log(`storage: stored ${storage.setup.stored} in ${storage.setup.insertSeconds} s`);
        const measured: StorageRun[] = [];
        for (let run = 1; run <= options.runs; run++) {
          log(`run ${run}/${options.runs}: storage queries`);
          measured.push(await storage.measure());
        }
        return { status: 'ok' as const, setup: storage.setup, runs: measured, median: medianOfRuns(measured) };
      } finally {
        storage.close();
      }
    });
  } catch (error) {
    const outcome = failure(error);
    log(`storage ${outcome.status}: ${'reason' in outcome ? outcome.reason : outcome.error}`);
    return outcome;
  }
}

/** A fresh server per use, or (shareServer) one server started on first use and stopped by `close`. */
class ServerSource {
  #shared: Promise<BenchServer> | undefined;
  constructor(private readonly options: BenchOptions) {}

  #start(): Promise<BenchServer> {
    const { databaseUrl, serverPoolSize: poolSize, serverNodeFlags: nodeFlags, cpuProfDir, compiled, distDir } = this.options;
    return startBenchServer({ databaseUrl, poolSize, nodeFlags, cpuProfDir, compiled, distDir });
  }

  async with<T>(body: (server: BenchServer) => Promise<T>): Promise<T> {
    if (this.options.shareServer) return body(await (this.#shared ??= this.#start()));
    const server = await this.#start();
    try {
      return await body(server);
    } finally {
      await server.stop();
    }
  }

  async close(): Promise<void> {
    const shared = this.#shared;
    this.#shared = undefined;
    if (shared) await (await shared.catch(() => undefined))?.stop();
  }
}

function failure(error: unknown): PartProblem {
  if (error instanceof PartUnavailableError) return { status: 'unavailable', reason: error.message };
  const err = error as Error;
  const cause = err.cause instanceof Error && !err.message.includes(err.cause.message) ? ` (${err.cause.message})` : '';
  return { status: 'failed', error: `${err.message ?? String(error)}${cause}` };
}
