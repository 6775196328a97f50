import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { create, createFileRegistry, createRegistry, fromBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema, FileDescriptorSetSchema, type FileDescriptorProto } from '@bufbuild/protobuf/wkt';
import { createClient, createRouterTransport, type ConnectRouter } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { file_grpc_health_v1_health } from '../../gen/grpc/health/v1/health_pb.js';
import * as v1 from '../../gen/grpc/reflection/v1/reflection_pb.js';
import * as v1alpha from '../../gen/grpc/reflection/v1alpha/reflection_pb.js';
import { file_health_v1_health } from '../../gen/health/v1/health_pb.js';
import { file_info_v1_info } from '../../gen/info/v1/info_pb.js';
import { grpcHealthRoutes, type HealthSource } from './grpc-health-service.js';
import { reflectionRoutes } from './reflection-service.js';

const served = [file_grpc_health_v1_health, file_health_v1_health, file_info_v1_info];
const allServices = [
  'grpc.health.v1.Health',
  'health.v1.HealthService',
  'info.v1.InfoService',
  'grpc.reflection.v1.ServerReflection',
  'grpc.reflection.v1alpha.ServerReflection',
];

type Request = MessageInitShape<typeof v1.ServerReflectionRequestSchema>;

/** Sends all requests on one v1 stream and collects the responses. */
async function reflect(requests: Request[], routes = reflectionRoutes(served)): Promise<v1.ServerReflectionResponse[]> {
  const client = createClient(v1.ServerReflection, createRouterTransport(routes));
  async function* input() {
    for (const r of requests) yield create(v1.ServerReflectionRequestSchema, r);
  }
  const out: v1.ServerReflectionResponse[] = [];
  for await (const res of client.serverReflectionInfo(input())) out.push(res);
  return out;
}

async function reflectOne(request: Request, routes?: (router: ConnectRouter) => void): Promise<v1.ServerReflectionResponse> {
  const [res, ...rest] = await reflect([request], routes);
  assert.ok(res, 'an answer came back');
  assert.equal(rest.length, 0);
  return res;
}

function filesOf(res: v1.ServerReflectionResponse): FileDescriptorProto[] {
  assert.equal(res.messageResponse.case, 'fileDescriptorResponse', JSON.stringify(res.messageResponse.value));
  return res.messageResponse.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b));
}

/** The files ordered so that each comes after its imports, as createFileRegistry needs. */
function importsFirst(files: FileDescriptorProto[]): FileDescriptorProto[] {
  const byName = new Map(files.map((f) => [f.name, f]));
  const ordered: FileDescriptorProto[] = [];
  const visit = (f: FileDescriptorProto | undefined) => {
    if (!f || ordered.includes(f)) return;
    f.dependency.forEach((d) => visit(byName.get(d)));
    ordered.push(f);
  };
  files.forEach(visit);
  return ordered;
}

const symbol = (name: string): Request => ({ messageRequest: { case: 'fileContainingSymbol', value: name } });

