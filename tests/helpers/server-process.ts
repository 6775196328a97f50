import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Node's flags for the service, as `make run`, `make start` and the image's CMD pass them (the
 * Dockerfile's test holds those to this list), so that what tests and benchmarks start runs as
 * production does. A young generation of 64 MB semi-spaces instead of V8's 16: with 16, a server
 * committing ~1,400 transitions/s scavenged 8-9 times a second, 7 ms each, and copied every
 * instance's snapshot at least twice before it died (bench/JOURNAL.md, Session 24).
 */
export const SERVER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=64'];

/** A real orchestrator process started by a test. */
export interface ServerProcess {
  readonly port: number;
  readonly baseUrl: string;
  readonly child: ChildProcess;
  /** Every log line the process wrote so far, parsed. */
  readonly logs: Record<string, unknown>[];
  /** Resolves with the first log line matching `predicate` (already seen or future). */
  waitForLog(predicate: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Sends `signal` and resolves with the exit code once the process is gone. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts `src/main.ts` as a child process on a free port (PORT=0) and waits
 * for its "listening" line. `env` is added to the current environment.
 */
export async function startServerProcess(
  env: Record<string, string | undefined> = {},
  timeoutMs = 30_000,
  /** Node arguments after the flags: the TypeScript entry through tsx unless given (the benchmark can run dist/). */
  nodeArgs: string[] = ['--import', 'tsx', 'src/main.ts'],
  /** Node's flags, production's unless given (the benchmark compares others). */
  nodeFlags: readonly string[] = SERVER_NODE_FLAGS,
): Promise<ServerProcess> {
  const child = spawn(process.execPath, [...nodeFlags, ...nodeArgs], {
    cwd: root,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'debug', ...env },
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const waiters = new Set<{ predicate: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }>();
  let buffered = '';
  let stderrTail = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderrTail = (stderrTail + chunk).slice(-4000);
    buffered += chunk;
    let nl;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const text = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(text) as Record<string, unknown>;
      } catch {
        line = { msg: text, raw: true };
      }
      logs.push(line);
      for (const w of waiters) if (w.predicate(line)) (waiters.delete(w), w.resolve(line));
    }
  });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;

  const waitForLog = (predicate: (l: Record<string, unknown>) => boolean, ms = timeoutMs) => {
    const seen = logs.find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      const waiter = { predicate, resolve: (l: Record<string, unknown>) => (clearTimeout(timer), resolve(l)) };
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`no matching log line within ${ms} ms; stderr tail:\n${stderrTail}`));
      }, ms);
      waiters.add(waiter);
      void exited.then(([code]) => {
        if (!waiters.has(waiter)) return;
        waiters.delete(waiter);
        clearTimeout(timer);
        reject(new Error(`server exited (${code}) before the expected log line; stderr tail:\n${stderrTail}`));
      });
    });
  };

  let listening: Record<string, unknown>;
  try {
    listening = await waitForLog((l) => l.msg === 'listening');
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  const port = Number(listening.port);
  return {
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    child,
    logs,
    waitForLog,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const [code] = await exited;
      return code;
    },
  };
}
