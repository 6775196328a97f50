import type { BenchServer } from './bench-server.js';
import { LeanGrpcConnection } from './lean-grpc.js';
import { startCpuMeter, type MemoryUsage } from './process-stats.js';
import { startServerMeter } from './server-meter.js';
import { round } from './stats.js';
import { leanWatchSource, WatchFleet, type WatchSource } from './watch-fleet.js';

/** What an idle server costs over a stretch of time. */
export interface IdleCost {
  seconds: number;
  serverCpuPct: number;
  /** Every Postgres process on this machine (NaN for a remote one). */
  postgresCpuPct: number;
  /** Queries and transactions the server ran a second; undefined when its metrics do not tell. */
  queriesPerSec: number | undefined;
}

/** WatchWorkflow streams open on workflows that do not move: what they hold, and cost while nothing happens. */
export interface IdleWatchers {
  count: number;
  /** The server's memory with them open (after they replayed their history). */
  memory: MemoryUsage;
  /** The same stretch before they were opened, and with them open. */
  without: IdleCost;
  with: IdleCost;
}

/** Streams per HTTP/2 connection: many clients, as browsers watching would be, not one multiplexing all. */
export const STREAMS_PER_CONNECTION = 1_000;

/**
 * Measures `idleSeconds` of the server idle, then opens one WatchWorkflow stream (gRPC, from
 * version 0) per id, waits until each delivered its history, measures `idleSeconds` more with
 * nothing sent, and closes them. A stream that ends by itself fails the measurement (a
 * benchmark must not hide a broken watcher). The idle window should span a few of the engine's
 * watch polls (every 5 s): before session 25 every idle stream read its history at each of its
 * own polls.
 */
export async function measureIdleWatchers(server: BenchServer, ids: string[], idleSeconds: number): Promise<IdleWatchers> {
  const without = await idleCost(server, idleSeconds);
  const streams = await openIdleStreams(server.baseUrl, ids);
  try {
    await new Promise((resolve) => setTimeout(resolve, 2_000)); // the replays' garbage, and their last writes
    const memory = server.memory();
    const cost = await idleCost(server, idleSeconds);
    streams.check();
    return { count: ids.length, memory, without, with: cost };
  } finally {
    streams.close();
  }
}

/**
 * One WatchWorkflow stream (gRPC, from version 0) per id, STREAMS_PER_CONNECTION a connection,
 * resolved once each delivered its history. `check` throws if any has ended by itself since.
 */
export async function openIdleStreams(baseUrl: string, ids: string[]): Promise<{ check(): void; close(): void }> {
  const connections = Array.from({ length: Math.ceil(ids.length / STREAMS_PER_CONNECTION) }, () => new LeanGrpcConnection(baseUrl));
  const close = () => {
    for (const connection of connections) connection.close();
  };
  let opened = 0;
  const source: WatchSource = (id, onVersion, done) => leanWatchSource(connections[Math.floor(opened++ / STREAMS_PER_CONNECTION)]!)(id, onVersion, done);
  let fleet: WatchFleet;
  try {
    fleet = await WatchFleet.open(source, ids, 120_000);
  } catch (error) {
    close();
    throw error;
  }
  return {
    check: () => {
      if (fleet.failures) throw new Error(`${fleet.failures} idle WatchWorkflow streams ended by themselves: ${fleet.firstFailure}`);
    },
    close: () => {
      fleet.close();
      close();
    },
  };
}

async function idleCost(server: BenchServer, seconds: number): Promise<IdleCost> {
  const meter = await startServerMeter(server.baseUrl);
  const cpu = startCpuMeter(server.pid, server.localPostgres);
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const share = cpu();
  const { queries } = await meter();
  return { seconds, serverCpuPct: share.serverCpuPct, postgresCpuPct: share.postgresCpuPct, queriesPerSec: queries === undefined ? undefined : round(queries / seconds, 1) };
}
