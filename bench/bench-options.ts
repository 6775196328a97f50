import { parseArgs } from 'node:util';
import { ENGINE_CLIENTS, type EngineClient, type Protocol } from './bench-clients.js';
import { SERVER_NODE_FLAGS } from '../tests/helpers/server-process.js';

export const PARTS = ['ceiling', 'rpc', 'engine', 'timers', 'storage'] as const;
export type Part = (typeof PARTS)[number];

/**
 * RPC clients of the `rpc` part: connect-node per protocol, a raw node:http JSON client, and the
 * external load generators wrk (Connect JSON, HTTP/1.1) and h2load (gRPC, h2) when installed.
 * All call GetInfo except `noop-wrk`: wrk calling grpc.health.v1.Health/Check, a call that does
 * nothing (what load balancers poll), for the no-op target.
 */
export type RpcClientKind = Protocol | 'connect-json-raw' | 'connect-json-wrk' | 'grpc-h2load' | 'noop-wrk';
export const RPC_CLIENTS: readonly RpcClientKind[] = ['noop-wrk', 'connect-json-wrk', 'grpc-h2load', 'connect-json', 'connect-json-raw', 'grpc', 'grpc-web'];

/** Every knob of a benchmark run; `parseBenchArgs` fills the defaults (a full run, ~10 min on 2 cores). */
export interface BenchOptions {
  parts: Part[];
  /** Each part runs this many times; the tables quote medians. */
  runs: number;
  /** Postgres URL (DATABASE_URL); the ceiling part needs it, the others fall back to PGlite. */
  databaseUrl: string | undefined;
  concurrencies: number[];
  /** Least time each ceiling and engine level runs, past its transactions/transitions, in seconds. */
  minLevelSeconds: number;
  ceiling: { txns: number; maxPool: number };
  /** With Postgres: ceiling levels right before and right after each engine in-flight level, the ratio's denominator (see EngineOptions.pairedCeiling). */
  pairCeiling: boolean;
  rpc: { calls: number; concurrency: number; clients: RpcClientKind[] };
  engine: { workflows: number; transitions: number; protocols: Protocol[]; watch: number | 'all'; warmupSeconds: number; client: EngineClient; openRates: number[] };
  timers: { count: number; warmup: number; minLeadMs: number; timeoutMs: number; maxStartSeconds: number };
  storage: { count: number; budgetSeconds: number; active: number; watchers: number; idleSeconds: number; queryRepeats: number };
  /** Machine for engine/storage: a shipped machine id, or 'auto' (bench-counter if shipped). */
  machine: string;
  /** DATABASE_POOL_SIZE of the server; unset: the server's default. */
  serverPoolSize: number | undefined;
  /** Node's flags for the server; unset: production's (SERVER_NODE_FLAGS). */
  serverNodeFlags: string[] | undefined;
  /** Run the compiled server (dist/, `make build`) instead of src/main.ts through tsx. */
  compiled: boolean;
  /** The compiled tree to run with `compiled` (default the repository's dist/); `--dist` sets both. */
  distDir: string | undefined;
  cpuProfDir: string | undefined;
  outDir: string;
  writeResults: boolean;
  /** One server for every part and run instead of a fresh one each (default with --smoke: starts cost seconds). */
  shareServer: boolean;
  /** Tiny sizes for a smoke run (the test suite uses them). */
  smoke: boolean;
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const USAGE = `usage: node --import tsx bench/run.ts [options]
  --only LIST            parts to run, comma-separated: ${PARTS.join(',')} (default all)
  --runs N               runs per part; tables show medians (default 3)
  --concurrency LIST     in-flight levels for ceiling and engine (default 1,8,32,128)
  --min-level-s N        each ceiling and engine level runs at least this long, past --txns/--transitions (default 5; smoke 0)
  --txns N               ceiling transactions per level (default: --transitions)
  --ceiling-max-pool N   most pg connections the ceiling opens (default 64; max_connections is often 100)
  --unpaired             no ceiling levels around each engine level: ratios then use the ceiling part's
                         medians (measured minutes earlier)
  --rpc-calls N          GetInfo calls per client (default 20000)
  --rpc-concurrency N    GetInfo calls in flight (default 64)
  --rpc-clients LIST     ${RPC_CLIENTS.join(',')} (default all)
  --workflows N          engine workflows (default 1000)
  --transitions N        engine transitions per protocol and level (default: --workflows)
  --protocols LIST       engine protocols: grpc,connect-json (default both)
  --watch all|N          WatchWorkflow streams, one per workflow, on all or the first N (default all)
  --engine-warmup-s N    SendEvents before the first level, split over the protocols and each level's concurrency (default 30)
  --engine-client lean|connect  who sends and watches: node:http2/node:http alone (default), or connect-node's clients
  --open-rates LIST      engine levels with SendEvents arriving at these rates per second (open loop, Poisson), after the
                         in-flight levels (default none; smoke 200)
  --timers N             timers due at the same moment (default 10000)
  --timer-warmup N       timers fired in a burst before the measured one, to warm the server up (default 1000; 0: none)
  --timer-lead-ms N      least time between the start of the first workflow and the due moment (default 2000)
  --timer-timeout-ms N   give up waiting for the timers this long after they are due (default 60000)
  --timer-max-start-s N  arm fewer timers if starting them all would take longer (default 60; reported)
  --storage-count N      stored workflows (default 100000)
  --storage-budget-s N   stop inserting after this many seconds, report the count reached (default 180)
  --storage-active N     workflows made active (an event each) before reading the RSS (default 10000)
  --storage-watchers N   idle WatchWorkflow streams then opened on active workflows (default: as many as active; 0: none)
  --storage-idle-s N     seconds the server is measured idle, without and then with those streams (default 12)
  --storage-repeats N    ListWorkflows calls per query and run (default 50)
  --machine ID|auto      machine to drive (default auto: bench-counter, else incident-triage)
  --server-pool N        DATABASE_POOL_SIZE of the server (default: the server's own)
  --server-node-flags=S  node's flags for the server, space-separated, in place of production's (default
                         "${SERVER_NODE_FLAGS.join(' ')}", as make start and the image pass them; empty for none)
  --compiled             run the server from dist/ (make build first) instead of through tsx
  --dist DIR             run the compiled server from DIR, a copy of dist/ inside this repository so that it
                         finds node_modules (implies --compiled; bench/ab.ts saves such copies)
  --cpu-prof             write the server's V8 CPU profile (one per server started) on stop
  --cpu-prof-dir DIR     where the profiles go (default bench/out/profiles; implies --cpu-prof)
  --out-dir DIR          where <timestamp>.json goes (default bench/out)
  --write-results        also rewrite bench/RESULTS.md with this run's medians
  --share-server         one server for all parts and runs (parts then see each other's workflows)
  --smoke                tiny sizes for a quick check of the harness (implies --share-server)
  -h, --help`;

/** Parses argv (without node and script). Throws UsageError with the problem. */
export function parseBenchArgs(argv: string[], env: Record<string, string | undefined> = process.env): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      only: { type: 'string' },
      runs: { type: 'string' },
      concurrency: { type: 'string' },
      txns: { type: 'string' },
      'ceiling-max-pool': { type: 'string' },
      unpaired: { type: 'boolean' },
      'min-level-s': { type: 'string' },
      'rpc-calls': { type: 'string' },
      'rpc-concurrency': { type: 'string' },
      'rpc-clients': { type: 'string' },
      workflows: { type: 'string' },
      transitions: { type: 'string' },
      protocols: { type: 'string' },
      watch: { type: 'string' },
      'engine-warmup-s': { type: 'string' },
      'engine-client': { type: 'string' },
      'open-rates': { type: 'string' },
      timers: { type: 'string' },
      'timer-warmup': { type: 'string' },
      'timer-lead-ms': { type: 'string' },
      'timer-timeout-ms': { type: 'string' },
      'timer-max-start-s': { type: 'string' },
      'storage-count': { type: 'string' },
      'storage-budget-s': { type: 'string' },
      'storage-active': { type: 'string' },
      'storage-watchers': { type: 'string' },
      'storage-idle-s': { type: 'string' },
      'storage-repeats': { type: 'string' },
      machine: { type: 'string' },
      'server-pool': { type: 'string' },
      'server-node-flags': { type: 'string' },
      compiled: { type: 'boolean' },
      dist: { type: 'string' },
      'cpu-prof': { type: 'boolean' },
      'cpu-prof-dir': { type: 'string' },
      'out-dir': { type: 'string' },
      'write-results': { type: 'boolean' },
      smoke: { type: 'boolean' },
      'share-server': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) throw new UsageError(USAGE); // run.ts answers --help before parsing
  const smoke = values.smoke ?? false;
  const int = (name: keyof typeof values, fallback: number, min = 1) => {
    const raw = values[name];
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (typeof raw !== 'string' || !/^\d+$/.test(raw) || n < min) throw new UsageError(`--${name} must be a whole number >= ${min}, got '${String(raw)}'`);
    return n;
  };
  const one = <T extends string>(name: keyof typeof values, allowed: readonly T[], fallback: T): T => {
    const [item, ...more] = list(name, allowed, [fallback]);
    if (more.length) throw new UsageError(`--${name}: one of ${allowed.join(', ')}`);
    return item!;
  };
  const list = <T extends string>(name: keyof typeof values, allowed: readonly T[], fallback: readonly T[]): T[] => {
    const raw = values[name];
    if (raw === undefined) return [...fallback];
    const items = String(raw).split(',').map((s) => s.trim()).filter(Boolean);
    const bad = items.filter((i) => !(allowed as readonly string[]).includes(i));
    if (bad.length || items.length === 0) throw new UsageError(`--${name}: unknown ${bad.join(', ') || '(empty)'}; choose from ${allowed.join(', ')}`);
    return items as T[];
  };

  const positives = (name: 'concurrency' | 'open-rates', fallback: number[], what: string) => {
    const raw = values[name];
    if (raw === undefined) return fallback;
    return raw.split(',').map((s) => {
      const n = Number(s.trim());
      if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name}: '${s}' is not a positive whole number${what}`);
      return n;
    });
  };

  const concurrencies = positives('concurrency', smoke ? [1, 4] : [1, 8, 32, 128], '');
  const workflows = int('workflows', smoke ? 20 : 1000);
  const maxConcurrency = Math.max(...concurrencies);
  if (workflows < maxConcurrency) throw new UsageError(`--workflows (${workflows}) must be at least the highest --concurrency (${maxConcurrency}): each in-flight event needs a workflow of its own`);
  const transitions = int('transitions', workflows);
  if (values['write-results'] && (smoke || (values.runs !== undefined && Number(values.runs) < 2))) {
    throw new UsageError('--write-results records medians over several runs: it needs --runs >= 2 and no --smoke');
  }
  // Said before a quarter of an hour is spent: without Postgres there is no ceiling, and PGlite's
  // numbers check the harness, they say nothing about the engine against Postgres.
  if (values['write-results'] && !env.DATABASE_URL) {
    throw new UsageError('--write-results records results against Postgres (the ceiling needs it): set DATABASE_URL');
  }
  const openRates = positives('open-rates', smoke ? [200] : [], ' of SendEvents per second');
  const watch = values.watch === undefined || values.watch === 'all' ? 'all' : int('watch', 0, 0);
  // Idle watchers default to one a workflow made active.
  const storageActive = int('storage-active', smoke ? 20 : 10_000, 0);

  return {
    parts: list('only', PARTS, PARTS),
    runs: int('runs', smoke ? 1 : 3),
    databaseUrl: env.DATABASE_URL || undefined,
    concurrencies,
    minLevelSeconds: int('min-level-s', smoke ? 0 : 5, 0),
    ceiling: { txns: int('txns', transitions), maxPool: int('ceiling-max-pool', 64) },
    pairCeiling: !(values.unpaired ?? false),
    rpc: {
      calls: int('rpc-calls', smoke ? 200 : 20_000),
      concurrency: int('rpc-concurrency', smoke ? 8 : 64),
      clients: list('rpc-clients', RPC_CLIENTS, RPC_CLIENTS),
    },
    engine: { workflows, transitions, protocols: list('protocols', ['grpc', 'connect-json'] as const, ['grpc', 'connect-json']), watch, warmupSeconds: int('engine-warmup-s', smoke ? 0 : 30, 0), client: one('engine-client', ENGINE_CLIENTS, 'lean'), openRates },
    timers: {
      count: int('timers', smoke ? 20 : 10_000),
      warmup: int('timer-warmup', smoke ? 10 : 1_000, 0),
      minLeadMs: int('timer-lead-ms', smoke ? 500 : 2_000),
      timeoutMs: int('timer-timeout-ms', smoke ? 15_000 : 60_000),
      maxStartSeconds: int('timer-max-start-s', 60),
    },
    storage: {
      count: int('storage-count', smoke ? 100 : 100_000),
      budgetSeconds: int('storage-budget-s', smoke ? 30 : 180),
      active: storageActive,
      watchers: int('storage-watchers', storageActive, 0),
      idleSeconds: int('storage-idle-s', smoke ? 1 : 12),
      queryRepeats: int('storage-repeats', smoke ? 3 : 50),
    },
    machine: values.machine ?? 'auto',
    serverPoolSize: values['server-pool'] === undefined ? undefined : int('server-pool', 10),
    serverNodeFlags: values['server-node-flags']?.split(' ').filter((flag) => flag !== ''),
    compiled: (values.compiled ?? false) || values.dist !== undefined,
    distDir: values.dist,
    cpuProfDir: values['cpu-prof'] || values['cpu-prof-dir'] ? values['cpu-prof-dir'] ?? 'bench/out/profiles' : undefined,
    outDir: values['out-dir'] ?? 'bench/out',
    writeResults: values['write-results'] ?? false,
    shareServer: values['share-server'] ?? smoke,
    smoke,
  };
}
