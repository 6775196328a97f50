import { timestampMs } from '@bufbuild/protobuf/wkt';
import { createClient } from '@connectrpc/connect';
import { createClient as createRedisClient } from 'redis';
import { OrchestratorService, WorkflowStatus } from '../gen/orchestrator/v1/orchestrator_pb.js';
import { createBenchTransport } from './bench-clients.js';
import { pickBenchMachine, type OrchestratorClient } from './bench-machines.js';
import type { BenchServer } from './bench-server.js';
import { cpuUsPerOp, startCpuMeter, type CpuShare } from './process-stats.js';
import { round, summarize, type LatencySummary } from './stats.js';
import { startWorkflows } from './workflow-fleet.js';

export interface TimerResult {
  machine: string;
  /** Timers asked for (--timers). */
  requested: number;
  /** Timers armed: fewer than requested when starting them all would take over `maxStartSeconds`. */
  timers: number;
  /** Latest minus earliest due time: how "simultaneous" the timers really were. */
  dueSpreadMs: number;
  /**
   * From the earliest due time to the time stamped on the last firing's transition (the
   * workflow's update time). The engine stamps a transition when it computes it, which can be
   * well before its commit when many are queued for the database: a lower bound.
   */
  allFiredMs: number;
  /**
   * From the earliest due time until the last firing's message reached a Redis subscriber in the
   * harness (published after its commit): when the last firing was durable and announced. Only
   * with REDIS_URL set; the target is judged on it when present.
   */
  allCommittedMs?: number;
  /** Per timer: its firing transition's time minus its own due time. */
  lag: LatencySummary;
  /** StartWorkflow rate while arming them (gRPC, 64 in flight). */
  startsPerSec: number;
  /**
   * CPU over the burst: from the due moment the harness set until the last firing was heard
   * (with Redis) or seen by the poll (without), in % of one core, and per timer in us. The
   * floor this sets on two cores: (server + Postgres us per timer) x timers / 2.
   */
  burstCpu: CpuShare & { serverUsPerTimer: number; postgresUsPerTimer: number };
}

export interface TimerOptions {
  count: number;
  /** Timers fired in a burst of their own first (not measured); 0 for none. */
  warmup: number;
  /** Least time from the first start to the due moment. */
  minLeadMs: number;
  /** How long after the due moment to wait for the last firing. */
  timeoutMs: number;
  /** Arm no more timers than the calibrated start rate allows in this time. */
  maxStartSeconds: number;
  machine: string;
  /** The server's Redis (the same REDIS_URL): the harness hears the firings on the workflow channels. */
  redisUrl?: string;
}

const START_CONCURRENCY = 64;
/** Due time of the warm-up timers, from their start: short, so the warm-up burst overlaps its starts little. */
const WARMUP_DELAY_MS = 1_000;

/**
 * `count` timers due at one moment. A calibration batch measures the start rate, which sets
 * the due moment far enough out for every start to land before it (and caps the count, see
 * `maxStartSeconds`); each workflow then gets
 * `timerMs = dueMoment - now` at its send, so due times differ only by the start's own latency
 * (reported as dueSpreadMs). Firing times are the workflows' update times (the timer's
 * transition ends the workflow), read with ListWorkflows; due times come from StartWorkflow.
 */
export async function runTimers(server: BenchServer, options: TimerOptions): Promise<TimerResult> {
  const bench = createBenchTransport('grpc', server.baseUrl, 1);
  let listener: FiringListener | undefined;
  try {
    const client = createClient(OrchestratorService, bench.transport);
    const machine = await pickBenchMachine(client, options.machine, true);
    const timer = machine.timer!;
    if (options.warmup > 0) {
      // A fresh server's first firings run on cold code (the JIT has not compiled the firing
      // path yet), as the engine part's first transitions would: fire a smaller burst first.
      await startWorkflows(client, machine, options.warmup, { concurrency: START_CONCURRENCY, input: () => timer.input(WARMUP_DELAY_MS) });
      await waitUntilNoneIn(client, machine.id, timer.waitingState, Date.now() + WARMUP_DELAY_MS + options.timeoutMs);
    }
    const calibration = await startWorkflows(client, machine, Math.min(options.count, Math.max(50, Math.ceil(options.count / 20))), { concurrency: START_CONCURRENCY });
    // A slow engine would take minutes to start 10,000: arm fewer, and say so (requested vs timers).
    const count = Math.max(1, Math.min(options.count, Math.floor(calibration.load.perSec * options.maxStartSeconds)));
    const leadMs = Math.max(options.minLeadMs, Math.ceil((count / calibration.load.perSec) * 1000 * 1.5) + 500);
    listener = options.redisUrl ? await hearFirings(options.redisUrl) : undefined;
    const dueMoment = Date.now() + leadMs;
    const started = await startWorkflows(client, machine, count, {
      concurrency: START_CONCURRENCY,
      input: () => {
        const timerMs = dueMoment - Date.now();
        if (timerMs < 50) throw new Error(`starting ${count} timers took longer than the ${leadMs} ms lead; raise --timer-lead-ms`);
        return timer.input(timerMs);
      },
    });
    const dueAt = new Map<string, number>();
    for (const w of started.workflows) {
      const armed = w.timers[0]?.dueTime;
      if (w.timers.length !== 1 || !armed) throw new Error(`${machine.id} with a timer input armed ${w.timers.length} timers, expected 1`);
      dueAt.set(w.id, timestampMs(armed));
    }
    const burst = await meterFrom(dueMoment, server);
    // With Redis the firings are counted as they are heard, so nothing polls the server while the
    // burst it is measuring runs; without it, ListWorkflows polls tell when none is left waiting.
    if (listener) await listener.heardAll(new Set(dueAt.keys()), dueMoment + options.timeoutMs);
    else await waitUntilNoneIn(client, machine.id, timer.waitingState, dueMoment + options.timeoutMs);
    const { cpu, seconds: burstSeconds } = burst();
    const firedAt = await updateTimesOfDone(client, machine.id);
    const lags: number[] = [];
    let lastFired = -Infinity;
    for (const [id, due] of dueAt) {
      const fired = firedAt.get(id);
      if (fired === undefined) throw new Error(`workflow ${id} left ${timer.waitingState} but is not done`);
      lags.push(fired - due);
      lastFired = Math.max(lastFired, fired);
    }
    const dues = [...dueAt.values()];
    const firstDue = dues.reduce((a, b) => Math.min(a, b));
    const heard = listener && (await listener.close());
    let lastHeard = -Infinity;
    if (heard) {
      for (const id of dueAt.keys()) {
        const at = heard.get(id);
        if (at === undefined) throw new Error(`the firing of workflow ${id} was never heard on Redis`);
        lastHeard = Math.max(lastHeard, at);
      }
    }
    return {
      machine: machine.id,
      requested: options.count,
      timers: count,
      dueSpreadMs: dues.reduce((a, b) => Math.max(a, b)) - firstDue,
      allFiredMs: round(lastFired - firstDue),
      ...(heard ? { allCommittedMs: round(lastHeard - firstDue) } : {}),
      lag: summarize(lags),
      startsPerSec: started.load.perSec,
      burstCpu: {
        ...cpu,
        serverUsPerTimer: cpuUsPerOp(cpu.serverCpuPct, count / burstSeconds),
        postgresUsPerTimer: cpuUsPerOp(cpu.postgresCpuPct, count / burstSeconds),
      },
    };
  } finally {
    bench.close();
    // A part that failed midway must not leave the subscription open (it would keep the harness alive).
    await listener?.close();
  }
}

