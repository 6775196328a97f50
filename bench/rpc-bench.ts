import { createClient } from '@connectrpc/connect';
import { InfoService } from '../gen/info/v1/info_pb.js';
import { createBenchTransport, RawConnectJsonClient } from './bench-clients.js';
import type { RpcClientKind } from './bench-options.js';
import type { BenchServer } from './bench-server.js';
import { runClosedLoop } from './load-runner.js';
import { startCpuMeter } from './process-stats.js';
import type { LatencySummary } from './stats.js';

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
 * Side-effect-free calls per second (info.v1.InfoService/GetInfo) through each client, after a
 * warm-up of its own. `connect-json-raw` is node:http with hand-written JSON: it shows how much
 * of connect-node's own client cost stands between the server and the load generator.
 */
export async function runRpc(server: BenchServer, options: RpcOptions): Promise<RpcResult> {
  const clients: RpcLevel[] = [];
  for (const kind of options.clients) {
    const { call, close } = infoCaller(kind, server.baseUrl, options.concurrency);
    try {
      await runClosedLoop({ total: Math.min(2_000, Math.max(options.concurrency * 4, options.calls / 10)), concurrency: options.concurrency, op: call });
      const cpu = startCpuMeter(server.pid);
      const result = await runClosedLoop({ total: options.calls, concurrency: options.concurrency, op: call });
      clients.push({ client: kind, calls: result.ops, concurrency: options.concurrency, perSec: result.perSec, latency: result.latency, ...cpu() });
    } finally {
      close();
    }
  }
  return { clients };
}

function infoCaller(kind: RpcClientKind, baseUrl: string, sockets: number): { call: () => Promise<void>; close: () => void } {
  if (kind === 'connect-json-raw') {
    const raw = new RawConnectJsonClient(baseUrl, sockets);
    return {
      call: async () => {
        const info = (await raw.call('info.v1.InfoService/GetInfo', {})) as { name?: string };
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
