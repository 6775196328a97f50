import { create, toBinary } from '@bufbuild/protobuf';
import { createClient } from '@connectrpc/connect';
import { OrchestratorService, SendEventRequestSchema } from '../gen/orchestrator/v1/orchestrator_pb.js';
import { createBenchTransport, RawConnectJsonClient, type EngineClient, type Protocol } from './bench-clients.js';
import { pickBenchMachine, type BenchMachine } from './bench-machines.js';
import { CeilingTable, type CeilingLevelOptions } from './ceiling-bench.js';
import type { BenchServer } from './bench-server.js';
import { ownedKeys, runClosedLoop, runOpenLoop } from './load-runner.js';
import { pairCeiling, type PairedCeiling } from './paired-ceiling.js';
import { startServerMeter, type CommitShare } from './server-meter.js';
import { cpuUsPerOp, startCpuMeter } from './process-stats.js';
import { round, summarize, type LatencySummary } from './stats.js';
import { startWorkflows, waitUntilReady } from './workflow-fleet.js';
import { LeanGrpcConnection, nestedUint32 } from './lean-grpc.js';
import { connectWatchSource, leanWatchSource, WatchFleet, type WatchSource } from './watch-fleet.js';

/** One protocol at one concurrency. */
export interface EngineLevel {
  protocol: Protocol;
  concurrency: number;
  transitions: number;
  /** Durable transitions per second (each SendEvent commits one). */
  perSec: number;
  /** SendEvent call to its reply. */
  reply: LatencySummary;
  /** SendEvent call to the watcher's stream message for that version (watched workflows only). */
  watch: LatencySummary;
  /** Watched transitions whose message had not arrived 5 s after the level ended. */
  watchMissed: number;
  serverCpuPct: number;
  /** Every local Postgres process; NaN when the database is not on this machine. */
  postgresCpuPct: number;
  clientCpuPct: number;
  /** The server's main thread waiting for a core, and the whole machine's CPU (see CpuShare). */
  serverWaitPct: number;
  machineCpuPct: number;
  /** CPU per transition, in microseconds: the server's and Postgres's (see serverCpuPct, postgresCpuPct). */
  serverUsPerTransition: number;
  /**
   * The server's main thread's sleeps (each ending in a wake-up) per transition: the hops a
   * transition costs the server, shared by a batch's transitions (see CpuShare.serverSleeps).
   */
  serverSleepsPerTransition: number;
  postgresUsPerTransition: number;
  /** The server's main thread paused for garbage collection, in microseconds a transition (its /metrics); NaN from a server without the histogram. */
  serverGcUsPerTransition: number;
  /** The server's group commits over the level (its /metrics); absent from a server without them. */
  commit?: CommitShare;
  /** The ceiling measured right before and right after this level (see EngineOptions.pairedCeiling); absent without one. */
  ceiling?: PairedCeiling;
}

/**
 * One protocol with SendEvents arriving at a fixed average rate (open loop, see runOpenLoop): an
 * in-flight level's numbers, with the rate in place of the in-flight count.
 */
export interface OpenEngineLevel extends Omit<EngineLevel, 'concurrency' | 'ceiling'> {
  /** Arrivals per second asked for; `perSec` is what was achieved (drain included). */
  offeredPerSec: number;
  /** Most SendEvents outstanding at one moment. */
  mostOutstanding: number;
  /** How late the calls started after their scheduled arrivals (the harness's timers). */
  startLag: LatencySummary;
}

export interface EngineResult {
  machine: string;
  workflows: number;
  watched: number;
  /** Workflows started per second while setting up (StartWorkflow over gRPC, 32 in flight). */
  startsPerSec: number;
  levels: EngineLevel[];
  openLevels: OpenEngineLevel[];
}

