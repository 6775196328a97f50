import { createClient } from '@connectrpc/connect';
import { InfoService } from '../gen/info/v1/info_pb.js';
import { createBenchTransport, RawConnectJsonClient } from './bench-clients.js';
import type { RpcClientKind } from './bench-options.js';
import type { BenchServer } from './bench-server.js';
import { runClosedLoop } from './load-runner.js';
import { findTool, runH2loadGrpc, runWrk } from './load-tools.js';
import { startCpuMeter } from './process-stats.js';
import { round, type LatencySummary } from './stats.js';

/** GetInfo over one client and protocol. */
export interface RpcLevel {
  client: RpcClientKind;
  calls: number;
  concurrency: number;
  perSec: number;
  latency: LatencySummary;
  /** ~100 on one side says which process was the bottleneck. */
  serverCpuPct: number;
  clientCpuPct: number;
  /** Why this client did not run (its tool is not installed); its numbers are NaN. */
  skipped?: string;
}

export interface RpcResult {
  clients: RpcLevel[];
}

export interface RpcOptions {
  calls: number;
  concurrency: number;
  clients: RpcClientKind[];
}

/**
 * Side-effect-free calls per second (info.v1.InfoService/GetInfo; grpc.health.v1.Health/Check
 * for `noop-wrk`) through each client, after a
 * warm-up of its own. `connect-json-wrk` and `grpc-h2load` are C load generators (the server is
 * what they measure); `connect-json-raw` is node:http with hand-written JSON, and the others are
 * connect-node clients, whose own cost shows in the client CPU column.
 */
export async function runRpc(server: BenchServer, options: RpcOptions): Promise<RpcResult> {
  const clients: RpcLevel[] = [];
  for (const kind of options.clients) {
    if (kind === 'connect-json-wrk' || kind === 'grpc-h2load' || kind === 'noop-wrk') {
      clients.push(await runExternal(kind, server, options));
      continue;
    }
    const { call, close } = infoCaller(kind, server.baseUrl, options.concurrency);
    try {
      await runClosedLoop({ total: Math.min(2_000, Math.max(options.concurrency * 4, options.calls / 10)), concurrency: options.concurrency, op: call });
      const cpu = startCpuMeter(server.pid, false);
      const result = await runClosedLoop({ total: options.calls, concurrency: options.concurrency, op: call });
      const { serverCpuPct, clientCpuPct } = cpu();
      clients.push({ client: kind, calls: result.ops, concurrency: options.concurrency, perSec: result.perSec, latency: result.latency, serverCpuPct, clientCpuPct });
    } finally {
      close();
    }
  }
  return { clients };
}

const GET_INFO = 'info.v1.InfoService/GetInfo';
/** The standard health check with an empty request: the server does nothing but answer. */
const NO_OP = 'grpc.health.v1.Health/Check';

/**
 * GetInfo driven by wrk or h2load (see load-tools.ts), after a warm-up with the same tool; a
 * missing tool is reported as skipped, naming the Node client that stands in for it.
 */
async function runExternal(kind: 'connect-json-wrk' | 'grpc-h2load' | 'noop-wrk', server: BenchServer, options: RpcOptions): Promise<RpcLevel> {
  const wrk = kind !== 'grpc-h2load';
  const tool = wrk ? 'wrk' : 'h2load';
  const path = findTool(tool);
  const base = { client: kind, calls: 0, concurrency: options.concurrency, perSec: NaN, latency: { count: 0, mean: NaN, p50: NaN, p95: NaN, p99: NaN, max: NaN }, serverCpuPct: NaN, clientCpuPct: NaN };
  if (!path) return { ...base, skipped: `${tool} not found on PATH; ${wrk ? 'connect-json-raw' : 'grpc'} (a Node client) stands in` };
  const url = `${server.baseUrl}/${kind === 'noop-wrk' ? NO_OP : GET_INFO}`;
  // One real call first: h2load sees HTTP status only, not grpc-status.
  if (kind === 'noop-wrk') await checkNoOp(server.baseUrl);
  else {
    const check = infoCaller(kind === 'grpc-h2load' ? 'grpc' : 'connect-json', server.baseUrl, 1);
    try {
      await check.call();
    } finally {
      check.close();
    }
  }
  const run = () =>
    wrk
      ? runWrk(path, url, { connections: options.concurrency, seconds: Math.max(2, Math.round(options.calls / 2_500)) })
      : runH2loadGrpc(path, url, { streams: options.concurrency, calls: options.calls });
  if (wrk) await runWrk(path, url, { connections: options.concurrency, seconds: 1 });
  else await runH2loadGrpc(path, url, { streams: options.concurrency, calls: Math.max(options.concurrency * 4, Math.round(options.calls / 10)) });
  const started = performance.now();
  const cpu = startCpuMeter(server.pid, false);
  const result = await run();
  const { serverCpuPct } = cpu();
  const seconds = (performance.now() - started) / 1000;
  return { ...base, calls: result.calls, perSec: result.perSec, latency: result.latency, serverCpuPct, clientCpuPct: round((result.cpuSeconds / seconds) * 100, 0) };
}

async function checkNoOp(baseUrl: string): Promise<void> {
  const raw = new RawConnectJsonClient(baseUrl, 1);
  try {
    const answer = (await raw.call(NO_OP, {})) as { status?: string };
    if (answer.status !== 'SERVING') throw new Error(`unexpected ${NO_OP} answer: ${JSON.stringify(answer)}`);
  } finally {
    raw.close();
  }
}

function infoCaller(kind: Exclude<RpcClientKind, 'connect-json-wrk' | 'grpc-h2load' | 'noop-wrk'>, baseUrl: string, sockets: number): { call: () => Promise<void>; close: () => void } {
  if (kind === 'connect-json-raw') {
    const raw = new RawConnectJsonClient(baseUrl, sockets);
    return {
      call: async () => {
        const info = (await raw.call(GET_INFO, {})) as { name?: string };
        if (info.name !== 'orchestrator') throw new Error(`unexpected GetInfo answer: ${JSON.stringify(info)}`);
      },
      close: () => raw.close(),
    };
  }
  const { transport, close } = createBenchTransport(kind, baseUrl, sockets);
  const client = createClient(InfoService, transport);
  return {
    call: async () => {
      const info = await client.getInfo({});
      if (info.name !== 'orchestrator') throw new Error(`unexpected GetInfo answer: ${info.name}`);
    },
    close,
  };
}