describe('reflectionRoutes (in memory)', () => {
  it('lists the services of the given files and both reflection services', async () => {
    const res = await reflectOne({ messageRequest: { case: 'listServices', value: '' } });
    assert.equal(res.messageResponse.case, 'listServicesResponse');
    assert.deepEqual(res.messageResponse.value.service.map((s) => s.name).sort(), [...allServices].sort());
  });

  it('accepts a registry instead of a file list', async () => {
    const fromTypes = await reflectOne({ messageRequest: { case: 'listServices', value: '' } }, reflectionRoutes(createRegistry(file_info_v1_info)));
    const fromFiles = await reflectOne(
      { messageRequest: { case: 'listServices', value: '' } },
      reflectionRoutes(createFileRegistry(file_health_v1_health.proto, () => undefined)),
    );
    for (const [res, expected] of [
      [fromTypes, 'info.v1.InfoService'],
      [fromFiles, 'health.v1.HealthService'],
    ] as const) {
      assert.equal(res.messageResponse.case, 'listServicesResponse');
      assert.deepEqual(res.messageResponse.value.service.map((s) => s.name), [
        expected,
        'grpc.reflection.v1.ServerReflection',
        'grpc.reflection.v1alpha.ServerReflection',
      ]);
    }
  });

  it('answers file_containing_symbol for services, methods, messages, nested enums, fields and enum values', async () => {
    const names = [
      'health.v1.HealthService',
      'health.v1.HealthService.Watch',
      'health.v1.HealthCheckResponse',
      'health.v1.HealthCheckResponse.ServingStatus',
      'health.v1.HealthCheckRequest.service',
      'health.v1.HealthCheckResponse.SERVING_STATUS_DEGRADED',
      'health.v1.ComponentHealth',
    ];
    const responses = await reflect(names.map(symbol));
    assert.equal(responses.length, names.length);
    for (const [i, res] of responses.entries()) {
      assert.equal(filesOf(res)[0]?.name, 'health/v1/health.proto', names[i]);
    }
  });

  it('sends a file with its transitive imports, including well-known types', async () => {
    const files = filesOf(await reflectOne(symbol('info.v1.InfoService.GetInfo')));
    assert.deepEqual(
      files.map((f) => f.name),
      ['info/v1/info.proto', 'google/protobuf/timestamp.proto'],
    );
    assert.deepEqual(files[0]?.dependency, ['google/protobuf/timestamp.proto']);
    // The answer alone is a complete, consistent descriptor set.
    const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: importsFirst(files) }));
    assert.equal(registry.getMessage('info.v1.GetInfoResponse')?.field.buildTime?.message?.typeName, 'google.protobuf.Timestamp');
  });

  it('answers file_by_filename, for served files and their imports', async () => {
    const [info, ts, missing] = await reflect([
      { messageRequest: { case: 'fileByFilename', value: 'info/v1/info.proto' } },
      { messageRequest: { case: 'fileByFilename', value: 'google/protobuf/timestamp.proto' } },
      { messageRequest: { case: 'fileByFilename', value: 'nope.proto' } },
    ]);
    assert.ok(info && ts && missing, 'three answers came back');
    assert.equal(filesOf(info)[0]?.name, 'info/v1/info.proto');
    assert.deepEqual(filesOf(ts).map((f) => f.name), ['google/protobuf/timestamp.proto']);
    assert.equal(missing.messageResponse.case, 'errorResponse');
    assert.equal(missing.messageResponse.value.errorCode, 5);
  });

  it('answers an unknown symbol with a NOT_FOUND error_response and keeps the stream open', async () => {
    const [unknown, next] = await reflect([symbol('health.v1.Nope'), symbol('grpc.health.v1.Health')]);
    assert.ok(unknown && next, 'two answers came back');
    assert.equal(unknown.messageResponse.case, 'errorResponse');
    assert.equal(unknown.messageResponse.value.errorCode, 5);
    assert.match(unknown.messageResponse.value.errorMessage, /health\.v1\.Nope/);
    assert.equal(filesOf(next)[0]?.name, 'grpc/health/v1/health.proto');
  });

  it('echoes host and the original request', async () => {
    const res = await reflectOne({ host: 'example:443', messageRequest: { case: 'fileContainingSymbol', value: 'info.v1.GetInfoRequest' } });
    assert.equal(res.validHost, 'example:443');
    assert.equal(res.originalRequest?.messageRequest.case, 'fileContainingSymbol');
    assert.equal(res.originalRequest?.messageRequest.value, 'info.v1.GetInfoRequest');
  });

  it('answers extension queries: none known, an empty number list for a known type', async () => {
    const [ext, numbers, unknownType, empty] = await reflect([
      { messageRequest: { case: 'fileContainingExtension', value: { containingType: 'info.v1.GetInfoRequest', extensionNumber: 100 } } },
      { messageRequest: { case: 'allExtensionNumbersOfType', value: 'info.v1.GetInfoRequest' } },
      { messageRequest: { case: 'allExtensionNumbersOfType', value: 'info.v1.Nope' } },
      {},
    ]);
    assert.equal(ext?.messageResponse.case, 'errorResponse');
    assert.equal(ext.messageResponse.value.errorCode, 5);
    assert.equal(numbers?.messageResponse.case, 'allExtensionNumbersResponse');
    assert.deepEqual(numbers.messageResponse.value.extensionNumber, []);
    assert.equal(numbers.messageResponse.value.baseTypeName, 'info.v1.GetInfoRequest');
    assert.equal(unknownType?.messageResponse.case, 'errorResponse');
    assert.equal(unknownType.messageResponse.value.errorCode, 5);
    assert.equal(empty?.messageResponse.case, 'errorResponse');
    assert.equal(empty.messageResponse.value.errorCode, 3);
  });

  it('serves v1alpha with the same answers', async () => {
    const client = createClient(v1alpha.ServerReflection, createRouterTransport(reflectionRoutes(served)));
    async function* input() {
      yield create(v1alpha.ServerReflectionRequestSchema, { messageRequest: { case: 'fileContainingSymbol', value: 'info.v1.InfoService' } });
    }
    const out: v1alpha.ServerReflectionResponse[] = [];
    for await (const res of client.serverReflectionInfo(input())) out.push(res);
    assert.equal(out.length, 1);
    assert.equal(out[0]?.messageResponse.case, 'fileDescriptorResponse');
    const names = out[0].messageResponse.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b).name);
    assert.deepEqual(names, ['info/v1/info.proto', 'google/protobuf/timestamp.proto']);
  });
});

