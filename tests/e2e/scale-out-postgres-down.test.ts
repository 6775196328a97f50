import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Code, ConnectError } from '@connectrpc/connect';
import { CRASH_FIXTURES, fullHistory, orchestrator, waitUntil, type Orchestrator } from '../helpers/crash-kit.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { createTestDatabaseOptions, type TestDatabaseOptions } from '../helpers/test-database.js';

/**
 * Postgres unreachable behind a proxy the test cuts (connections reset) or stalls (a partition
 * that swallows packets): calls fail fast with `unavailable` and a message naming the database,
 * nothing is acknowledged that was not stored, and the service recovers by itself when the proxy
 * lets traffic through again. A stall fails calls only with DATABASE_QUERY_TIMEOUT_MS set.
 */
const skip = process.env.DATABASE_URL ? false : 'needs DATABASE_URL (a Postgres to put a proxy in front of)';
/** Generous: "fast" means no hanging until a client deadline, not a tight bound on a busy machine. */
const FAST_FAIL_MS = 10_000;
const QUERY_TIMEOUT_MS = 1500;

describe('scale-out: Postgres unreachable', { skip }, () => {
  let store: TestDatabaseOptions;
  let proxy: TcpProxy;
  let server: ServerProcess;
  let api: Orchestrator;

  before(async () => {
    store = createTestDatabaseOptions();
    const target = new URL(store.url!);
    proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
    const viaProxy = new URL(store.url!);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    server = await startServerProcess({ ...store.env, DATABASE_URL: viaProxy.toString(), REDIS_URL: '', EXTRA_MODULES: CRASH_FIXTURES, DATABASE_QUERY_TIMEOUT_MS: String(QUERY_TIMEOUT_MS), LOG_LEVEL: 'info' }, 60_000);
    api = orchestrator(server.baseUrl);
  });
  after(async () => {
    await server?.stop('SIGKILL');
    await proxy?.close();
    await store?.cleanup();
  });

  const unavailable = (error: unknown) => {
    const connect = ConnectError.from(error);
    assert.equal(connect.code, Code.Unavailable, connect.message);
    assert.match(connect.message, /database/i);
    return true;
  };

  it('fails fast with unavailable while cut, acknowledges only what was stored, and recovers', { timeout: 120_000 }, async () => {
    await api.startWorkflow({ machineId: 'crash-probe', workflowId: 'pg-down', input: {} });
    const acknowledged: string[] = [];
    for (const eventId of ['before-1', 'before-2']) {
      await api.sendEvent({ workflowId: 'pg-down', event: { type: 'tick' }, eventId });
      acknowledged.push(eventId);
    }
    let watched = 0;
    // Settled at once either way, so a failure before the assertion is not an unhandled rejection.
    const watch = (async () => {
      for await (const _ of api.watchWorkflow({ workflowId: 'pg-down', fromVersion: 1 })) watched++;
    })().then(
      () => new Error('the watch ended as if the workflow had finished'),
      (error: unknown) => error,
    );
    await waitUntil('the watch to replay what is stored', async () => watched, (n) => n === 3);

    proxy.cut();
    for (const call of [
      () => api.sendEvent({ workflowId: 'pg-down', event: { type: 'tick' }, eventId: 'during' }),
      () => api.getWorkflow({ id: 'pg-down' }),
      () => api.startWorkflow({ machineId: 'crash-probe', workflowId: 'pg-down-2', input: {} }),
    ]) {
      const started = Date.now();
      await assert.rejects(call(), unavailable);
      assert.ok(Date.now() - started < FAST_FAIL_MS, `failed after ${Date.now() - started} ms`);
    }
    // A watch stream ends with unavailable too (at its next read), so the client resumes elsewhere.
    unavailable(await watch);

    proxy.resume();
    const view = await waitUntil(
      'the service to recover',
      () => api.getWorkflow({ id: 'pg-down' }).then((r) => r.workflow, () => undefined),
      (w) => w !== undefined,
      60_000,
    );
    assert.equal(view!.version, 3, 'the event sent during the outage was not stored');
    await api.sendEvent({ workflowId: 'pg-down', event: { type: 'tick' }, eventId: 'after' });
    acknowledged.push('after');
    const history = await fullHistory(api, 'pg-down');
    assert.deepEqual(history.map((e) => e.eventId).filter(Boolean), acknowledged);
    await assert.rejects(api.getWorkflow({ id: 'pg-down-2' }), (e: unknown) => ConnectError.from(e).code === Code.NotFound);
  });

  it('fails fast while packets are swallowed (query timeout), then recovers; a retried event applies once', { timeout: 120_000 }, async () => {
    await api.startWorkflow({ machineId: 'crash-probe', workflowId: 'pg-stall', input: {} });
    proxy.stall();
    const started = Date.now();
    await assert.rejects(api.sendEvent({ workflowId: 'pg-stall', event: { type: 'tick' }, eventId: 'stalled' }), unavailable);
    assert.ok(Date.now() - started < FAST_FAIL_MS, `failed after ${Date.now() - started} ms`);
    await assert.rejects(api.getWorkflow({ id: 'pg-stall' }), unavailable);

    proxy.resume();
    // The held request may reach Postgres after all: retrying it with its event id applies it once.
    const retried = await waitUntil(
      'the retried event to be accepted',
      () => api.sendEvent({ workflowId: 'pg-stall', event: { type: 'tick' }, eventId: 'stalled' }).then((r) => r.workflow, () => undefined),
      (w) => w !== undefined,
      60_000,
    );
    assert.equal(retried!.version, 2);
    const history = await fullHistory(api, 'pg-stall');
    assert.deepEqual(history.map((e) => e.eventId ?? ''), ['', 'stalled']);
  });
});
