import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { create, toBinary } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient, type ConnectRouter } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { Health, HealthCheckRequestSchema } from '../../gen/grpc/health/v1/health_pb.js';
import { WatchWorkflowRequestSchema } from '../../gen/orchestrator/v1/orchestrator_pb.js';
import { createGrpcServerStreamHandler } from './grpc-server-stream.js';
import { envelope, grpc, send, visible } from './test-support/grpc-wire.js';
import { routes, serve, serveBoth, until } from './test-support/unary-fixture.js';
import { recordMethods, type ServerStreamingMethods } from './unary-call.js';

const watch = '/grpc.health.v1.Health/Watch';
const watchWorkflow = '/orchestrator.v1.OrchestratorService/WatchWorkflow';

const request = (service: string) => toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service }));

/** Requests and what connect-node answers them with; the fast path must answer the same. */
const cases: { name: string; path: string; body: Buffer; headers: Record<string, string>; status: string }[] = [
  { name: 'three messages', path: watch, body: envelope(request('')), headers: grpc, status: '0' },
  { name: 'application/grpc+proto', path: watch, body: envelope(request('')), headers: { 'content-type': 'application/grpc+proto' }, status: '0' },
  { name: 'headers and trailers set by the handler', path: watch, body: envelope(request('headers')), headers: grpc, status: '0' },
  { name: 'no message at all', path: watch, body: envelope(request('empty')), headers: grpc, status: '0' },
  { name: 'a ConnectError with metadata and details after a message', path: watch, body: envelope(request('fail')), headers: grpc, status: '9' },
  { name: 'a plain Error before any message (internal)', path: watch, body: envelope(request('crash')), headers: grpc, status: '13' },
  { name: 'the deadline passes mid-stream', path: watch, body: envelope(request('wait')), headers: { ...grpc, 'grpc-timeout': '50m' }, status: '4' },
  { name: 'large messages, gzip accepted', path: watchWorkflow, body: envelope(toBinary(WatchWorkflowRequestSchema, create(WatchWorkflowRequestSchema, { workflowId: 'w' }))), headers: { ...grpc, 'grpc-accept-encoding': 'gzip' }, status: '0' },
  { name: 'large messages, nothing accepted', path: watchWorkflow, body: envelope(toBinary(WatchWorkflowRequestSchema, create(WatchWorkflowRequestSchema, { workflowId: 'w' }))), headers: grpc, status: '0' },
  { name: 'a response header HTTP/2 does not carry', path: watch, body: envelope(request('bad-header')), headers: grpc, status: '0' },
  { name: 'a method not implemented', path: `${watchWorkflow}s`, body: envelope(new Uint8Array()), headers: grpc, status: '12' },
  { name: 'a gzip request', path: watch, body: envelope(gzipSync(request('headers')), 1), headers: { ...grpc, 'grpc-encoding': 'gzip' }, status: '0' },
  { name: 'bad protobuf bytes', path: watch, body: envelope(Buffer.from([0x0a, 0x05, 0x61])), headers: grpc, status: '13' },
  { name: 'no request message', path: watch, body: Buffer.alloc(0), headers: grpc, status: '12' },
  { name: 'two request messages', path: watch, body: Buffer.concat([envelope(request('')), envelope(request(''))]), headers: grpc, status: '12' },
  { name: 'an incomplete envelope', path: watch, body: envelope(request('headers')).subarray(0, 8), headers: grpc, status: '3' },
  { name: 'a request over the limit', path: watch, body: envelope(request('x'.repeat(5000))), headers: grpc, status: '8' },
  // Not for the fast path: connect-node answers them in both servers.
  { name: 'an unknown encoding', path: watch, body: envelope(request('')), headers: { ...grpc, 'grpc-encoding': 'zstd' }, status: '12' },
  { name: 'an invalid timeout', path: watch, body: envelope(request('')), headers: { ...grpc, 'grpc-timeout': 'soon' }, status: '3' },
  { name: 'JSON', path: watch, body: envelope(Buffer.from('{}')), headers: { 'content-type': 'application/grpc+json' }, status: '0' },
];

