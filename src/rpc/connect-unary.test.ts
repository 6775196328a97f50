import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import { after, before, describe, it } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { create, toBinary } from '@bufbuild/protobuf';
import { Code, ConnectError, createContextValues, type ConnectRouter } from '@connectrpc/connect';
import { HealthCheckRequestSchema } from '../../gen/grpc/health/v1/health_pb.js';
import { createConnectUnaryHandler } from './connect-unary.js';
import { routes, serve, serveBoth, until, type Seen } from './test-support/unary-fixture.js';
import { recordMethods, type UnaryMethods } from './unary-call.js';

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function send(port: number, path: string, body: Buffer | string, headers: Record<string, string>, method = 'POST'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    const length = headers['transfer-encoding'] ? {} : { 'content-length': String(bytes.length) };
    const req = http.request({ host: '127.0.0.1', port, path, method, headers: { ...length, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const raw = Buffer.concat(chunks);
        const text = res.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res.headers['content-type']?.includes('proto') ? text.toString('hex') : text.toString() });
      });
    });
    req.on('error', reject);
    req.end(bytes);
  });
}

/** The parts of an answer a client depends on (not Date, Connection, Keep-Alive). */
function visible(a: Answer) {
  const pick = ['content-type', 'content-encoding', 'x-header', 'trailer-x-trailer', 'x-reason'];
  return { status: a.status, body: a.body, headers: Object.fromEntries(pick.map((k) => [k, a.headers[k]])) };
}

const json = { 'content-type': 'application/json' };
const check = '/grpc.health.v1.Health/Check';

/** Requests and what connect-node answers them with; the fast path must answer the same. */
const cases: { name: string; path: string; body: Buffer | string; headers: Record<string, string>; method?: string; expect: number }[] = [
  { name: 'ok', path: check, body: '{}', headers: json, expect: 200 },
  { name: 'charset in the content type', path: check, body: '{"service":""}', headers: { 'content-type': 'application/json; charset=utf-8' }, expect: 200 },
  { name: 'headers and trailers set by the handler', path: check, body: '{"service":"headers"}', headers: json, expect: 200 },
  { name: 'a header and a trailer under one muxed name', path: check, body: '{"service":"mux"}', headers: json, expect: 200 },
  { name: 'a ConnectError with metadata', path: check, body: '{"service":"missing"}', headers: json, expect: 404 },
  { name: 'a ConnectError with details', path: check, body: '{"service":"details"}', headers: json, expect: 400 },
  { name: 'a plain Error (internal)', path: check, body: '{"service":"crash"}', headers: json, expect: 500 },
  { name: 'malformed JSON', path: check, body: '{"service":', headers: json, expect: 400 },
  { name: 'an unknown field', path: check, body: '{"servise":"x"}', headers: json, expect: 400 },
  { name: 'a wrong field type', path: check, body: '{"service":3}', headers: json, expect: 400 },
  { name: 'binary protobuf', path: check, body: Buffer.from(toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service: 'headers' }))), headers: { 'content-type': 'application/proto' }, expect: 200 },
  // connect-es answers bytes it cannot parse with `internal` (JSON it cannot parse with invalid_argument).
  { name: 'bad protobuf bytes', path: check, body: Buffer.from([0x0a, 0x05, 0x61]), headers: { 'content-type': 'application/proto' }, expect: 500 },
  { name: 'a method not implemented', path: '/grpc.health.v1.Health/List', body: '{}', headers: json, expect: 501 },
  { name: 'the deadline passes', path: check, body: '{"service":"wait"}', headers: { ...json, 'connect-timeout-ms': '30' }, expect: 504 },
  { name: 'a large response, gzip accepted', path: '/info.v1.InfoService/GetInfo', body: '{}', headers: { ...json, 'accept-encoding': 'gzip' }, expect: 200 },
  { name: 'a large response, nothing accepted', path: '/info.v1.InfoService/GetInfo', body: '{}', headers: json, expect: 200 },
  { name: 'a chunked body (no length)', path: check, body: '{"service":"headers"}', headers: { ...json, 'transfer-encoding': 'chunked' }, expect: 200 },
  { name: 'a chunked body over the limit', path: check, body: `{"service":"${'x'.repeat(5000)}"}`, headers: { ...json, 'transfer-encoding': 'chunked' }, expect: 429 },
  { name: 'a gzip request body', path: check, body: gzipSync('{"service":"headers"}'), headers: { ...json, 'content-encoding': 'gzip' }, expect: 200 },
  // Not for the fast path: connect-node answers them in both servers.
  { name: 'an unknown encoding', path: check, body: '{}', headers: { ...json, 'content-encoding': 'zstd' }, expect: 501 },
  { name: 'an invalid timeout header', path: check, body: '{}', headers: { ...json, 'connect-timeout-ms': 'soon' }, expect: 400 },
  { name: 'a body over the limit', path: check, body: `{"service":"${'x'.repeat(5000)}"}`, headers: json, expect: 429 },
  { name: 'an unsupported content type', path: check, body: '{}', headers: { 'content-type': 'text/plain' }, expect: 415 },
  { name: 'GET of a method with side effects', path: check, body: '', headers: json, method: 'GET', expect: 405 },
];

