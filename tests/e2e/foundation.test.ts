import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http2 from 'node:http2';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { createClient, Code, ConnectError, type Transport } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from '@connectrpc/connect-node';
import { HealthService, HealthCheckResponse_ServingStatus as Status } from '../../gen/health/v1/health_pb.js';
import { Health as GrpcHealth, HealthCheckResponse_ServingStatus as GrpcStatus } from '../../gen/grpc/health/v1/health_pb.js';
import { InfoService } from '../../gen/info/v1/info_pb.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { createTestDatabaseOptions } from '../helpers/test-database.js';

const run = promisify(execFile);

function transports(baseUrl: string): Record<string, Transport> {
  return {
    'grpc (h2)': createGrpcTransport({ baseUrl }),
    'grpc-web (http/1.1)': createGrpcWebTransport({ baseUrl, httpVersion: '1.1' }),
    'connect json (http/1.1)': createConnectTransport({ baseUrl, httpVersion: '1.1', useBinaryFormat: false }),
    'connect binary (h2)': createConnectTransport({ baseUrl, httpVersion: '2', useBinaryFormat: true }),
  };
}

describe('foundation: one port, three protocols', () => {
  let server: ServerProcess;
  let store: ReturnType<typeof createTestDatabaseOptions>;

  before(async () => {
    store = createTestDatabaseOptions();
    server = await startServerProcess({ ...store.env, MAX_REQUEST_BYTES: '2048', MAX_TIMEOUT_MS: '30000', CORS_ORIGINS: 'https://app.example' });
  });
  after(async () => {
    await server?.stop();
    await store?.cleanup();
  });

  for (const name of ['grpc (h2)', 'grpc-web (http/1.1)', 'connect json (http/1.1)', 'connect binary (h2)']) {
    it(`answers Health.Check and Info.GetInfo over ${name}`, async () => {
      const transport = transports(server.baseUrl)[name]!;
      const health = await createClient(HealthService, transport).check({ service: '' });
      assert.equal(health.status, Status.SERVING);
      assert.deepEqual(health.components.map((c) => c.name).sort(), ['bus', 'store']);
      const info = await createClient(InfoService, transport).getInfo({});
      assert.equal(info.name, 'orchestrator');
      assert.equal(info.nodeVersion, process.version);
      assert.equal(info.storeKind, process.env.DATABASE_URL ? 'postgres' : 'pglite');
      assert.equal(info.busKind, process.env.REDIS_URL ? 'redis' : 'memory');
      assert.deepEqual(info.protocols, ['grpc', 'grpc-web', 'connect']);
      assert.match(info.gitCommit, /^([0-9a-f]{40}|unknown)$/);
      assert.ok(info.startTime && info.uptimeSeconds >= 0, 'a start time and an uptime');
      const http = info.tools.find((t) => t.name === 'http.request');
      assert.equal(http?.breaker, 'closed');
      assert.ok(http.maxConcurrent > 0, 'the http tool has a positive bulkhead limit');
    });
  }

  it('serves the standard grpc.health.v1 Health service over every protocol', async () => {
    for (const [name, transport] of Object.entries(transports(server.baseUrl))) {
      const client = createClient(GrpcHealth, transport);
      assert.equal((await client.check({ service: '' })).status, GrpcStatus.SERVING, name);
      assert.equal((await client.check({ service: 'store' })).status, GrpcStatus.SERVING, name);
      await assert.rejects(client.check({ service: 'nope' }), (err: unknown) => ConnectError.from(err).code === Code.NotFound, name);
      const { statuses } = await client.list({});
      assert.deepEqual(Object.keys(statuses).sort(), ['', 'bus', 'orchestrator', 'store'], name);
    }
  });

  it('answers Check for one component and SERVICE_UNKNOWN for an unknown one', async () => {
    const client = createClient(HealthService, transports(server.baseUrl)['connect json (http/1.1)']!);
    assert.equal((await client.check({ service: 'store' })).status, Status.SERVING);
    assert.equal((await client.check({ service: 'nope' })).status, Status.SERVICE_UNKNOWN);
  });

  it('serves plain JSON the way curl sends it, by POST and by GET', async () => {
    const post = await fetch(`${server.baseUrl}/health.v1.HealthService/Check`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"service":""}',
    });
    assert.equal(post.status, 200);
    const body = (await post.json()) as { status: string };
    assert.equal(body.status, 'SERVING_STATUS_SERVING');

    const get = await fetch(`${server.baseUrl}/info.v1.InfoService/GetInfo?connect=v1&encoding=json&message=${encodeURIComponent('{}')}`);
    assert.equal(get.status, 200);
    assert.equal(((await get.json()) as { name: string }).name, 'orchestrator');
  });

  it('is reachable with buf curl over each protocol', async () => {
    const buf = 'node_modules/.bin/buf';
    const cases: [string, string[]][] = [
      ['connect', ['--protocol', 'connect']],
      ['grpcweb', ['--protocol', 'grpcweb']],
      ['grpc', ['--protocol', 'grpc', '--http2-prior-knowledge']],
    ];
    for (const [label, flags] of cases) {
      const { stdout } = await run(buf, ['curl', '--schema', 'proto', ...flags, '-d', '{"service":"orchestrator"}', `${server.baseUrl}/health.v1.HealthService/Check`]);
      assert.equal((JSON.parse(stdout) as { status: string }).status, 'SERVING_STATUS_SERVING', label);
    }
  });

  it('answers a browser CORS preflight for an allowed origin only', async () => {
    const preflight = (origin: string) =>
      fetch(`${server.baseUrl}/health.v1.HealthService/Check`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,connect-protocol-version' },
      });
    const ok = await preflight('https://app.example');
    assert.equal(ok.status, 204);
    assert.equal(ok.headers.get('access-control-allow-origin'), 'https://app.example');
    assert.match(ok.headers.get('access-control-allow-methods') ?? '', /POST/);
    assert.match(ok.headers.get('access-control-allow-headers') ?? '', /Connect-Protocol-Version/i);
    const denied = await preflight('https://evil.example');
    assert.equal(denied.headers.get('access-control-allow-origin'), null);
  });

  it('refuses an oversized request with resource_exhausted', async () => {
    const client = createClient(HealthService, transports(server.baseUrl)['connect json (http/1.1)']!);
    await assert.rejects(client.check({ service: 'x'.repeat(4096) }), (err: unknown) => ConnectError.from(err).code === Code.ResourceExhausted);
    const grpc = createClient(HealthService, transports(server.baseUrl)['grpc (h2)']!);
    await assert.rejects(grpc.check({ service: 'x'.repeat(4096) }), (err: unknown) => ConnectError.from(err).code === Code.ResourceExhausted);
  });

  it('answers an unknown method with 404 / unimplemented', async () => {
    const res = await fetch(`${server.baseUrl}/health.v1.HealthService/Nope`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(res.status, 404);
    const status = await grpcStatusOf(server.baseUrl, '/health.v1.HealthService/Nope');
    assert.ok(status === 404 || status === Code.Unimplemented, `got ${status}`);
  });

  it('refuses a deadline longer than MAX_TIMEOUT_MS with invalid_argument', async () => {
    const client = createClient(HealthService, transports(server.baseUrl)['grpc (h2)']!);
    await assert.rejects(client.check({ service: '' }, { timeoutMs: 60_000 }), (err: unknown) => ConnectError.from(err).code === Code.InvalidArgument);
    assert.equal((await client.check({ service: '' }, { timeoutMs: 5_000 })).status, Status.SERVING);
  });

  it('answers malformed JSON with invalid_argument', async () => {
    const res = await fetch(`${server.baseUrl}/health.v1.HealthService/Check`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"service":' });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { code: string }).code, 'invalid_argument');
  });
});

