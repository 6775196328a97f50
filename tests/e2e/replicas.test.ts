import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConnectError } from '@connectrpc/connect';
import { WorkflowStatus } from '../../gen/orchestrator/v1/orchestrator_pb.js';
import {
  assertHistoryIntact,
  CRASH_FIXTURES,
  crashLogLines,
  entriesOf,
  fullHistory,
  orchestrator,
  outputOf,
  storedTasks,
  waitForStatus,
  waitUntil,
  type Orchestrator,
} from '../helpers/crash-kit.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { createTestDatabaseOptions, type TestDatabaseOptions } from '../helpers/test-database.js';

/**
 * Two server processes on one Postgres schema (PGlite is one process's directory, so these
 * need DATABASE_URL). With REDIS_URL set they share the Redis bus; without it each has its own
 * in-process bus, which the engine must not depend on for correctness.
 */
const skip = process.env.DATABASE_URL ? false : 'needs DATABASE_URL: replicas share one Postgres schema (a PGlite directory has one owner)';
const TASK_LEASE_MS = 1000;
const START_TIMEOUT_MS = 60_000;

describe('replicas on one Postgres schema', { skip }, () => {
  let store: TestDatabaseOptions;
  let logDir: string;
  let crashLog: string;
  const servers: ServerProcess[] = [];
  let a: ServerProcess;
  let b: ServerProcess;
  let apiA: Orchestrator;
  let apiB: Orchestrator;

  const start = async (env: Record<string, string> = {}) => {
    const server = await startServerProcess({ ...store.env, EXTRA_MODULES: CRASH_FIXTURES, CRASH_LOG: crashLog, TASK_LEASE_MS: String(TASK_LEASE_MS), ...env }, START_TIMEOUT_MS);
    servers.push(server);
    return server;
  };

  before(async () => {
    store = createTestDatabaseOptions();
    logDir = mkdtempSync(join(tmpdir(), 'replica-log-'));
    crashLog = join(logDir, 'calls.log');
    // One first, so the two do not race to migrate an empty schema.
    a = await start();
    b = await start();
    apiA = orchestrator(a.baseUrl);
    apiB = orchestrator(b.baseUrl);
  });
  after(async () => {
    for (const server of servers) await server.stop('SIGKILL');
    await store?.cleanup();
    if (logDir) rmSync(logDir, { recursive: true, force: true });
  });

  it('applies 50 concurrent events split across both replicas exactly once, in contiguous versions', async () => {
    await apiA.startWorkflow({ machineId: 'crash-probe', workflowId: 'shared', input: {} });
    const ids = Array.from({ length: 50 }, (_, i) => `tick-${i}`);
    const send = (api: Orchestrator, eventId: string) => api.sendEvent({ workflowId: 'shared', event: { type: 'tick' }, eventId });
    const replies = await Promise.all(ids.map((eventId, i) => send(i % 2 ? apiB : apiA, eventId)));
    const versions = replies.map((r) => r.workflow!.version);
    assert.equal(new Set(versions).size, 50, 'each event its own transition');
    assert.deepEqual([...versions].sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i + 2));

    // Every event again, on the other replica: the original results, nothing applied twice.
    const again = await Promise.all(ids.map((eventId, i) => send(i % 2 ? apiA : apiB, eventId)));
    assert.deepEqual(again.map((r) => r.workflow!.version), versions);

    const history = await fullHistory(apiB, 'shared');
    assertHistoryIntact(history);
    assert.equal(history.length, 51);
    assert.deepEqual(entriesOf(history, 'tick').map((e) => e.eventId).sort(), [...ids].sort());
    for (const [i, eventId] of ids.entries()) assert.equal(history.find((e) => e.eventId === eventId)?.version, versions[i]);
    const finished = await apiB.sendEvent({ workflowId: 'shared', event: { type: 'finish' } });
    assert.equal(outputOf<{ ticks: number }>(finished.workflow!).ticks, 50);
  });

  it('runs a task once on the other replica when the one that created it dies before starting it', async () => {
    // Commit 1 starts the workflow, commit 2 (`go`) creates the task leased to this replica: killed there.
    const doomed = await start({ FAULT_KILL_AFTER_COMMIT: '2' });
    const api = orchestrator(doomed.baseUrl);
    await api.startWorkflow({ machineId: 'crash-probe', workflowId: 'handover', input: { slowMs: 50, delayMs: 50 } });
    await assert.rejects(api.sendEvent({ workflowId: 'handover', event: { type: 'go' }, eventId: 'go' }), ConnectError);
    if (doomed.child.exitCode === null && doomed.child.signalCode === null) await once(doomed.child, 'exit');
    assert.equal(doomed.child.signalCode, 'SIGKILL');

    const done = await waitForStatus(apiB, 'handover', WorkflowStatus.DONE);
    const calls = crashLogLines(crashLog).filter((c) => c.key === 'handover:slow@2');
    assert.equal(calls.length, 1, 'run exactly once');
    assert.ok([a.child.pid, b.child.pid].includes(calls[0]!.pid), 'by a surviving replica');
    assert.equal(outputOf<{ result: { pid: number } }>(done).result.pid, calls[0]!.pid);
    const history = await fullHistory(apiA, 'handover');
    assertHistoryIntact(history);
    assert.deepEqual(history.map((e) => e.eventType), ['xstate.init', 'go', 'xstate.done.actor.slow', 'xstate.after.cooldown.crash-probe.cooling']);
    assert.deepEqual(await storedTasks(store, 'handover'), [{ task_id: 'slow@2', status: 'done', attempts: 2 }]);
  });

  it('re-runs a task on the other replica when the one running it is killed, recording one result', async () => {
    const doomed = await start();
    const api = orchestrator(doomed.baseUrl);
    await api.startWorkflow({ machineId: 'crash-probe', workflowId: 'midcall', input: { slowMs: 1500, delayMs: 0 } });
    await api.sendEvent({ workflowId: 'midcall', event: { type: 'go' } });
    // A replica that commits a task runs it itself: wait until this one is inside the call.
    await waitUntil('the tool call to start', async () => crashLogLines(crashLog).filter((c) => c.key === 'midcall:slow@2'), (calls) => calls.length === 1);
    assert.equal(crashLogLines(crashLog).find((c) => c.key === 'midcall:slow@2')?.pid, doomed.child.pid);
    await doomed.stop('SIGKILL');

    const done = await waitForStatus(apiA, 'midcall', WorkflowStatus.DONE);
    const calls = crashLogLines(crashLog).filter((c) => c.key === 'midcall:slow@2');
    assert.equal(calls.length, 2, 'run again after the lease, with the same idempotency key');
    assert.ok([a.child.pid, b.child.pid].includes(calls[1]!.pid), 'the second call came from one of the replicas');
    assert.equal(outputOf<{ result: { pid: number } }>(done).result.pid, calls[1]!.pid);
    const history = await fullHistory(apiB, 'midcall');
    assertHistoryIntact(history);
    assert.equal(entriesOf(history, 'xstate.done.actor.slow').length, 1, 'one result recorded');
    assert.deepEqual(await storedTasks(store, 'midcall'), [{ task_id: 'slow@2', status: 'done', attempts: 2 }]);
  });
});