interface FiringListener {
  /** Resolves once the firing of every workflow in `ids` was heard; throws at `deadline` (ms). */
  heardAll(ids: ReadonlySet<string>, deadline: number): Promise<void>;
  /** Unsubscribes (once; later calls return the same times) and returns when each workflow's firing was heard. */
  close(): Promise<Map<string, number>>;
}

/**
 * Waits until `at` (ms since the epoch), then starts a CPU meter on the server and Postgres; the
 * returned function ends it and says how long it ran (the per-timer figures divide by that).
 */
async function meterFrom(at: number, server: BenchServer): Promise<() => { cpu: CpuShare; seconds: number }> {
  const wait = at - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  const started = performance.now();
  const stop = startCpuMeter(server.pid, server.localPostgres);
  return () => ({ cpu: stop(), seconds: Math.max(0.001, (performance.now() - started) / 1000) });
}

/**
 * Subscribes to every workflow channel of the server's bus (`orchestrator:wf:*`, the default
 * prefix) and notes when each workflow's timer firing (`xstate.after.*`) arrived. The server
 * publishes every transition there after its commit, whether anyone listens or not, so this adds
 * only Redis's delivery and this process's parsing.
 */
async function hearFirings(redisUrl: string): Promise<FiringListener> {
  const client = createRedisClient({ url: redisUrl });
  await client.connect();
  const heard = new Map<string, number>();
  // 10,000 messages in about a second, on the cores the server and Postgres use: find the two
  // fields with string searches instead of parsing each message whole.
  await client.pSubscribe('orchestrator:wf:*', (text) => {
    const at = Date.now();
    if (!text.includes('"eventType":"xstate.after.')) return;
    const id = /"workflowId":"([^"]*)"/.exec(text)?.[1];
    if (id !== undefined) heard.set(id, at);
  });
  let closed: Promise<Map<string, number>> | undefined;
  return {
    async heardAll(ids, deadline) {
      // Checked every 20 ms (the time of each firing is taken when its message arrives, not
      // here); the count first, so the burst is not charged 10,000 lookups a check.
      for (;;) {
        let missing = Math.max(0, ids.size - heard.size);
        if (missing === 0) for (const id of ids) if (!heard.has(id)) missing++;
        if (missing === 0) return;
        if (Date.now() > deadline) throw new Error(`${missing} timer firings still not heard on Redis ${Date.now() - deadline} ms past the timeout`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    close: () => (closed ??= client.quit().then(() => heard)),
  };
}

/**
 * Polls (every 250 ms) until no workflow of `machineId` is in `state`; throws at `deadline`.
 * The poll only decides when to stop: firing times are the workflows' update times. Each poll
 * is a ListWorkflows over 10,000 rows (5-9 ms of Postgres), so polling more often competes
 * with the firings it waits for.
 */
async function waitUntilNoneIn(client: OrchestratorClient, machineId: string, state: string, deadline: number): Promise<void> {
  for (;;) {
    const page = await client.listWorkflows({ machineId, state, pageSize: 1 });
    if (page.workflows.length === 0) return;
    if (Date.now() > deadline) throw new Error(`timers still not fired ${Date.now() - deadline} ms past the timeout (workflows still in '${state}')`);
    await new Promise((resolve) => setTimeout(resolve, 250)); // a watch per timer would add more load than polling
  }
}

/** Update time (ms) of every done workflow of `machineId`, paging through ListWorkflows. */
async function updateTimesOfDone(client: OrchestratorClient, machineId: string): Promise<Map<string, number>> {
  const times = new Map<string, number>();
  let pageToken = '';
  do {
    const page = await client.listWorkflows({ machineId, status: WorkflowStatus.DONE, pageSize: 1000, pageToken });
    for (const w of page.workflows) if (w.updateTime) times.set(w.id, timestampMs(w.updateTime));
    pageToken = page.nextPageToken;
  } while (pageToken);
  return times;
}
