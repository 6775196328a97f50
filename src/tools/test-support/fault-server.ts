import { EventEmitter, once } from 'node:events';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the server does with one request. */
export type Fault =
  | { status: number; body?: unknown; headers?: Record<string, string>; delayMs?: number }
  /** Destroys the socket without answering (the client sees a connection reset). */
  | { reset: true }
  /** Never answers; the request stays open until the client gives up. */
  | { hang: true };

export interface SeenRequest {
  path: string;
  method: string;
  idempotencyKey: string | undefined;
  headers: IncomingMessage['headers'];
  body: string;
  at: number;
}

/**
 * A real HTTP server on 127.0.0.1 (port 0) for tool tests: each path plays a script of faults,
 * one per request, repeating the last one when the script runs out (default: 200 `{ok:true}`).
 * It records every request, counts them per `Idempotency-Key`, tracks concurrency, and emits
 * `request` on arrival and `closed` when a client drops a request before the answer.
 */
export class FaultServer extends EventEmitter {
  readonly requests: SeenRequest[] = [];
  /** Requests whose connection the client closed before an answer (timeouts, cancels). */
  readonly dropped: SeenRequest[] = [];
  inFlight = 0;
  maxInFlight = 0;
  readonly #scripts = new Map<string, Fault[]>();
  readonly #server: Server;
  #port = 0;

  constructor() {
    super();
    this.#server = createServer((req, res) => void this.#handle(req, res));
  }

  static async start(): Promise<FaultServer> {
    const server = new FaultServer();
    server.#server.listen(0, '127.0.0.1');
    await once(server.#server, 'listening');
    server.#port = (server.#server.address() as AddressInfo).port;
    return server;
  }

  get origin(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  get host(): string {
    return `127.0.0.1:${this.#port}`;
  }

  url(path: string): string {
    return `${this.origin}${path}`;
  }

  /** Sets the script of `path` (replacing any earlier one). */
  script(path: string, ...faults: Fault[]): this {
    this.#scripts.set(path, [...faults]);
    return this;
  }

  /** Requests seen with this idempotency key. */
  countFor(key: string): number {
    return this.requests.filter((r) => r.idempotencyKey === key).length;
  }

  /** Resolves once `n` requests in total have arrived (rejects after `timeoutMs`). */
  async waitForRequests(n: number, timeoutMs = 5_000): Promise<void> {
    await this.#waitFor(() => this.requests.length >= n, 'request', timeoutMs, `${n} requests (saw ${this.requests.length})`);
  }

  /** Resolves once `n` requests were dropped by the client. */
  async waitForDropped(n: number, timeoutMs = 5_000): Promise<void> {
    await this.#waitFor(() => this.dropped.length >= n, 'closed', timeoutMs, `${n} dropped requests (saw ${this.dropped.length})`);
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #waitFor(done: () => boolean, event: string, timeoutMs: number, what: string): Promise<void> {
    if (done()) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off(event, check);
        reject(new Error(`timed out waiting for ${what}`));
      }, timeoutMs);
      const check = () => {
        if (!done()) return;
        clearTimeout(timer);
        this.off(event, check);
        resolve();
      };
      this.on(event, check);
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const key = req.headers['idempotency-key'];
    const seen: SeenRequest = { path, method: req.method ?? 'GET', idempotencyKey: Array.isArray(key) ? key[0] : key, headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
    this.requests.push(seen);
    const script = this.#scripts.get(path);
    const fault: Fault = (script && script.length > 1 ? script.shift() : script?.[0]) ?? { status: 200, body: { ok: true } };
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    let finished = false;
    res.on('close', () => {
      this.inFlight--;
      if (!finished && !res.writableFinished) {
        this.dropped.push(seen);
        this.emit('closed', seen);
      }
    });
    this.emit('request', seen);
    if ('reset' in fault) {
      finished = true;
      req.socket.destroy();
      return;
    }
    if ('hang' in fault) return;
    if (fault.delayMs) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, fault.delayMs);
        res.on('close', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      if (res.destroyed) return;
    }
    finished = true;
    const body = fault.body === undefined ? '' : typeof fault.body === 'string' ? fault.body : JSON.stringify(fault.body);
    const type = typeof fault.body === 'string' ? 'text/plain' : 'application/json';
    res.writeHead(fault.status, { 'content-type': type, ...fault.headers });
    res.end(body);
  }
}
