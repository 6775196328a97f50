import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { Health, HealthCheckResponse_ServingStatus as Status } from '../../gen/grpc/health/v1/health_pb.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { createTestDatabaseOptions, type TestDatabaseOptions } from '../helpers/test-database.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { templates } from './support/chart-files.js';

/** What the Deployment template asks the kubelet and Prometheus to call, read from the template. */
function chartProbes() {
  const deployment = templates().get('deployment.yaml')!;
  const httpGets = [...deployment.matchAll(/(\w+Probe):\s*\n\s*httpGet:\s*\n\s*path: (\S+)\s*\n\s*port: (\S+)/g)].map(([, probe, path, port]) => ({ probe: probe!, path: path!, port: port! }));
  const grpc = /readinessProbe:\s*\n\s*grpc:\s*\n\s*port: (.+)\n(?!\s*service:)/.exec(deployment);
  const containerPort = /- name: grpc\s*\n\s*containerPort: (.+)\n/.exec(deployment);
  const scrapePath = /prometheus\.io\/path: (\S+)/.exec(deployment);
  return { httpGets, grpcPort: grpc?.[1]?.trim(), containerPort: containerPort?.[1]?.trim(), scrapePath: scrapePath?.[1] };
}

/** A GET as the kubelet's HTTP prober sends it (HTTP/1.1, its user agent, `Accept: *\/*`, no body). */
function kubeletGet(baseUrl: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(new URL(path, baseUrl), { headers: { 'user-agent': 'kube-probe/1.30', accept: '*/*', connection: 'close' }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

/** grpc.health.v1.Health/Check for the whole server, over gRPC on HTTP/2 cleartext, as a `grpc:` probe asks. */
function grpcCheck(baseUrl: string) {
  return createClient(Health, createGrpcTransport({ baseUrl })).check({ service: '' }, { timeoutMs: 3000 });
}

describe('the chart probes the endpoints the service has', () => {
  const probes = chartProbes();
  let server: ServerProcess;
  let store: TestDatabaseOptions;

  before(async () => {
    store = createTestDatabaseOptions();
    server = await startServerProcess(store.env);
  });
  after(async () => {
    await server?.stop('SIGKILL');
    await store?.cleanup();
  });

  it('every probe is on the service port: the grpc-named container port is PORT', () => {
    assert.deepEqual(probes.httpGets.map((p) => p.probe).sort(), ['livenessProbe', 'startupProbe']);
    for (const probe of probes.httpGets) assert.equal(probe.port, 'grpc', probe.probe);
    assert.equal(probes.containerPort, '{{ $port }}');
    assert.equal(probes.grpcPort, '{{ $port }}', 'readinessProbe must be a grpc: probe on PORT for the whole server (no service name)');
    assert.match(templates().get('deployment.yaml')!, /\$port := include "orchestrator\.port" \./);
  });

  it('startup and liveness: the HTTP GET answers 200 with the service info', async () => {
    for (const probe of probes.httpGets) {
      const res = await kubeletGet(server.baseUrl, probe.path);
      assert.equal(res.status, 200, `${probe.probe} ${probe.path}: ${res.body}`);
      assert.equal((JSON.parse(res.body) as { name: string }).name, 'orchestrator');
    }
  });

  it('readiness: grpc.health.v1 Check over gRPC answers SERVING', async () => {
    assert.equal((await grpcCheck(server.baseUrl)).status, Status.SERVING);
  });

  it('Prometheus: the scrape path of the pod annotations serves the metrics on PORT', async () => {
    assert.equal(probes.scrapePath, '/metrics');
    const res = await kubeletGet(server.baseUrl, probes.scrapePath!);
    assert.equal(res.status, 200);
    assert.match(res.body, /^orchestrator_up\{/m);
  });
});

describe('a database outage fails readiness, not liveness', { skip: process.env.DATABASE_URL ? false : 'needs DATABASE_URL (a Postgres to cut off; PGlite lives in the process)' }, () => {
  const probes = chartProbes();
  let proxy: TcpProxy;
  let server: ServerProcess;
  let store: TestDatabaseOptions;

  before(async () => {
    const target = new URL(process.env.DATABASE_URL!);
    proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
    store = createTestDatabaseOptions();
    const viaProxy = new URL(process.env.DATABASE_URL!);
    viaProxy.host = `127.0.0.1:${proxy.port}`;
    server = await startServerProcess({ ...store.env, DATABASE_URL: viaProxy.toString(), HEALTH_INTERVAL_MS: '100' });
  });
  after(async () => {
    await server?.stop('SIGKILL');
    await proxy?.close();
    await store?.cleanup();
  });

  /** Polls the readiness check until it reports `status`; generous, the machine is shared. */
  async function readinessBecomes(status: Status): Promise<void> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      if ((await grpcCheck(server.baseUrl)).status === status) return;
      if (Date.now() > deadline) assert.fail(`readiness never became ${Status[status]}`);
      await sleep(100);
    }
  }

  it('NOT_SERVING while Postgres is unreachable, liveness still 200; SERVING again after', async () => {
    await readinessBecomes(Status.SERVING);
    proxy.cut();
    await readinessBecomes(Status.NOT_SERVING);
    const liveness = probes.httpGets.find((p) => p.probe === 'livenessProbe')!;
    assert.equal((await kubeletGet(server.baseUrl, liveness.path)).status, 200);
    proxy.resume();
    await readinessBecomes(Status.SERVING);
  });
});
