import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { create, toBinary } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { Health, HealthCheckRequestSchema } from '../../gen/grpc/health/v1/health_pb.js';
import { envelope, grpc, send, visible } from './test-support/grpc-wire.js';
import { serveBoth } from './test-support/unary-fixture.js';

const check = '/grpc.health.v1.Health/Check';
const info = '/info.v1.InfoService/GetInfo';

const request = (service: string) => toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service }));

const cases: { name: string; path: string; body: Buffer; headers: Record<string, string>; status: string }[] = [
  { name: 'ok', path: check, body: envelope(request('')), headers: grpc, status: '0' },
  { name: 'application/grpc+proto', path: check, body: envelope(request('')), headers: { 'content-type': 'application/grpc+proto' }, status: '0' },
  { name: 'headers and trailers set by the handler', path: check, body: envelope(request('headers')), headers: grpc, status: '0' },
  { name: 'a ConnectError with metadata', path: check, body: envelope(request('missing')), headers: grpc, status: '5' },
  { name: 'a ConnectError with details', path: check, body: envelope(request('details')), headers: grpc, status: '9' },
  { name: 'a plain Error (internal)', path: check, body: envelope(request('crash')), headers: grpc, status: '13' },
  { name: 'bad protobuf bytes', path: check, body: envelope(Buffer.from([0x0a, 0x05, 0x61])), headers: grpc, status: '13' },
  { name: 'a method not implemented', path: '/grpc.health.v1.Health/List', body: envelope(new Uint8Array()), headers: grpc, status: '12' },
  { name: 'the deadline passes', path: check, body: envelope(request('wait')), headers: { ...grpc, 'grpc-timeout': '30m' }, status: '4' },
  { name: 'a large answer, gzip accepted', path: info, body: envelope(new Uint8Array()), headers: { ...grpc, 'grpc-accept-encoding': 'gzip' }, status: '0' },
  { name: 'a large answer, nothing accepted', path: info, body: envelope(new Uint8Array()), headers: grpc, status: '0' },
  { name: 'a gzip request', path: check, body: envelope(gzipSync(request('headers')), 1), headers: { ...grpc, 'grpc-encoding': 'gzip' }, status: '0' },
  { name: 'a compressed message without an encoding', path: check, body: envelope(gzipSync(request('')), 1), headers: grpc, status: '13' },
  { name: 'no message', path: check, body: Buffer.alloc(0), headers: grpc, status: '12' },
  { name: 'two messages', path: check, body: Buffer.concat([envelope(request('')), envelope(request(''))]), headers: grpc, status: '12' },
  { name: 'an incomplete envelope', path: check, body: envelope(request('headers')).subarray(0, 8), headers: grpc, status: '3' },
  { name: 'a message over the limit', path: check, body: envelope(request('x'.repeat(5000))), headers: grpc, status: '8' },
  // Not for the fast path: connect-node answers them in both servers.
  { name: 'an unknown encoding', path: check, body: envelope(request('')), headers: { ...grpc, 'grpc-encoding': 'zstd' }, status: '12' },
  { name: 'an invalid timeout', path: check, body: envelope(request('')), headers: { ...grpc, 'grpc-timeout': 'soon' }, status: '3' },
  { name: 'JSON', path: check, body: envelope(Buffer.from('{}')), headers: { 'content-type': 'application/grpc+json' }, status: '0' },
  // Its status is in the body's trailer frame.
  { name: 'gRPC-Web over HTTP/2', path: check, body: envelope(request('')), headers: { 'content-type': 'application/grpc-web+proto' }, status: '' },
];

describe('the gRPC unary fast path', () => {
  const servers = serveBoth(before, after);

  for (const c of cases) {
    it(`answers ${c.name} as connect-node does`, async () => {
      const a = await send(servers.fast.server.port, c.path, c.body, c.headers);
      const b = await send(servers.generic.server.port, c.path, c.body, c.headers);
      assert.deepEqual(visible(a), visible(b));
      if (c.status) assert.equal(a.trailers['grpc-status'] ?? a.headers['grpc-status'], c.status, JSON.stringify(visible(a)));
    });
  }

  it('gives the gRPC client the same results and errors', async () => {
    for (const server of [servers.fast, servers.generic]) {
      const client = createClient(Health, createGrpcTransport({ baseUrl: `http://127.0.0.1:${server.server.port}` }));
      const headers: Record<string, string> = {};
      const ok = await client.check({ service: 'headers' }, { onHeader: (h) => h.forEach((v, k) => (headers[k] = v)), onTrailer: (t) => t.forEach((v, k) => (headers[k] = v)) });
      assert.equal(ok.status, 1);
      assert.equal(headers['x-header'], 'h');
      assert.equal(headers['x-trailer'], 't');
      const error = await client.check({ service: 'details' }).then(() => undefined, (e: unknown) => ConnectError.from(e));
      assert.equal(error?.code, Code.FailedPrecondition);
      assert.equal(error?.rawMessage, 'with details');
      assert.deepEqual(error?.findDetails(HealthCheckRequestSchema).map((d) => d.service), ['detail']);
      const late = await client.check({ service: 'wait' }, { timeoutMs: 30 }).then(() => undefined, (e: unknown) => ConnectError.from(e));
      assert.equal(late?.code, Code.DeadlineExceeded);
    }
  });
});
