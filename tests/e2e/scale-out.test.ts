import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { sql } from 'kysely';
import { WorkflowStatus } from '../../gen/orchestrator/v1/orchestrator_pb.js';
import { HealthCheckResponse_ServingStatus, HealthService } from '../../gen/health/v1/health_pb.js';
import { RedisServerProcess, redisServerBinary } from '../../src/bus/test-support/redis-server-process.js';
import { openDatabase, type Database } from '../../src/store/database.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { CRASH_FIXTURES, crashLogLines, orchestrator, waitForStatus, waitUntil, type Orchestrator } from '../helpers/crash-kit.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { createTestDatabaseOptions, type TestDatabaseOptions } from '../helpers/test-database.js';

/**
 * Three server processes on one Postgres schema and one Redis (a redis-server this test starts
 * on a free port, so it can stop and restart it). PGlite is one process's directory, hence
 * DATABASE_URL. Sizes: SCALE_OUT_COUNT timers and tasks (default 1000).
 */
const skip = !process.env.DATABASE_URL
  ? 'needs DATABASE_URL: replicas share one Postgres schema (a PGlite directory has one owner)'
  : !redisServerBinary
    ? 'needs redis-server (the test starts and restarts its own)'
    : false;
const COUNT = Number(process.env.SCALE_OUT_COUNT ?? 1000);
/**
 * The replicas that live get a lease long enough that a busy machine never lets one run out
 * under a running call (that would be a legitimate second run: tools run at least once); the
 * replica the test kills gets a short one, so the others take its tasks over quickly.
 */
const LIVE_LEASE_MS = 20_000;
const DOOMED_LEASE_MS = 1000;
const FIXTURES = `${CRASH_FIXTURES},tests/fixtures/scale-machines.ts`;

/** Runs `work` over `items`, at most `limit` at once. */
async function inParallel<T>(items: T[], limit: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await work(items[i]!, i);
      }
    }),
  );
}

/** Every version a WatchWorkflow stream delivers, until it ends (the workflow finished). */
async function watchOne(api: Orchestrator, workflowId: string, signal: AbortSignal): Promise<number[]> {
  const versions: number[] = [];
  for await (const { entry } of api.watchWorkflow({ workflowId, fromVersion: 1 }, { signal })) versions.push(entry!.version);
  return versions;
}

/** Versions per workflow a WatchWorkflows stream delivers, until every id in `ids` had a final entry. */
async function watchMany(api: Orchestrator, req: { machineId: string; since: Date }, ids: string[], signal: AbortSignal): Promise<Map<string, number[]>> {
  const seen = new Map<string, number[]>();
  const finished = new Set<string>();
  const local = new AbortController();
  signal.addEventListener('abort', () => local.abort(signal.reason), { once: true });
  try {
    for await (const { entry } of api.watchWorkflows({ machineId: req.machineId, since: timestampFromDate(req.since) }, { signal: local.signal })) {
      if (!entry) continue; // heartbeat
      seen.set(entry.workflowId, [...(seen.get(entry.workflowId) ?? []), entry.version]);
      if (entry.status !== WorkflowStatus.ACTIVE) finished.add(entry.workflowId);
      if (ids.every((id) => finished.has(id))) break;
    }
  } finally {
    local.abort();
  }
  return seen;
}

const upTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describe('scale-out: three replicas on one Postgres and one Redis', { skip }, () => {
  let store: TestDatabaseOptions;
  let redis: RedisServerProcess;
  let dir: string;
  let crashLog: string;
  let scaleLog: string;
  let db: Database;
  const servers: ServerProcess[] = [];
  let apis: Orchestrator[] = [];

  const start = (env: Record<string, string> = {}) =>
    startServerProcess(
      { ...store.env, REDIS_URL: redis.url, EXTRA_MODULES: FIXTURES, CRASH_LOG: crashLog, SCALE_LOG: scaleLog, TASK_LEASE_MS: String(LIVE_LEASE_MS), LOG_LEVEL: 'info', ...env },
      60_000,
    ).then((server) => (servers.push(server), server));

  before(async () => {
    store = createTestDatabaseOptions();
    redis = await RedisServerProcess.launch();
    dir = mkdtempSync(join(tmpdir(), 'scale-out-'));
    crashLog = join(dir, 'crash.log');
    scaleLog = join(dir, 'scale.log');
    // One first, so they do not race to migrate an empty schema.
    await start();
    await Promise.all([start(), start()]);
    apis = servers.map((s) => orchestrator(s.baseUrl));
    db = await openDatabase({ url: store.url, dataDir: store.dataDir, schema: store.schema, poolSize: 2, logger: silentLogger });
  });
  after(async () => {
    for (const server of servers) await server.stop('SIGKILL');
    await db?.close();
    await redis?.kill();
    await store?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('events sent round-robin across replicas reach watchers on the others once each, in order', { timeout: 120_000 }, async () => {
    const ids = ['rr-0', 'rr-1', 'rr-2', 'rr-3'];
    const ticks = 15;
    const since = new Date();
    const controller = new AbortController();
    const fleet = watchMany(apis[2]!, { machineId: 'crash-probe', since }, ids, controller.signal);
    for (const id of ids) await apis[0]!.startWorkflow({ machineId: 'crash-probe', workflowId: id, input: {} });
    const single = ids.flatMap((id) => [watchOne(apis[1]!, id, controller.signal), watchOne(apis[2]!, id, controller.signal)]);
    // All events of all workflows at once, each to the next replica in turn: replicas race for versions.
    const sends = ids.flatMap((id) => Array.from({ length: ticks }, (_, k) => ({ id, eventId: `t${k}` })));
    await inParallel(sends, 12, async ({ id, eventId }, i) => {
      await apis[i % 3]!.sendEvent({ workflowId: id, event: { type: 'tick' }, eventId });
    });
    await Promise.all(ids.map((id, i) => apis[i % 3]!.sendEvent({ workflowId: id, event: { type: 'finish' } })));
    const expected = upTo(ticks + 2);
    for (const versions of await Promise.all(single)) assert.deepEqual(versions, expected);
    const byWorkflow = await fleet;
    for (const id of ids) assert.deepEqual(byWorkflow.get(id), expected, `WatchWorkflows ${id}`);
  });

  it(`${COUNT} tasks and ${COUNT} timers started across replicas each run or fire exactly once`, { timeout: 180_000 }, async () => {
    const ids = Array.from({ length: COUNT }, (_, i) => `many-${i}`);
    await inParallel(ids, 24, async (workflowId, i) => {
      await apis[i % 3]!.startWorkflow({ machineId: 'scale-probe', workflowId, input: { delayMs: 1500 } });
    });
    const finished = async () =>
      Number((await sql<{ n: string }>`select count(*) as n from workflows where machine_id = 'scale-probe' and status = 'done'`.execute(db.db)).rows[0]!.n);
    await waitUntil('every scale-probe workflow to finish', finished, (n) => n === COUNT, 120_000);

    const calls = readFileSync(scaleLog, 'utf8').split('\n').filter(Boolean).map((line) => line.split(' '));
    const keys = calls.map(([key]) => key!);
    const twice = keys.filter((key, i) => keys.indexOf(key) !== i);
    assert.deepEqual(twice, [], `tasks run twice: ${calls.filter(([key]) => twice.includes(key!)).map((c) => c.join(' ')).join(', ')}`);
    assert.equal(keys.length, COUNT, 'one call per task');
    assert.equal(new Set(keys).size, COUNT, 'no task ran twice');
    assert.equal(new Set(calls.map(([, pid]) => pid)).size, 3, 'every replica ran tasks');
    const perWorkflow = await sql<{ timers: string; results: string; n: string }>`
      select count(*) filter (where event_type like 'xstate.after.%') as timers,
             count(*) filter (where event_type like 'xstate.done.actor.%') as results, count(*) as n
      from workflow_history h join workflows w on w.id = h.workflow_id where w.machine_id = 'scale-probe'
      group by h.workflow_id`.execute(db.db);
    assert.equal(perWorkflow.rows.length, COUNT);
    assert.ok(perWorkflow.rows.every((r) => Number(r.timers) === 1 && Number(r.results) === 1 && Number(r.n) === 3), 'each timer fired once, each result recorded once');
    const left = await sql<{ n: string }>`select count(*) as n from workflow_timers`.execute(db.db);
    assert.equal(Number(left.rows[0]!.n), 0);
  });

  it('a replica killed while holding leased tasks: the others run them again and finish the workflows', { timeout: 120_000 }, async () => {
    const doomed = await start({ TASK_LEASE_MS: String(DOOMED_LEASE_MS) });
    const api = orchestrator(doomed.baseUrl);
    const ids = Array.from({ length: 6 }, (_, i) => `leased-${i}`);
    for (const id of ids) {
      await api.startWorkflow({ machineId: 'crash-probe', workflowId: id, input: { slowMs: 4000, delayMs: 0 } });
      await api.sendEvent({ workflowId: id, event: { type: 'go' } });
    }
    const keys = ids.map((id) => `${id}:slow@2`);
    await waitUntil('the doomed replica to be inside every call', async () => crashLogLines(crashLog), (lines) => keys.every((k) => lines.some((l) => l.key === k && l.pid === doomed.child.pid)));
    await doomed.stop('SIGKILL');
    for (const id of ids) await waitForStatus(apis[0]!, id, WorkflowStatus.DONE, 60_000);
    const survivors = servers.filter((s) => s !== doomed).map((s) => s.child.pid);
    for (const key of keys) {
      const calls = crashLogLines(crashLog).filter((l) => l.key === key);
      assert.equal(calls.length, 2, `${key}: run again once, with the same idempotency key`);
      assert.ok(survivors.includes(calls[1]!.pid), `${key}: by a surviving replica`);
    }
    const results = await sql<{ n: string }>`select count(*) as n from workflow_history where workflow_id like 'leased-%' and event_type = 'xstate.done.actor.slow'`.execute(db.db);
    assert.equal(Number(results.rows[0]!.n), ids.length, 'one result each');
  });

  it('Redis stopped and restarted mid-run: RPCs keep working, no transition is lost, watchers complete', { timeout: 120_000 }, async () => {
    const id = 'through-outage';
    const since = new Date();
    const controller = new AbortController();
    await apis[0]!.startWorkflow({ machineId: 'crash-probe', workflowId: id, input: {} });
    const fleet = watchMany(apis[2]!, { machineId: 'crash-probe', since }, [id], controller.signal);
    const single = [watchOne(apis[1]!, id, controller.signal), watchOne(apis[2]!, id, controller.signal)];
    let k = 0;
    const tick = async (n: number) => {
      for (let i = 0; i < n; i++, k++) await apis[k % 3]!.sendEvent({ workflowId: id, event: { type: 'tick' }, eventId: `o${k}` });
    };
    await tick(5);
    await redis.kill();
    const health = createClient(HealthService, createGrpcTransport({ baseUrl: servers[0]!.baseUrl }));
    await waitUntil('health to report the bus down', () => health.check({ service: 'orchestrator' }), (r) => r.status === HealthCheckResponse_ServingStatus.DEGRADED);
    await tick(5);
    await redis.start();
    await tick(5);
    await apis[1]!.sendEvent({ workflowId: id, event: { type: 'finish' } });
    const expected = upTo(17);
    for (const versions of await Promise.all(single)) assert.deepEqual(versions, expected);
    assert.deepEqual((await fleet).get(id), expected);
    await waitUntil('health to be SERVING again', () => health.check({ service: 'orchestrator' }), (r) => r.status === HealthCheckResponse_ServingStatus.SERVING);
    const lost = servers[0]!.logs.filter((l) => l.msg === 'redis connection lost; reconnecting, publishes are dropped until it is back');
    assert.equal(lost.length, 1, 'the outage is logged once');
  });
});

