import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { root } from './observability-files.js';

/** A free loopback TCP port (closed again; a race with another process is unlikely enough in tests). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface LocalPrometheus {
  readonly url: string;
  /** GET an API path (`/api/v1/...`), JSON. */
  api<T = any>(path: string): Promise<T>;
  /** An instant query; throws when Prometheus answers an error. */
  query(promql: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  stop(): Promise<void>;
}

/**
 * Starts Prometheus through observability/local/run-prometheus.sh (what `make dev-monitoring`
 * runs) on a free loopback port with its state in a temp directory, scraping `target` every
 * second. Rules: observability/alerts.yaml, or `rulesDir`/*.yaml when given.
 */
export async function startLocalPrometheus(options: { target: string; rulesDir?: string }): Promise<LocalPrometheus> {
  const port = await freePort();
  const data = mkdtempSync(join(tmpdir(), 'orchestrator-prometheus-'));
  let log = '';
  const child = spawn(`${root}observability/local/run-prometheus.sh`, [], {
    cwd: root,
    env: {
      ...process.env,
      ORCHESTRATOR_TARGET: options.target,
      PROMETHEUS_LISTEN: `127.0.0.1:${port}`,
      PROMETHEUS_DATA: data,
      SCRAPE_INTERVAL: '1s',
      ...(options.rulesDir ? { PROMETHEUS_RULES_DIR: options.rulesDir } : {}),
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr.setEncoding('utf8').on('data', (c: string) => (log = (log + c).slice(-4000)));
  const exited = once(child, 'exit');
  const url = `http://127.0.0.1:${port}`;
  const api = async (path: string) => {
    const res = await fetch(url + path);
    const body = (await res.json()) as { status: string; data: any; error?: string };
    if (body.status !== 'success') throw new Error(`${path}: ${body.error ?? res.status}`);
    return body.data;
  };
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(data, { recursive: true, force: true });
  };
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`prometheus exited (${child.exitCode}):\n${log}`);
    try {
      if ((await fetch(`${url}/-/ready`)).ok) break;
    } catch {
      // not listening yet
    }
    if (i > 150) {
      await stop();
      throw new Error(`prometheus not ready after 15 s:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    api,
    async query(promql) {
      const data = await api(`/api/v1/query?query=${encodeURIComponent(promql)}`);
      return data.result;
    },
    stop,
  };
}

/** Polls `check` until it returns a value other than undefined, or fails after `ms`. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms${last ? ` (${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
