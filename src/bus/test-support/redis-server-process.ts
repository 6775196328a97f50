import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

/** Path of the redis-server binary, or undefined when it is not installed. */
export const redisServerBinary: string | undefined = (() => {
  try {
    return execFileSync('which', ['redis-server'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
})();

/** A TCP port that was free a moment ago (nothing listens on it now). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

const running = new Set<ChildProcess>();
// Last resort if a test process dies without running its after() hooks.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * A throw-away redis-server owned by a test: no persistence, loopback only.
 * `kill()` is a crash (SIGKILL); `start()` again reuses the same port.
 */
export class RedisServerProcess {
  readonly port: number;
  #child: ChildProcess | undefined;

  private constructor(port: number) {
    this.port = port;
  }

  static async launch(port?: number): Promise<RedisServerProcess> {
    if (!redisServerBinary) throw new Error('redis-server is not installed');
    const server = new RedisServerProcess(port ?? (await freePort()));
    await server.start();
    return server;
  }

  /** A server object for a port, not started yet. */
  static onPort(port: number): RedisServerProcess {
    return new RedisServerProcess(port);
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get isRunning(): boolean {
    return this.#child !== undefined;
  }

  /** Starts the server and resolves once it accepts connections (at most 10 s). */
  async start(): Promise<void> {
    if (this.#child) throw new Error('already running');
    const child = spawn(
      redisServerBinary ?? 'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--logfile', ''],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.#child = child;
    running.add(child);
    child.once('exit', () => {
      running.delete(child);
      if (this.#child === child) this.#child = undefined;
    });
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`redis-server did not start in 10 s:\n${output}`)), 10_000);
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('Ready to accept connections')) done();
      };
      const onExit = (code: number | null) => fail(new Error(`redis-server exited with ${code}:\n${output}`));
      const cleanup = () => {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.off('exit', onExit);
      };
      const done = () => {
        cleanup();
        resolve();
      };
      const fail = (error: Error) => {
        cleanup();
        child.kill('SIGKILL');
        reject(error);
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.once('exit', onExit);
    });
    // Keep draining its output so the pipe never fills and blocks it.
    child.stdout?.resume();
  }

  /** Crashes the server (SIGKILL) and resolves once it has exited. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
  }
}