export interface EngineOptions {
  workflows: number;
  /** Transitions per protocol and level (at least). */
  transitions: number;
  /** Least time per protocol and level, in ms (see runClosedLoop). */
  minLevelMs: number;
  protocols: Protocol[];
  concurrencies: number[];
  watch: number | 'all';
  /** Seconds of SendEvents before the first level, so that it is not measured on a cold JIT. */
  warmupSeconds: number;
  machine: string;
  /** Who sends the SendEvents and reads the watch streams (see ENGINE_CLIENTS). */
  client: EngineClient;
  /** Open-loop levels: SendEvents per second, each protocol at each rate, after the in-flight levels. */
  openRates: number[];
  /**
   * Runs a ceiling level (see ceiling-bench.ts) at the same concurrency on the same database right
   * before and right after each in-flight level, so each ratio is over the ceiling measured around
   * it (these machines drift by tens of percent within minutes; see PairedCeiling); unset: no pairing.
   */
  pairedCeiling?: CeilingLevelOptions & { databaseUrl: string };
}

const CALL_TIMEOUT_MS = 30_000;

/**
 * Durable transitions through the real server: `workflows` instances, each in-flight SendEvent
 * on a workflow of its own (a worker owns its workflows), `transitions` per protocol and level.
 * Watchers (one WatchWorkflow stream per watched workflow, over a gRPC connection of their own)
 * time the notification of each transition against its send.
 */
export async function runEngine(server: BenchServer, options: EngineOptions): Promise<EngineResult> {
  const control = createBenchTransport('grpc', server.baseUrl, 1);
  const watching = watchSource(server.baseUrl, options.client);
  const client = createClient(OrchestratorService, control.transport);
  let watchers: WatchFleet | undefined;
  let ceiling: CeilingTable | undefined;
  try {
    const machine = await pickBenchMachine(client, options.machine);
    const started = await startWorkflows(client, machine, options.workflows, { concurrency: 32 });
    const workflows = await waitUntilReady(client, machine, started.workflows, 60_000);
    const ids = workflows.map((w) => w.id);
    const versions = workflows.map((w) => w.version);
    const steps = new Array<number>(ids.length).fill(0);
    const watched = options.watch === 'all' ? ids.length : Math.min(options.watch, ids.length);
    watchers = await WatchFleet.open(watching.source, ids.slice(0, watched), 60_000);

    const fleet = { ids, versions, steps, watchers, client: options.client };
    // The JIT keeps compiling for tens of seconds at the lowest levels' rates (TurboFan was a
    // quarter of the server's CPU 10 s into a 1-in-flight run): warm every path up first, at
    // every level's concurrency, since each takes paths of its own (a lone commit at 1 in
    // flight, batches of a few at 8). Warmed at the highest level only, a second 1-in-flight
    // level ran 9-17% faster than the first (bench/JOURNAL.md, Session 23).
    const slice = (options.warmupSeconds * 1000) / (options.protocols.length * options.concurrencies.length);
    for (const protocol of options.protocols) {
      for (const concurrency of options.concurrencies) {
        const sender = createSender(server, machine, protocol, concurrency, fleet);
        try {
          const end = performance.now() + slice;
          while (performance.now() < end) await runClosedLoop({ total: concurrency * 10, concurrency, op: sender.send });
        } finally {
          sender.close();
        }
      }
    }
    await watchers.settle(5_000);

    const pairing = options.pairedCeiling;
    if (pairing) ceiling = await CeilingTable.open(pairing.databaseUrl, ids.length);
    const levels: EngineLevel[] = [];
    for (const protocol of options.protocols) {
      for (const concurrency of options.concurrencies) {
        const before = ceiling && pairing ? await ceiling.level(concurrency, 'txn', pairing) : undefined;
        const measured = await level(server, machine, protocol, concurrency, { transitions: options.transitions, minDurationMs: options.minLevelMs }, fleet);
        if (!before || !ceiling || !pairing) levels.push(measured);
        else levels.push({ ...measured, ceiling: pairCeiling(before, await ceiling.level(concurrency, 'txn', pairing), measured.perSec) });
      }
    }
    const openLevels: OpenEngineLevel[] = [];
    for (const protocol of options.protocols) {
      for (const rate of options.openRates) {
        openLevels.push(await openLevel(server, machine, protocol, rate, { transitions: options.transitions, minDurationMs: options.minLevelMs }, fleet));
      }
    }
    return { machine: machine.id, workflows: ids.length, watched, startsPerSec: started.load.perSec, levels, openLevels };
  } finally {
    watchers?.close();
    control.close();
    watching.close();
    await ceiling?.close();
  }
}

