import { spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { readChildrenCpuSeconds } from './process-stats.js';
import { round, type LatencySummary } from './stats.js';

/**
 * External load generators (C, one thread each): `wrk` for Connect JSON over HTTP/1.1 and
 * `h2load` (nghttp2) for gRPC over one HTTP/2 connection. They cost the machine far less per
 * call than a Node client, so the server is what gets measured. Debian: `apt-get install wrk
 * nghttp2-client`.
 */
export interface ToolRun {
  calls: number;
  perSec: number;
  /** h2load reports min/mean/max only: its percentiles are NaN (shown as '-'). */
  latency: LatencySummary;
  /** CPU seconds the tool used (user + system). */
  cpuSeconds: number;
}

/** The absolute path of `name` on PATH, or undefined. */
export function findTool(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * POSTs `{}` to `url` (a Connect JSON unary procedure) for `seconds` with `connections`
 * keep-alive connections, one request in flight on each. Fails on any socket error or non-2xx.
 */
export async function runWrk(wrk: string, url: string, options: { connections: number; seconds: number }): Promise<ToolRun> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-wrk-'));
  try {
    const script = join(dir, 'post.lua');
    // done() prints one JSON line; latency is in microseconds.
    writeFileSync(
      script,
      `wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK_JSON {"requests":%d,"durationUs":%d,"socketErrors":%d,"non2xx":%d,"mean":%f,"p50":%f,"p95":%f,"p99":%f,"max":%f}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency.mean, latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
`,
    );
    const { stdout, cpuSeconds } = await runTool(wrk, ['-t1', `-c${options.connections}`, `-d${options.seconds}s`, '-s', script, url]);
    const line = /WRK_JSON (.*)/.exec(stdout)?.[1];
    if (!line) throw new Error(`wrk printed no summary:\n${stdout}`);
    const r = JSON.parse(line) as { requests: number; durationUs: number; socketErrors: number; non2xx: number; mean: number; p50: number; p95: number; p99: number; max: number };
    if (r.socketErrors || r.non2xx) throw new Error(`wrk: ${r.socketErrors} socket errors, ${r.non2xx} non-2xx answers of ${r.requests}`);
    const ms = (us: number) => round(us / 1000);
    return {
      calls: r.requests,
      perSec: round(r.requests / (r.durationUs / 1e6), 0),
      latency: { count: r.requests, mean: ms(r.mean), p50: ms(r.p50), p95: ms(r.p95), p99: ms(r.p99), max: ms(r.max) },
      cpuSeconds,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * `calls` gRPC unary calls of `url` with an empty request message, `streams` in flight on one
 * HTTP/2 connection (as a gRPC client multiplexes). h2load checks HTTP status only (grpc-status
 * is a trailer it does not read), so the caller checks one call with a real client first.
 */
export async function runH2loadGrpc(h2load: string, url: string, options: { streams: number; calls: number }): Promise<ToolRun> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-h2load-'));
  try {
    const body = join(dir, 'empty.grpc');
    writeFileSync(body, Buffer.from([0, 0, 0, 0, 0])); // uncompressed, length 0: an empty message
    const args = ['-n', String(options.calls), '-c', '1', '-t', '1', '-m', String(options.streams), '-d', body,
      '-H', 'content-type: application/grpc', '-H', 'te: trailers', url];
    const { stdout, cpuSeconds } = await runTool(h2load, args);
    const done = /requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(stdout);
    const finished = /finished in ([\d.]+)(m?s), ([\d.]+) req\/s/.exec(stdout);
    const time = /time for request:\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)/.exec(stdout);
    if (!done || !finished || !time) throw new Error(`h2load output not understood:\n${stdout}`);
    const [total, , succeeded, failed, errored] = done.slice(1).map(Number) as [number, number, number, number, number];
    if (failed || errored || succeeded !== total) throw new Error(`h2load: ${failed} failed, ${errored} errored of ${total}`);
    const ms = (value: string, unit: string) => round(Number(value) * (unit === 'us' ? 0.001 : unit === 's' ? 1000 : 1));
    return {
      calls: total,
      perSec: round(Number(finished[3]), 0),
      latency: { count: total, mean: ms(time[5]!, time[6]!), p50: NaN, p95: NaN, p99: NaN, max: ms(time[3]!, time[4]!) },
      cpuSeconds,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs a tool to completion; its stdout and the CPU it used (children's CPU time before and after). */
function runTool(command: string, args: string[]): Promise<{ stdout: string; cpuSeconds: number }> {
  return new Promise((resolve, reject) => {
    const before = childrenCpuSeconds();
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`${command} exited with ${code}: ${stderr || stdout}`));
      resolve({ stdout, cpuSeconds: childrenCpuSeconds() - before });
    });
  });
}

function childrenCpuSeconds(): number {
  try {
    return readChildrenCpuSeconds();
  } catch {
    return NaN; // not Linux
  }
}
