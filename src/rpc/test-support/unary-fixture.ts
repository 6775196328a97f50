import { Code, ConnectError, createContextKey, type ConnectRouter, type Interceptor } from '@connectrpc/connect';
import { Health, HealthCheckRequestSchema, HealthCheckResponse_ServingStatus } from '../../../gen/grpc/health/v1/health_pb.js';
import { InfoService } from '../../../gen/info/v1/info_pb.js';
import { OrchestratorService } from '../../../gen/orchestrator/v1/orchestrator_pb.js';
import { createRpcHandler } from '../rpc-handler.js';
import { startServer } from '../server.js';

/**
 * A server with the unary fast paths on or off, for tests that send the same requests to both and
 * compare (connect-unary.test.ts, grpc-unary.test.ts). grpc.health.v1.Health/Check does what its
 * `service` field says: `missing` (not_found with metadata), `details` (an error detail), `crash` (a plain Error), `headers`
 * (sets a response header and trailer), `bad-header` (one Node cannot write), `mux` (a header and a trailer under one muxed name), `wait` (until the call's signal aborts); GetInfo answers
 * more than 1 KiB. The server stream grpc.health.v1.Health/Watch: three messages, or as `service` says: `headers`, `fail` (an error
 * with metadata and details after one message), `crash` (a plain Error before any), `empty`, `wait` (one message, then until the
 * signal aborts), `bad-header`, `many` (messages until the client leaves, counted in `produced`); orchestrator.v1.OrchestratorService/WatchWorkflow yields two messages over 1 KiB.
 */
export const silent = { debug() {}, info() {}, warn() {}, error() {}, child() { return silent; } } as never;
export const requestKey = createContextKey<string>('none');

/** What the implementations saw, per server. */
export interface Seen {
  calls: { path: string; contentType: string | null; value: string; timeoutMs: number | undefined }[];
  aborted: unknown[];
  /** Messages the `many` stream has produced so far. */
  produced?: number;
}

export function routes(seen: Seen) {
  return (router: ConnectRouter) => {
    router.service(Health, {
      async check(req, ctx) {
        seen.calls.push({ path: new URL(ctx.url).pathname, contentType: ctx.requestHeader.get('content-type'), value: ctx.values.get(requestKey), timeoutMs: ctx.timeoutMs() });
        switch (req.service) {
          case 'missing':
            throw new ConnectError('no such service', Code.NotFound, { 'x-reason': 'unknown' });
          case 'details':
            throw new ConnectError('with details', Code.FailedPrecondition, undefined, [{ desc: HealthCheckRequestSchema, value: { service: 'detail' } }]);
          case 'crash':
            throw new Error('boom');
          case 'headers':
            ctx.responseHeader.set('x-header', 'h');
            ctx.responseTrailer.set('x-trailer', 't');
            break;
          case 'bad-header':
            // Headers takes it; Node refuses to write it.
            ctx.responseHeader.set('x-bad', 'a\u0001b');
            break;
          case 'mux':
            // A Connect unary answer carries trailers as `trailer-` headers: both land in one.
            ctx.responseHeader.set('trailer-x-trailer', 'early');
            ctx.responseTrailer.set('x-trailer', 't');
            break;
          case 'wait':
            // Ends only when the call's signal aborts (deadline, client gone, shutdown).
            await new Promise((_, reject) => ctx.signal.addEventListener('abort', () => {
              seen.aborted.push(ctx.signal.reason);
              reject(ctx.signal.reason);
            }));
        }
        return { status: HealthCheckResponse_ServingStatus.SERVING };
      },
      async *watch(req, ctx) {
        seen.calls.push({ path: new URL(ctx.url).pathname, contentType: ctx.requestHeader.get('content-type'), value: ctx.values.get(requestKey), timeoutMs: ctx.timeoutMs() });
        const serving = { status: HealthCheckResponse_ServingStatus.SERVING };
        switch (req.service) {
          case 'empty':
            return;
          case 'crash':
            throw new Error('boom');
          case 'headers':
            ctx.responseHeader.set('x-header', 'h');
            ctx.responseTrailer.set('x-trailer', 't');
            yield serving;
            yield serving;
            return;
          case 'bad-header':
            ctx.responseHeader.set('x-bad', 'a\u0001b');
            yield serving;
            return;
          case 'fail':
            yield serving;
            throw new ConnectError('went wrong', Code.FailedPrecondition, { 'x-reason': 'broken' }, [{ desc: HealthCheckRequestSchema, value: { service: 'detail' } }]);
          case 'many':
            // As fast as the stream takes them, until the client leaves.
            for (seen.produced = 0; !ctx.signal.aborted; seen.produced++) {
              yield serving;
              // Lets timers run even if a server never made this wait.
              if (seen.produced % 100 === 0) await new Promise((resolve) => setImmediate(resolve));
            }
            return;
          case 'wait':
            yield serving;
            await new Promise((_, reject) => ctx.signal.addEventListener('abort', () => {
              seen.aborted.push(ctx.signal.reason);
              reject(ctx.signal.reason);
            }));
        }
        for (let i = 0; i < 3; i++) yield { status: HealthCheckResponse_ServingStatus.SERVING };
      },
    });
    router.service(OrchestratorService, {
      // Messages over 1 KiB: compressed when the client accepts it.
      async *watchWorkflow(req) {
        for (let version = 1; version <= 2; version++) yield { entry: { workflowId: req.workflowId, version, eventType: 'e'.repeat(1500) } };
      },
    });
    router.service(InfoService, {
      // A response over 1 KiB: compressed when the client accepts it.
      getInfo: () => ({ name: 'x'.repeat(2000), protocols: ['connect'] }),
    });
  };
}

/** An interceptor that puts a value in the call's context, as the app's interceptors read them. */
export const tagging: Interceptor = (next) => async (req) => {
  req.contextValues.set(requestKey, `seen ${req.method.name}`);
  return next(req);
};

export async function serve(fastPath: boolean) {
  const seen: Seen = { calls: [], aborted: [] };
  const shutdown = new AbortController();
  const handler = createRpcHandler({
    routes: routes(seen),
    corsOrigins: [],
    maxRequestBytes: 4096,
    maxTimeoutMs: 60_000,
    shutdownSignal: shutdown.signal,
    interceptors: [tagging],
    fastPaths: fastPath,
  });
  const server = await startServer({ port: 0, host: '127.0.0.1', handler, logger: silent });
  return { server, seen, shutdown };
}


/** Two servers, fast paths on and off, started before the suite's tests and closed after them. */
export function serveBoth(before: (fn: () => Promise<void>) => void, after: (fn: () => Promise<void>) => void) {
  const pair = {} as { fast: Served; generic: Served };
  before(async () => {
    pair.fast = await serve(true);
    pair.generic = await serve(false);
  });
  after(async () => {
    await pair.fast.server.close(100);
    await pair.generic.server.close(100);
  });
  return pair;
}

export type Served = Awaited<ReturnType<typeof serve>>;

export async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