const buf = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../node_modules/.bin/buf');
const run = promisify(execFile);

describe('reflection and health on a real HTTP/2 server, called by buf curl', () => {
  const sessions = new Set<http2.ServerHttp2Session>();
  const health: HealthSource = { status: (s) => (s === '' ? 'SERVING' : 'SERVICE_UNKNOWN'), onChange: () => () => {} };
  const server = http2.createServer(
    connectNodeAdapter({
      routes: (router) => {
        grpcHealthRoutes(health)(router);
        reflectionRoutes(served)(router);
      },
    }),
  );
  server.on('session', (s) => {
    sessions.add(s);
    s.once('close', () => sessions.delete(s));
  });
  let base = '';
  const curl = async (...args: string[]) =>
    (await run(buf, ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', ...args], { timeout: 60_000 })).stdout;

  before(async () => {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    // buf curl has exited, but do not let a lingering session keep the process alive.
    for (const s of sessions) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('buf curl --list-services lists every service (reflection v1)', async () => {
    const listed = (await curl('--list-services', base)).trim().split('\n');
    assert.deepEqual(listed.sort(), [...allServices].sort());
  });

  it('buf curl --list-services works over v1alpha too', async () => {
    const listed = (await curl('--reflect-protocol', 'grpc-v1alpha', '--list-services', base)).trim().split('\n');
    assert.deepEqual(listed.sort(), [...allServices].sort());
  });

  it('buf curl --list-methods resolves every service with its imports', async () => {
    const listed = (await curl('--list-methods', base)).trim().split('\n');
    for (const m of ['grpc.health.v1.Health/Check', 'grpc.health.v1.Health/Watch', 'health.v1.HealthService/Watch', 'info.v1.InfoService/GetInfo']) {
      assert.ok(listed.includes(m), `${m} in ${listed.join(', ')}`);
    }
  });

  it('buf curl grpc.health.v1.Health/Check returns SERVING', async () => {
    const out = await curl('-d', '{"service":""}', `${base}/grpc.health.v1.Health/Check`);
    assert.deepEqual(JSON.parse(out), { status: 'SERVING' });
  });

  it('buf curl grpc.health.v1.Health/Check of an unknown service fails with not_found', async () => {
    await assert.rejects(curl('-d', '{"service":"nope"}', `${base}/grpc.health.v1.Health/Check`), (err: { stderr?: string }) => {
      assert.match(err.stderr ?? '', /not_found/);
      return true;
    });
  });
});
