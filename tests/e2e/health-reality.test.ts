import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { HealthService, HealthCheckResponse_ServingStatus as Status, type HealthCheckResponse } from '../../gen/health/v1/health_pb.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { createTestDatabaseOptions } from '../helpers/test-database.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

const databaseUrl = process.env.DATABASE_URL;
const redisUrl = process.env.REDIS_URL;

/** Health.Watch until a response satisfies `predicate`, or fail after `ms`. */
async function waitForHealth(baseUrl: string, predicate: (r: HealthCheckResponse) => boolean, ms = 15_000): Promise<HealthCheckResponse> {
  const client = createClient(HealthService, createConnectTransport({ baseUrl, httpVersion: '1.1' }));
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), ms);
  try {
    for await (const res of client.watch({ service: '' }, { signal: abort.signal })) if (predicate(res)) return res;
    throw new Error('health stream ended');
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
}

const component = (r: HealthCheckResponse, name: string) => r.components.find((c) => c.name === name);

describe('health follows what the server can reach', { skip: !databaseUrl || !redisUrl ? 'needs DATABASE_URL and REDIS_URL (the store and the bus must be separate servers to take down)' : false }, () => {
  let pgProxy: TcpProxy;
  let redisProxy: TcpProxy;
  let server: ServerProcess;
  let store: ReturnType<typeof createTestDatabaseOptions>;

  before(async () => {
    const pgTarget = new URL(databaseUrl!);
    const redisTarget = new URL(redisUrl!);
    pgProxy = await startTcpProxy(pgTarget.hostname, Number(pgTarget.port || 5432));
    redisProxy = await startTcpProxy(redisTarget.hostname, Number(redisTarget.port || 6379));
    store = createTestDatabaseOptions();
    const viaPgProxy = new URL(databaseUrl!);
    viaPgProxy.host = `127.0.0.1:${pgProxy.port}`;
    const viaRedisProxy = new URL(redisUrl!);
    viaRedisProxy.host = `127.0.0.1:${redisProxy.port}`;
    server = await startServerProcess({ ...store.env, DATABASE_URL: viaPgProxy.toString(), REDIS_URL: viaRedisProxy.toString(), HEALTH_INTERVAL_MS: '100' });
  });
  after(async () => {
    await server?.stop('SIGKILL');
    await pgProxy?.close();
    await redisProxy?.close();
    await store?.cleanup();
  });

  it('goes NOT_SERVING when the database is unreachable and SERVING when it is back', async () => {
    await waitForHealth(server.baseUrl, (r) => r.status === Status.SERVING);
    pgProxy.cut();
    const down = await waitForHealth(server.baseUrl, (r) => r.status === Status.NOT_SERVING);
    assert.equal(component(down, 'store')?.status, Status.NOT_SERVING);
    assert.notEqual(component(down, 'store')?.message, '');
    pgProxy.resume();
    await waitForHealth(server.baseUrl, (r) => r.status === Status.SERVING);
  });

  it('reports the bus as down and the service as DEGRADED, not down, while Redis is unreachable', async () => {
    await waitForHealth(server.baseUrl, (r) => r.status === Status.SERVING);
    redisProxy.cut();
    const degraded = await waitForHealth(server.baseUrl, (r) => r.status === Status.DEGRADED);
    assert.equal(component(degraded, 'bus')?.status, Status.NOT_SERVING);
    assert.equal(component(degraded, 'store')?.status, Status.SERVING);
    redisProxy.resume();
    await waitForHealth(server.baseUrl, (r) => r.status === Status.SERVING, 30_000);
  });
});