describe('the gRPC server-stream fast path', () => {
  const servers = serveBoth(before, after);

  for (const c of cases) {
    it(`answers ${c.name} as connect-node does`, async () => {
      const a = await send(servers.fast.server.port, c.path, c.body, c.headers);
      const b = await send(servers.generic.server.port, c.path, c.body, c.headers);
      assert.deepEqual(visible(a), visible(b));
      assert.equal(a.trailers['grpc-status'] ?? a.headers['grpc-status'], c.status, JSON.stringify(visible(a)));
    });
  }

  it('gives the implementation the same context as connect-node', () => {
    const streams = (s: typeof servers.fast) => s.seen.calls.filter((c) => c.path === watch).map((c) => ({ ...c, timeoutMs: c.timeoutMs === undefined ? 'none' : 'set' }));
    assert.ok(streams(servers.fast).length > 5, 'the fast path served more than 5 streams');
    assert.deepEqual(streams(servers.fast), streams(servers.generic));
    assert.equal(streams(servers.fast)[0]!.value, 'seen Watch', "the interceptors' context values reach the implementation");
  });

  it('gives the gRPC client the same messages, headers, trailers and errors', async () => {
    for (const server of [servers.fast, servers.generic]) {
      const client = createClient(Health, createGrpcTransport({ baseUrl: `http://127.0.0.1:${server.server.port}` }));
      const headers: Record<string, string> = {};
      const seen: number[] = [];
      for await (const res of client.watch({ service: 'headers' }, { onHeader: (h) => h.forEach((v, k) => (headers[k] = v)), onTrailer: (t) => t.forEach((v, k) => (headers[k] = v)) })) seen.push(res.status);
      assert.deepEqual(seen, [1, 1]);
      assert.equal(headers['x-header'], 'h');
      assert.equal(headers['x-trailer'], 't');
      const statuses: number[] = [];
      const error = await (async () => {
        for await (const res of client.watch({ service: 'fail' })) statuses.push(res.status);
      })().then(() => undefined, (e: unknown) => ConnectError.from(e));
      assert.deepEqual(statuses, [1]);
      assert.equal(error?.code, Code.FailedPrecondition);
      assert.equal(error?.metadata.get('x-reason'), 'broken');
      assert.deepEqual(error?.findDetails(HealthCheckRequestSchema).map((d) => d.service), ['detail']);
    }
  });

  it("aborts the call's signal when the client goes away, and ends the implementation", async () => {
    const before = servers.fast.seen.aborted.length;
    const session = http2.connect(`http://127.0.0.1:${servers.fast.server.port}`);
    try {
      const stream = session.request({ ':method': 'POST', ':path': watch, te: 'trailers', ...grpc });
      stream.on('error', () => {});
      const first = new Promise((resolve) => stream.once('data', resolve));
      stream.end(envelope(request('wait')));
      await first;
      stream.close(http2.constants.NGHTTP2_CANCEL);
      await until(() => servers.fast.seen.aborted.length > before);
      assert.equal(ConnectError.from(servers.fast.seen.aborted.at(-1)).code, Code.Canceled);
    } finally {
      session.close();
    }
  });

  it('produces no faster than a slow client reads (flow control), and stops when it leaves', async () => {
    const session = http2.connect(`http://127.0.0.1:${servers.fast.server.port}`);
    try {
      const stream = session.request({ ':method': 'POST', ':path': watch, te: 'trailers', ...grpc });
      stream.on('error', () => {});
      stream.pause(); // reads nothing: HTTP/2 flow control and the server's buffer fill up
      stream.end(envelope(request('many')));
      await until(() => (servers.fast.seen.produced ?? 0) > 0);
      // Until production stops (the buffers are full), however busy the machine is; a producer
      // that ignores a full buffer never stops.
      let stalled = servers.fast.seen.produced!;
      for (let waited = 0; ; waited += 200) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        if (servers.fast.seen.produced === stalled) break;
        assert.ok(waited < 10_000, `still producing after 10 s for a client that reads none (${servers.fast.seen.produced} messages)`);
        stalled = servers.fast.seen.produced!;
      }
      await new Promise((resolve) => setTimeout(resolve, 300));
      // 7 bytes a message: a 64 KiB window and the stream's buffers hold some thousands, not more.
      assert.equal(servers.fast.seen.produced, stalled, 'the implementation waits while nobody reads');
      assert.ok(stalled < 100_000, `${stalled} messages produced for a client that reads none`);
      stream.resume();
      await until(() => servers.fast.seen.produced! > stalled + 1000);
      stream.close(http2.constants.NGHTTP2_CANCEL);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const after = servers.fast.seen.produced!;
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(servers.fast.seen.produced, after, 'the implementation stops once the client left');
    } finally {
      session.close();
    }
  });

  it('ends open streams with unavailable when the server shuts down', async () => {
    const own = await serve(true);
    try {
      const answer = send(own.server.port, watch, envelope(request('wait')), grpc);
      await until(() => own.seen.calls.length === 1);
      own.shutdown.abort(new ConnectError('server is shutting down', Code.Unavailable));
      const a = await answer;
      assert.equal(a.trailers['grpc-status'], '14');
      assert.equal(decodeURIComponent(String(a.trailers['grpc-message'])), 'server is shutting down');
    } finally {
      await own.server.close(100);
    }
  });
});

describe('createGrpcServerStreamHandler', () => {
  it('takes only gRPC server streams over HTTP/2 in protobuf, and leaves the rest untouched', async () => {
    const streams: ServerStreamingMethods = new Map();
    routes({ calls: [], aborted: [] })(recordMethods({ handlers: [], service() { return this; }, rpc() { return this; } } as unknown as ConnectRouter, new Map(), streams));
    assert.deepEqual([...streams.keys()].sort(), [watch, watchWorkflow, `${watchWorkflow}s`]);
    const handle = createGrpcServerStreamHandler(streams, { interceptors: [], jsonOptions: {}, readMaxBytes: 100, maxTimeoutMs: 1000, shutdownSignal: new AbortController().signal });
    const server = http2.createServer((req, res) => {
      if (!handle(req, res)) res.writeHead(299).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const taken = async (path: string, headers: Record<string, string>) => (await send(port, path, envelope(request('')), headers)).status !== 299;
      assert.equal(await taken(watch, grpc), true);
      assert.equal(await taken('/grpc.health.v1.Health/Check', grpc), false, 'unary');
      assert.equal(await taken(watch, { 'content-type': 'application/grpc+json' }), false);
      assert.equal(await taken(watch, { 'content-type': 'application/grpc-web+proto' }), false);
      assert.equal(await taken(watch, { 'content-type': 'application/connect+proto' }), false);
      assert.equal(await taken(watch, { ...grpc, 'grpc-encoding': 'zstd' }), false);
      assert.equal(await taken(watch, { ...grpc, 'grpc-timeout': '5S' }), false, 'over maxTimeoutMs');
    } finally {
      server.close();
    }
  });
});
