import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, describe, it } from 'node:test';
import { create, toBinary, fromBinary } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { HealthCheckRequestSchema, HealthCheckResponseSchema, HealthCheckResponse_ServingStatus, Health } from '../gen/grpc/health/v1/health_pb.js';
import { SendEventResponseSchema, WatchWorkflowResponseSchema } from '../gen/orchestrator/v1/orchestrator_pb.js';
import { LeanGrpcConnection, nestedUint32 } from '../bench/lean-grpc.js';

/** The engine part's lean gRPC client (bench/lean-grpc.ts) against connect-node's gRPC server. */
describe('bench lean gRPC client', () => {
  let server: http2.Http2Server;
  let baseUrl = '';
  before(async () => {
    const handler = connectNodeAdapter({
      routes: (router) =>
        router.service(Health, {
          check(req) {
            if (req.service === 'missing') throw new ConnectError('no such service: "missing"', Code.NotFound);
            return { status: HealthCheckResponse_ServingStatus.SERVING };
          },
          async *watch(req) {
            for (let i = 0; i < 3; i++) yield { status: HealthCheckResponse_ServingStatus.SERVING };
            if (req.service === 'fail') throw new ConnectError('went away', Code.Unavailable);
          },
          list() {
            return { statuses: {} };
          },
        }),
    });
    server = http2.createServer(handler);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const check = (service: string) => toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service }));

  it('makes unary calls, and rejects with the gRPC status and message of a failed one', async () => {
    const connection = new LeanGrpcConnection(baseUrl);
    try {
      const bytes = await connection.unary('/grpc.health.v1.Health/Check', check(''), 5_000);
      assert.equal(fromBinary(HealthCheckResponseSchema, bytes).status, HealthCheckResponse_ServingStatus.SERVING);
      await assert.rejects(connection.unary('/grpc.health.v1.Health/Check', check('missing'), 5_000), /grpc-status 5 no such service: "missing"/);
      await assert.rejects(connection.unary('/grpc.health.v1.Nope/Check', check(''), 5_000), /grpc-status missing \(HTTP 404\)/);
    } finally {
      connection.close();
    }
  });

  it('follows a server stream to its end, with its error when it fails', async () => {
    const connection = new LeanGrpcConnection(baseUrl);
    try {
      for (const [service, error] of [['', undefined], ['fail', /grpc-status 14 went away/]] as const) {
        const seen: number[] = [];
        const ended = await new Promise<Error | undefined>((resolve) => connection.serverStream('/grpc.health.v1.Health/Watch', check(service), (bytes) => seen.push(fromBinary(HealthCheckResponseSchema, bytes).status), resolve));
        assert.deepEqual(seen, [1, 1, 1]);
        if (error) assert.match(String(ended?.message), error);
        else assert.equal(ended, undefined);
      }
    } finally {
      connection.close();
    }
  });

  it('reads a nested version without decoding the rest', () => {
    const reply = toBinary(SendEventResponseSchema, create(SendEventResponseSchema, { workflow: { id: 'w', version: 42, context: { a: { b: [1, 'x'] } }, timers: [{ id: 't' }] } }));
    assert.equal(nestedUint32(reply, 1, 9), 42);
    const entry = toBinary(WatchWorkflowResponseSchema, create(WatchWorkflowResponseSchema, { entry: { workflowId: 'w', version: 7, eventType: 'go', context: { n: 1 } } }));
    assert.equal(nestedUint32(entry, 1, 2), 7);
    assert.equal(nestedUint32(toBinary(SendEventResponseSchema, create(SendEventResponseSchema, {})), 1, 9), undefined);
  });
});
