import { spawn } from 'node:child_process';
import { fstatSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { median, round } from './stats.js';

/**
 * What the machine charges for the hops every transition makes (client -> server -> Postgres
 * -> Redis -> watcher). On some virtual machines a system call or a wake-up of another process
 * costs tens of microseconds, and then that, not the code, bounds the rates at low
 * concurrency: the report shows it beside the results.
 */
export interface PlatformCost {
  /** Mean wall time of a trivial system call made from Node (`fstatSync` of stdout), in us. */
  syscallUs: number;
  /** One-byte TCP ping-pong over loopback between this process and a child Node process. */
  loopback: {
    trips: number;
    /** Mean round trip, in us. */
    roundTripUs: number;
    /** CPU time per round trip (user + system), in us, of the sending and of the echoing process. */
    clientCpuUs: number;
    serverCpuUs: number;
    /**
     * The same JavaScript work (reading COLD_WORK_OBJECTS objects scattered over the heap) done
     * right after each round trip against back to back, in us: what waking up costs the code
     * that runs next (the caches and TLB that the sleep, the other process and the system calls
     * emptied). x2.2-2.6 on session 31's guest, which is why a transition at 1 in flight costs
     * the server several times its CPU at 8 (bench/JOURNAL.md, Session 31).
     */
    coldWork: { afterTripUs: number; backToBackUs: number; factor: number };
  };
  /**
   * Whether the kernel isolates its page tables (Meltdown's mitigation) and the CPU offers
   * PCID: with isolation and no PCID every system call empties the TLB. Linux only, else undefined.
   */
  pageTableIsolation?: { mitigation: string; pcid: boolean };
}

/** The echo side: prints its port, echoes every chunk, and prints its CPU time when the client leaves. */
const ECHO_SERVER = `
const net = require('node:net');
const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  const cpu = process.cpuUsage();
  socket.on('data', (chunk) => socket.write(chunk));
  socket.on('end', () => {
    const used = process.cpuUsage(cpu);
    process.stdout.write(JSON.stringify({ cpuUs: used.user + used.system }) + '\\n', () => process.exit(0));
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
`;

const DEADLINE_MS = 30_000;

export async function probePlatform(options: { syscalls?: number; trips?: number } = {}): Promise<PlatformCost> {
  const isolation = pageTableIsolation();
  return { syscallUs: syscallCost(options.syscalls ?? 20_000), loopback: await loopbackCost(options.trips ?? 2_000), ...(isolation ? { pageTableIsolation: isolation } : {}) };
}

function pageTableIsolation(): PlatformCost['pageTableIsolation'] {
  try {
    const mitigation = readFileSync('/sys/devices/system/cpu/vulnerabilities/meltdown', 'utf8').trim();
    const flags = /^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim().split(/\s+/) ?? [];
    return { mitigation, pcid: flags.includes('pcid') };
  } catch {
    return undefined;
  }
}

const COLD_WORK_OBJECTS = 4_000;

/** Reads COLD_WORK_OBJECTS small objects in an order that jumps across a heap of four times as many. */
function scatteredWork(): () => number {
  const objects: { a: number; b: number[] }[] = [];
  for (let i = 0; i < COLD_WORK_OBJECTS * 4; i++) objects.push({ a: i, b: [i] });
  const order = Array.from({ length: COLD_WORK_OBJECTS }, (_, i) => (i * 7_919) % objects.length);
  return () => {
    let sum = 0;
    for (const i of order) sum += objects[i]!.a + objects[i]!.b[0]!;
    return sum;
  };
}

function syscallCost(count: number): number {
  for (let i = 0; i < 1_000; i++) fstatSync(1);
  const started = performance.now();
  for (let i = 0; i < count; i++) fstatSync(1);
  return round(((performance.now() - started) * 1000) / count);
}

async function loopbackCost(trips: number): Promise<PlatformCost['loopback']> {
  const child = spawn(process.execPath, ['-e', ECHO_SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const lines = linesOf(child.stdout);
    const port = Number(await lines.next());
    const socket = connect({ host: '127.0.0.1', port, noDelay: true });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    // One trip in flight; an echo that dies or stalls fails the probe instead of hanging the run.
    let pending: { resolve: () => void; reject: (error: Error) => void } | undefined;
    const settle = (error?: Error) => {
      const trip = pending;
      pending = undefined;
      if (error) trip?.reject(error);
      else trip?.resolve();
    };
    socket.on('data', () => settle());
    socket.on('error', (error) => settle(error));
    socket.on('close', () => settle(new Error('the echo process closed the connection')));
    const deadline = setTimeout(() => socket.destroy(new Error(`the loopback probe took over ${DEADLINE_MS} ms`)), DEADLINE_MS);
    const byte = Buffer.from([1]);
    let tripsMade = 0;
    const trip = () =>
      new Promise<void>((resolve, reject) => {
        pending = { resolve, reject };
        tripsMade++;
        socket.write(byte);
      });
    const work = scatteredWork();
    let sink = 0; // what the work returns, kept so that it is computed
    /** Mean us of `count` rounds of: a trip, then the work (when `withWork`). */
    const timeTrips = async (count: number, withWork: boolean) => {
      const started = performance.now();
      for (let i = 0; i < count; i++) {
        await trip();
        if (withWork) sink += work();
      }
      return ((performance.now() - started) * 1000) / count;
    };
    const timeWork = (count: number) => {
      const started = performance.now();
      for (let i = 0; i < count; i++) sink += work();
      return ((performance.now() - started) * 1000) / count;
    };
    let elapsedUs: number;
    let used: NodeJS.CpuUsage;
    const cold = { afterTrip: [] as number[], backToBack: [] as number[] };
    const coldTrips = Math.max(1, Math.round(trips / 4));
    try {
      for (let i = 0; i < 200; i++) await trip(); // warm-up: both sides' code compiled
      await timeTrips(100, true);
      timeWork(100);
      const cpu = process.cpuUsage();
      const started = performance.now();
      for (let i = 0; i < trips; i++) await trip();
      elapsedUs = (performance.now() - started) * 1000;
      used = process.cpuUsage(cpu);
      // Interleaved rounds, medians: the machine's speed drifts within a second.
      for (let pass = 0; pass < 3; pass++) {
        const bare = await timeTrips(coldTrips, false);
        cold.afterTrip.push((await timeTrips(coldTrips, true)) - bare);
        cold.backToBack.push(timeWork(coldTrips));
      }
    } finally {
      clearTimeout(deadline);
    }
    socket.end();
    const server = JSON.parse(await lines.next()) as { cpuUs: number };
    const afterTripUs = median(cold.afterTrip);
    const backToBackUs = median(cold.backToBack);
    return {
      trips,
      roundTripUs: round(elapsedUs / trips),
      clientCpuUs: round((used.user + used.system) / trips),
      // The echo side's CPU covers every trip, the warm-up's and the cold-work rounds'.
      serverCpuUs: round(server.cpuUs / tripsMade),
      coldWork: { afterTripUs: round(afterTripUs), backToBackUs: round(backToBackUs), factor: round(afterTripUs / backToBackUs) },
    };
  } finally {
    child.kill();
  }
}

/** Reads a child's stdout line by line; `next()` rejects if the child ends first. */
function linesOf(stream: NodeJS.ReadableStream): { next(): Promise<string> } {
  let buffered = '';
  const waiting: { resolve: (line: string) => void; reject: (error: Error) => void }[] = [];
  const lines: string[] = [];
  const flush = () => {
    while (lines.length && waiting.length) waiting.shift()!.resolve(lines.shift()!);
  };
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffered += chunk;
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    lines.push(...parts);
    flush();
  });
  stream.on('end', () => {
    for (const w of waiting.splice(0)) w.reject(new Error('the echo process ended early'));
  });
  return { next: () => new Promise((resolve, reject) => (waiting.push({ resolve, reject }), flush())) };
}