async function level(
  server: BenchServer,
  machine: BenchMachine,
  protocol: Protocol,
  concurrency: number,
  { transitions, minDurationMs }: { transitions: number; minDurationMs: number },
  fleet: Fleet,
): Promise<EngineLevel> {
  const { send, close } = createSender(server, machine, protocol, concurrency, fleet);
  try {
    const warmup = () => runClosedLoop({ total: Math.max(concurrency * 2, Math.min(200, Math.ceil(transitions / 5))), concurrency, op: send });
    const { result, ...measured } = await measureLevel(server, fleet.watchers, warmup, () => runClosedLoop({ total: transitions, concurrency, op: send, minDurationMs }));
    return { protocol, concurrency, transitions: result.ops, perSec: result.perSec, reply: result.latency, ...measured };
  } finally {
    close();
  }
}

/**
 * A level's measurement around `run`: a warm-up first (it opens every connection and JIT-compiles
 * both sides, outside the timing), the watchers drained and reset, then the server's and this
 * process's CPU over the run, the server's group commits, and what the watchers saw of it.
 */
async function measureLevel<R extends { perSec: number; ops: number }>(server: BenchServer, watchers: WatchFleet, warmup: () => Promise<unknown>, run: () => Promise<R>) {
  await warmup();
  await watchers.settle(5_000);
  watchers.reset();
  // Scraped outside the CPU meter's window: a scrape is work of its own on the server.
  const meter = await startServerMeter(server.baseUrl);
  const cpu = startCpuMeter(server.pid, server.localPostgres);
  const result = await run();
  const usage = cpu();
  const { commit, gcSeconds } = await meter();
  const watchMissed = await watchers.settle(5_000);
  return {
    result,
    ...(commit ? { commit } : {}),
    watch: summarize(watchers.latencies()),
    watchMissed,
    ...usage,
    serverUsPerTransition: cpuUsPerOp(usage.serverCpuPct, result.perSec),
    serverSleepsPerTransition: result.ops > 0 ? round(usage.serverSleeps / result.ops, 2) : NaN,
    // The scrapes around the run are counted with it (a collection they cause is the server's all the same).
    serverGcUsPerTransition: gcSeconds !== undefined && result.ops > 0 ? round((gcSeconds * 1e6) / result.ops, 1) : NaN,
    postgresUsPerTransition: cpuUsPerOp(usage.postgresCpuPct, result.perSec),
  };
}

/** Sockets of the Connect JSON client in an open-loop level: calls past them wait for one (in the reply latency). */
const OPEN_LOOP_SOCKETS = 64;

/**
 * SendEvents arriving at `rate` per second on their own schedule, each on a workflow with no
 * event outstanding (the least recently used one).
 */
async function openLevel(
  server: BenchServer,
  machine: BenchMachine,
  protocol: Protocol,
  rate: number,
  { transitions, minDurationMs }: { transitions: number; minDurationMs: number },
  fleet: Fleet,
): Promise<OpenEngineLevel> {
  const sender = sendEventCaller(server.baseUrl, protocol, OPEN_LOOP_SOCKETS, fleet.client);
  const sendTo = workflowSender(machine, fleet, sender.call);
  // Idle workflows, least recently used first: consecutive arrivals go to different workflows.
  const idle = fleet.ids.map((_, i) => i);
  const send = async () => {
    const i = idle.shift();
    if (i === undefined) throw new Error(`all ${fleet.ids.length} workflows have an event outstanding`);
    try {
      await sendTo(i);
    } finally {
      idle.push(i);
    }
  };
  try {
    const warmup = () => runClosedLoop({ total: Math.max(16, Math.min(200, Math.ceil(transitions / 5))), concurrency: 8, op: send });
    const run = () => runOpenLoop({ ratePerSec: rate, total: transitions, minDurationMs, maxOutstanding: fleet.ids.length, op: send });
    const { result, ...measured } = await measureLevel(server, fleet.watchers, warmup, run);
    const { ops, perSec, mostOutstanding, latency, startLag } = result;
    return { protocol, offeredPerSec: rate, transitions: ops, perSec, mostOutstanding, reply: latency, startLag, ...measured };
  } finally {
    sender.close();
  }
}

