import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { InMemoryEventBus } from '../src/bus/in-memory-event-bus.js';
import { ManualClock } from '../src/engine/clock.js';
import { createWorkflowEngine } from '../src/engine/workflow-engine.js';
import type { ToolInvoker } from '../src/engine/ports/tool-invoker.js';
import { PostgresWorkflowStore } from '../src/store/postgres-workflow-store.js';
import { silentLogger } from '../src/telemetry/logger.js';
import { openTestDatabase } from '../tests/helpers/test-database.js';
import { machines as benchMachines } from './bench-counter-machine.js';
import { ownedKeys, runClosedLoop } from './load-runner.js';
import { cpuUsPerOp, isLocalPostgres, startCpuMeter } from './process-stats.js';

/**
 * The engine without RPC: SendEvent-equivalent calls (`engine.sendEvent`) on bench-counter
 * workflows in this process, against DATABASE_URL (a fresh schema) or an in-memory PGlite.
 * Prints transitions/s and the CPU this process spent per transition, which is what profiling
 * the engine itself needs (run with --cpu-prof to see where it goes). Not part of `make bench`:
 *
 *   DATABASE_URL=... node --import tsx bench/engine-inprocess.ts --workflows 1000 --concurrency 1,8,32,128
 *
 * With `--timers N` it then starts N workflows each waiting on one timer, all due at the same
 * instant of a manual clock, advances the clock, and reports how long until all N fired;
 * `--cpu-prof-timers FILE` writes a V8 CPU profile of just that firing window (starts excluded).
 */
const { values } = parseArgs({
  options: {
    workflows: { type: 'string', default: '1000' },
    transitions: { type: 'string' },
    concurrency: { type: 'string', default: '1,8,32,128' },
    rounds: { type: 'string', default: '1' },
    'max-batch': { type: 'string', default: '64' },
    'max-in-flight': { type: 'string', default: '2' },
    timers: { type: 'string', default: '0' },
    'cpu-prof-timers': { type: 'string' },
  },
});
const workflows = Number(values.workflows);
const transitions = Number(values.transitions ?? values.workflows);
const levels = values.concurrency.split(',').map(Number);

const noTools: ToolInvoker = { has: () => false, invoke: () => Promise.reject(new Error('no tools')) };
const db = await openTestDatabase();
// Postgres's CPU per transition is read from /proc when the database is a server on this machine (null in the output otherwise).
const localPostgres = db.kind === 'postgres' && isLocalPostgres(process.env.DATABASE_URL);
const batchSizes: number[] = [];
const store = new PostgresWorkflowStore(db.db, {
  maxCommitBatch: Number(values['max-batch']),
  maxConcurrentCommits: Number(values['max-in-flight']),
  onCommitBatch: (size) => batchSizes.push(size),
});
const bus = new InMemoryEventBus();
// A manual clock: every timer is armed for the same instant, and the run advances the clock to it.
const clock = new ManualClock(Date.now());
const timers = Number(values.timers);
const engine = createWorkflowEngine({ store, bus, machines: benchMachines, tools: noTools, logger: silentLogger, options: { clock, ...(timers ? { timerPollIntervalMs: 10 } : {}) } });
await engine.start();
try {
  const ids: string[] = [];
  const starts = await runClosedLoop({
    total: workflows,
    concurrency: 16,
    op: async () => {
      ids.push((await engine.startWorkflow({ machineId: 'bench-counter', input: {} })).id);
    },
  });
  process.stdout.write(JSON.stringify({ started: ids.length, on: db.kind, perSec: starts.perSec, load: loadAverage() }) + '\n');
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const concurrency of levels) {
      const owned = ownedKeys(ids.length, concurrency);
      batchSizes.length = 0;
      const cpu = process.cpuUsage();
      const database = startCpuMeter(undefined, localPostgres);
      const result = await runClosedLoop({
        total: transitions,
        concurrency,
        op: async (w, k) => {
          const keys = owned[w]!;
          await engine.sendEvent({ workflowId: ids[keys[k % keys.length]!]!, event: { type: 'counter.increment' } });
        },
      });
      const used = process.cpuUsage(cpu);
      const usPerTransition = Math.round((used.user + used.system) / transitions);
      const line = { concurrency, perSec: result.perSec, p50: result.latency.p50, p99: result.latency.p99, cpuUsPerTransition: usPerTransition, postgresUsPerTransition: cpuUsPerOp(database().postgresCpuPct, result.perSec), meanBatch: mean(batchSizes), load: loadAverage() };
      process.stdout.write(JSON.stringify(line) + '\n');
    }
  }
  if (timers) await fireTimers(timers);
} finally {
  await engine.stop();
  await bus.close();
  await db.close();
}

/** `count` workflows each waiting on one timer, all due at one instant: how fast they all fire. */
async function fireTimers(count: number): Promise<void> {
  const timerMs = 60_000;
  await runClosedLoop({ total: count, concurrency: 16, op: async () => void (await engine.startWorkflow({ machineId: 'bench-counter', input: { timerMs } })) });
  let fired = 0;
  let allFired!: () => void;
  const done = new Promise<void>((resolve) => (allFired = resolve));
  const unsubscribe = await bus.subscribeAll((m) => {
    if (m.eventType.startsWith('xstate.after.') && ++fired === count) allFired();
  });
  batchSizes.length = 0;
  const profiler = values['cpu-prof-timers'] ? await startProfiler() : undefined;
  const cpu = process.cpuUsage();
  const database = startCpuMeter(undefined, localPostgres);
  const started = performance.now();
  clock.advance(timerMs);
  await done;
  const ms = performance.now() - started;
  const used = process.cpuUsage(cpu);
  if (profiler) writeFileSync(values['cpu-prof-timers']!, JSON.stringify(await profiler.stop()));
  await unsubscribe();
  const perSec = Math.round((count / ms) * 1000);
  const line = { timers: count, allFiredMs: Math.round(ms), perSec, cpuUsPerTimer: Math.round((used.user + used.system) / count), postgresUsPerTimer: cpuUsPerOp(database().postgresCpuPct, perSec), meanBatch: mean(batchSizes), load: loadAverage() };
  process.stdout.write(JSON.stringify(line) + '\n');
}

/** The in-process inspector's sampling profiler (what --cpu-prof runs, for a window of our choosing). */
async function startProfiler(): Promise<{ stop(): Promise<object> }> {
  const session = new Session();
  session.connect();
  const post = (method: string, params?: object) =>
    new Promise<unknown>((resolve, reject) => session.post(method, params, (error, result) => (error ? reject(error) : resolve(result))));
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: 500 });
  await post('Profiler.start');
  return {
    async stop() {
      const { profile } = (await post('Profiler.stop')) as { profile: object };
      session.disconnect();
      return profile;
    },
  };
}

function mean(values: number[]): number {
  return values.length ? Math.round((values.reduce((a, b) => a + b, 0) / values.length) * 10) / 10 : 0;
}

function loadAverage(): string {
  return loadavg().map((l) => l.toFixed(2)).join(' ');
}