describe('the Connect unary fast path', () => {
  const servers = serveBoth(before, after);

  for (const c of cases) {
    it(`answers ${c.name} as connect-node does`, async () => {
      const [a, b] = [await send(servers.fast.server.port, c.path, c.body, c.headers, c.method), await send(servers.generic.server.port, c.path, c.body, c.headers, c.method)];
      assert.deepEqual(visible(a), visible(b));
      assert.equal(a.status, c.expect, a.body);
    });
  }

  it('gives the implementation the same context as connect-node', () => {
    assert.ok(servers.fast.seen.calls.length > 5, 'the fast path served more than 5 calls');
    // The time left differs by the milliseconds between the two requests.
    const shape = (calls: Seen['calls']) => calls.map((c) => ({ ...c, timeoutMs: c.timeoutMs === undefined ? 'none' : 'set' }));
    assert.deepEqual(shape(servers.fast.seen.calls), shape(servers.generic.seen.calls));
    assert.deepEqual(servers.fast.seen.calls[0], { path: check, contentType: 'application/json', value: 'seen Check', timeoutMs: undefined });
    assert.ok(servers.fast.seen.calls.some((c) => c.timeoutMs !== undefined && c.timeoutMs > 0 && c.timeoutMs <= 30), 'a call carried its deadline (0-30 ms) to the handler');
  });

  it('answers over HTTP/2 as well', async () => {
    const session = http2.connect(`http://127.0.0.1:${servers.fast.server.port}`);
    try {
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const stream = session.request({ ':method': 'POST', ':path': check, 'content-type': 'application/json', 'content-length': '21' });
        let status = 0;
        let body = '';
        stream.on('response', (h) => (status = Number(h[':status'])));
        stream.on('data', (c: Buffer) => (body += c.toString()));
        stream.on('end', () => resolve({ status, body }));
        stream.on('error', reject);
        stream.end('{"service":"headers"}');
      });
      assert.deepEqual(answer, { status: 200, body: '{"status":"SERVING"}' });
    } finally {
      session.close();
    }
  });

  it('resets the connection, and keeps serving, when a response header cannot be written', async () => {
    await assert.rejects(send(servers.fast.server.port, check, '{"service":"bad-header"}', json));
    assert.equal((await send(servers.fast.server.port, check, '{}', json)).status, 200);
  });

  it("aborts the call's signal when the client goes away", async () => {
    const before = servers.fast.seen.aborted.length;
    const calls = servers.fast.seen.calls.length;
    const req = http.request({ host: '127.0.0.1', port: servers.fast.server.port, path: check, method: 'POST', headers: { ...json, 'content-length': '18' } });
    req.on('error', () => {});
    req.end('{"service":"wait"}');
    await until(() => servers.fast.seen.calls.length > calls);
    req.destroy();
    await until(() => servers.fast.seen.aborted.length > before);
    assert.equal(ConnectError.from(servers.fast.seen.aborted.at(-1)).code, Code.Canceled);
  });

  it("aborts the call's signal with unavailable when the server shuts down", async () => {
    const own = await serve(true);
    try {
      const answer = send(own.server.port, check, '{"service":"wait"}', json);
      await until(() => own.seen.calls.length === 1);
      own.shutdown.abort(new ConnectError('server is shutting down', Code.Unavailable));
      const a = await answer;
      assert.equal(a.status, 503);
      assert.match(a.body, /server is shutting down/);
    } finally {
      await own.server.close(100);
    }
  });
});

describe('createConnectUnaryHandler', () => {
  it('takes only unary Connect POSTs within the limits, and leaves the rest untouched', async () => {
    const methods: UnaryMethods = new Map();
    routes({ calls: [], aborted: [] })(recordMethods({ handlers: [], service() { return this; }, rpc() { return this; } } as unknown as ConnectRouter, methods));
    assert.deepEqual([...methods.keys()].filter((path) => !path.startsWith('/orchestrator.')).sort(), ['/grpc.health.v1.Health/Check', '/grpc.health.v1.Health/List', '/info.v1.InfoService/GetInfo']);
    const unary = createConnectUnaryHandler(methods, { interceptors: [], jsonOptions: {}, readMaxBytes: 100, maxTimeoutMs: 1000, shutdownSignal: new AbortController().signal, contextValues: () => createContextValues() });
    const server = http.createServer((req, res) => {
      if (!unary(req, res)) res.writeHead(299).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const taken = async (path: string, headers: Record<string, string>, body = '{}', method = 'POST') => (await send(port, path, body, headers, method)).status !== 299;
      assert.equal(await taken(check, json), true);
      assert.equal(await taken(check, { 'content-type': 'application/proto' }, ''), true);
      assert.equal(await taken('/grpc.health.v1.Health/Watch', json), false, 'a stream');
      assert.equal(await taken('/nope.Service/Method', json), false);
      assert.equal(await taken(check, { 'content-type': 'application/grpc' }), false);
      assert.equal(await taken(check, { 'content-type': 'application/grpc-web+proto' }), false);
      assert.equal(await taken(check, { 'content-type': 'application/connect+json' }), false);
      assert.equal(await taken(check, json, '', 'GET'), false);
      assert.equal(await taken(check, { ...json, 'content-encoding': 'zstd' }), false);
      assert.equal(await taken(check, { ...json, 'connect-timeout-ms': '-1' }), false);
      assert.equal(await taken(check, { ...json, 'connect-timeout-ms': '5000' }), false, 'over maxTimeoutMs');
      assert.equal(await taken(check, json, 'x'.repeat(101)), false, 'over readMaxBytes');
      assert.equal(await taken(check, { ...json, 'transfer-encoding': 'chunked' }), true, 'no length: read up to the limit');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