describe('foundation: lifecycle', () => {
  it('ends Watch streams with unavailable on SIGTERM and exits by itself', async () => {
    const store = createTestDatabaseOptions();
    const server = await startServerProcess({ ...store.env, SHUTDOWN_GRACE_MS: '5000' });
    try {
      let firstSeen!: () => void;
      let count = 0;
      const allWatching = new Promise<void>((resolve) => (firstSeen = () => ++count === 2 && resolve()));
      const streams = [transports(server.baseUrl)['connect json (http/1.1)']!, transports(server.baseUrl)['grpc (h2)']!].map(async (transport) => {
        const seen: Status[] = [];
        try {
          for await (const res of createClient(HealthService, transport).watch({ service: '' })) {
            seen.push(res.status);
            if (seen.length === 1) firstSeen();
          }
          return { seen, code: Code[0] };
        } catch (err) {
          return { seen, code: Code[ConnectError.from(err).code] };
        }
      });
      await allWatching;
      const exitCode = server.stop('SIGTERM');
      const results = await Promise.all(streams);
      for (const r of results) {
        assert.equal(r.seen[0], Status.SERVING);
        assert.equal(r.code, 'Unavailable');
      }
      assert.equal(await exitCode, 0);
    } finally {
      await server.stop('SIGKILL');
      await store.cleanup();
    }
  });

  it('stops at start-up with one clear line for a bad setting', async () => {
    await assert.rejects(startServerProcess({ PORT: 'eighty' }), /PORT must be a whole number/);
  });

  it('gives up on an unreachable database after the start-up timeout, without a stack trace', async () => {
    await assert.rejects(
      startServerProcess({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/test', STARTUP_TIMEOUT_MS: '600' }),
      (err: Error) => /start-up failed/.test(err.message) && !/\n\s+at /.test(err.message),
    );
  });
});

/** Sends a bare gRPC request over HTTP/2 and returns grpc-status (or the HTTP status when it is not 200). */
async function grpcStatusOf(baseUrl: string, path: string): Promise<number> {
  const session = http2.connect(baseUrl);
  try {
    return await new Promise<number>((resolve, reject) => {
      const req = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
      req.on('response', (headers) => {
        const httpStatus = Number(headers[':status']);
        if (httpStatus !== 200) return resolve(httpStatus);
        if (headers['grpc-status'] !== undefined) return resolve(Number(headers['grpc-status']));
        req.on('trailers', (t) => resolve(Number(t['grpc-status'])));
      });
      req.on('error', reject);
      req.resume();
      req.end(Buffer.from([0, 0, 0, 0, 0]));
    });
  } finally {
    session.close();
  }
}