interface Fleet {
  ids: string[];
  versions: number[];
  steps: number[];
  watchers: WatchFleet;
  client: EngineClient;
}

/** SendEvent as worker `w`'s k-th call of a closed loop: on a workflow only that worker sends to. */
function createSender(server: BenchServer, machine: BenchMachine, protocol: Protocol, concurrency: number, fleet: Fleet) {
  const sender = sendEventCaller(server.baseUrl, protocol, concurrency, fleet.client);
  const sendTo = workflowSender(machine, fleet, sender.call);
  const owned = ownedKeys(fleet.ids.length, concurrency);
  const send = async (worker: number, k: number) => {
    const keys = owned[worker]!;
    await sendTo(keys[k % keys.length]!);
  };
  return { send, close: sender.close };
}

/**
 * The next event of workflow i's loop, its watcher told first; checks that it made exactly one
 * transition. The caller sees to it that workflow i has no other event outstanding.
 */
function workflowSender(machine: BenchMachine, fleet: Fleet, call: (workflowId: string, event: ReturnType<BenchMachine['loopEvent']>) => Promise<number | undefined>) {
  const { ids, versions, steps, watchers } = fleet;
  return async (i: number) => {
    const event = machine.loopEvent(steps[i]!);
    watchers.expect(i, versions[i]! + 1);
    const version = (await call(ids[i]!, event)) ?? 0;
    if (version !== versions[i]! + 1) throw new Error(`workflow ${ids[i]} went from version ${versions[i]} to ${version} on one event; the harness expects one transition per event`);
    versions[i] = version;
    steps[i]!++;
  };
}

/** The watchers' streams, over one gRPC connection of their own, with the chosen client. */
function watchSource(baseUrl: string, client: EngineClient): { source: WatchSource; close: () => void } {
  if (client === 'lean') {
    const connection = new LeanGrpcConnection(baseUrl);
    return { source: leanWatchSource(connection), close: () => connection.close() };
  }
  const transport = createBenchTransport('grpc', baseUrl, 1);
  return { source: connectWatchSource(createClient(OrchestratorService, transport.transport)), close: () => transport.close() };
}

const SEND_EVENT = 'orchestrator.v1.OrchestratorService/SendEvent';

/** SendEvent over `protocol` with the chosen client: resolves to the workflow's version after it. */
function sendEventCaller(baseUrl: string, protocol: Protocol, concurrency: number, client: EngineClient): { call: (workflowId: string, event: ReturnType<BenchMachine['loopEvent']>) => Promise<number | undefined>; close: () => void } {
  if (client === 'connect') {
    const bench = createBenchTransport(protocol, baseUrl, concurrency);
    const rpc = createClient(OrchestratorService, bench.transport);
    return { call: async (workflowId, event) => (await rpc.sendEvent({ workflowId, event }, { timeoutMs: CALL_TIMEOUT_MS })).workflow?.version, close: () => bench.close() };
  }
  if (protocol === 'grpc') {
    const connection = new LeanGrpcConnection(baseUrl);
    return {
      call: async (workflowId, event) => nestedUint32(await connection.unary(`/${SEND_EVENT}`, toBinary(SendEventRequestSchema, create(SendEventRequestSchema, { workflowId, event })), CALL_TIMEOUT_MS), 1, 9), // SendEventResponse.workflow.version
      close: () => connection.close(),
    };
  }
  if (protocol === 'connect-json') {
    const json = new RawConnectJsonClient(baseUrl, concurrency);
    return { call: async (workflowId, event) => ((await json.call(SEND_EVENT, { workflowId, event })) as { workflow?: { version?: number } }).workflow?.version, close: () => json.close() };
  }
  throw new Error(`no lean client for ${protocol}`);
}
