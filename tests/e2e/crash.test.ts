import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Code, ConnectError } from '@connectrpc/connect';
import { WorkflowStatus } from '../../gen/orchestrator/v1/orchestrator_pb.js';
import {
  assertHistoryIntact,
  CRASH_FIXTURES,
  crashLogLines,
  entriesOf,
  exitSignal,
  fullHistory,
  millis,
  orchestrator,
  outputOf,
  storedTasks,
  waitForStatus,
  waitUntil,
  withServerStore,
} from '../helpers/crash-kit.js';
import type { ServerProcess } from '../helpers/server-process.js';
import type { TestDatabaseOptions } from '../helpers/test-database.js';

/**
 * The server runs as a child process on a store on disk (PGlite directory, or a Postgres schema),
 * is killed with SIGKILL at a chosen moment, and is restarted on the same store. After each
 * crash: the workflows complete, history versions are contiguous with no event id twice, tool
 * results count once, and every timer fires once.
 */

/** Short task leases, so a task leased to a killed process is claimed again within a test. */
const TASK_LEASE_MS = 1000;
/** Start-up compiles TypeScript on the fly: seconds on a busy 2-core machine. */
const START_TIMEOUT_MS = 60_000;

let logDir: string;
before(() => {
  logDir = mkdtempSync(join(tmpdir(), 'crash-log-'));
});
after(() => rmSync(logDir, { recursive: true, force: true }));

/** One store, and a server process on it that a test kills and restarts. */
async function withStore(name: string, test: (ctx: { store: TestDatabaseOptions; crashLog: string; start: (env?: Record<string, string>) => Promise<ServerProcess> }) => Promise<void>): Promise<void> {
  const crashLog = join(logDir, `${name}.log`);
  const env = { EXTRA_MODULES: CRASH_FIXTURES, CRASH_LOG: crashLog, TASK_LEASE_MS: String(TASK_LEASE_MS) };
  await withServerStore(env, ({ store, start }) => test({ store, crashLog, start }), START_TIMEOUT_MS);
}

// Scenarios run two at a time: most of their time is servers starting and leases running out.
describe('crash tests', { concurrency: 2 }, () => {
  describe('crash: killed right after a commit, before its effects', () => {
    it('keeps a start and an event whose replies were lost, and runs the task the event created once', async () => {
      await withStore('after-commit-task', async ({ crashLog, start }) => {
        // Killed right after committing the start: the client got no reply and retries it.
        let server = await start({ FAULT_KILL_AFTER_COMMIT: '1' });
        let api = orchestrator(server.baseUrl);
        const startRequest = { machineId: 'crash-probe', workflowId: 'ac-task', requestId: 'start-ac', input: { slowMs: 50, delayMs: 50 } };
        await assert.rejects(api.startWorkflow(startRequest), ConnectError);
        assert.equal(await exitSignal(server), 'SIGKILL');

        // The retried start finds the committed workflow (no commit); the `go` event is this
        // process's first commit and creates the task: killed there, before the task starts.
        server = await start({ FAULT_KILL_AFTER_COMMIT: '1' });
        api = orchestrator(server.baseUrl);
        const started = (await api.startWorkflow(startRequest)).workflow!;
        assert.equal(started.id, 'ac-task');
        assert.equal(started.version, 1);
        await assert.rejects(api.sendEvent({ workflowId: 'ac-task', event: { type: 'go' }, eventId: 'go-1' }), ConnectError);
        assert.equal(await exitSignal(server), 'SIGKILL');
        assert.equal(crashLogLines(crashLog).length, 0, 'the task did not start before the kill');

        server = await start();
        api = orchestrator(server.baseUrl);
        // The client retries its unanswered event: it was committed, so it is not applied again.
        const retried = await api.sendEvent({ workflowId: 'ac-task', event: { type: 'go' }, eventId: 'go-1' });
        assert.equal(retried.workflow!.version, 2);
        const done = await waitForStatus(api, 'ac-task', WorkflowStatus.DONE);
        assert.equal(outputOf<{ result: { key: string } }>(done).result.key, 'ac-task:slow@2');
        assert.deepEqual(crashLogLines(crashLog).map((l) => l.key), ['ac-task:slow@2'], 'the tool ran exactly once, after restart');
        const history = await fullHistory(api, 'ac-task');
        assertHistoryIntact(history);
        assert.deepEqual(history.map((e) => e.eventType), ['xstate.init', 'go', 'xstate.done.actor.slow', 'xstate.after.cooldown.crash-probe.cooling']);
      });
    });

    it('fires the timer the commit armed once, and never runs the committed tool again', async () => {
      await withStore('after-commit-timer', async ({ store, crashLog, start }) => {
        // Commit 3 records the tool result and arms the cooldown timer: killed there.
        let server = await start({ FAULT_KILL_AFTER_COMMIT: '3' });
        let api = orchestrator(server.baseUrl);
        // The cooldown outlasts the old task lease, so a task that could still be claimed would be
        // claimed by the restarted server's first poll, before the workflow finishes.
        await api.startWorkflow({ machineId: 'crash-probe', workflowId: 'ac-timer', input: { slowMs: 50, delayMs: 3000 } });
        await api.sendEvent({ workflowId: 'ac-timer', event: { type: 'go' } });
        assert.equal(await exitSignal(server), 'SIGKILL');
        assert.equal(crashLogLines(crashLog).length, 1);

        server = await start();
        api = orchestrator(server.baseUrl);
        await waitForStatus(api, 'ac-timer', WorkflowStatus.DONE);
        const history = await fullHistory(api, 'ac-timer');
        assertHistoryIntact(history);
        assert.equal(entriesOf(history, 'xstate.done.actor.slow').length, 1);
        assert.equal(entriesOf(history, 'xstate.after.').length, 1, 'the timer fired once');
        await server.stop('SIGTERM');
        assert.equal(crashLogLines(crashLog).length, 1, 'a tool whose result was committed never runs again');
        assert.deepEqual(await storedTasks(store, 'ac-timer'), [{ task_id: 'slow@2', status: 'done', attempts: 1 }]);
      });
    });
  });

  describe('crash: killed while a tool call is running', () => {
    it('runs the task again with the same idempotency key and records its result once', async () => {
      await withStore('tool-running', async ({ store, crashLog, start }) => {
        let server = await start();
        let api = orchestrator(server.baseUrl);
        await api.startWorkflow({ machineId: 'crash-probe', workflowId: 'running', input: { slowMs: 1500, delayMs: 0 } });
        await api.sendEvent({ workflowId: 'running', event: { type: 'go' } });
        await waitUntil('the tool call to start', async () => crashLogLines(crashLog), (lines) => lines.length === 1);
        const running = (await api.getWorkflow({ id: 'running' })).workflow!;
        assert.deepEqual(running.tasks.map((t) => [t.id, t.status]), [['slow@2', 'running']]);
        await server.stop('SIGKILL');

        server = await start();
        api = orchestrator(server.baseUrl);
        const done = await waitForStatus(api, 'running', WorkflowStatus.DONE);
        const calls = crashLogLines(crashLog);
        assert.deepEqual(calls.map((c) => c.key), ['running:slow@2', 'running:slow@2'], 'run again, same idempotency key');
        assert.notEqual(calls[0]!.pid, calls[1]!.pid);
        // The second run's result is the one recorded.
        assert.equal(outputOf<{ result: { pid: number } }>(done).result.pid, calls[1]!.pid);
        const history = await fullHistory(api, 'running');
        assertHistoryIntact(history);
        assert.equal(entriesOf(history, 'xstate.done.actor.slow').length, 1, 'the result is recorded once');
        assert.equal(entriesOf(history, 'xstate.after.').length, 1);
        await server.stop('SIGTERM');
        assert.deepEqual(await storedTasks(store, 'running'), [{ task_id: 'slow@2', status: 'done', attempts: 2 }]);
        assert.equal(crashLogLines(crashLog).length, 2, 'not run a third time');
      });
    });
  });

  describe('crash: killed while a timer is pending', () => {
    it('fires each timer once: one fired just before the kill, one held in memory, one overdue at restart, one due later', async () => {
      await withStore('timer-pending', async ({ start }) => {
        // Commits 1-4 start four workflows, 5-8 arm their timers; commit 9 is the first timer
        // firing (the shortest, armed last): the process is killed right after it. `held` is due
        // within the claim lookahead (1 s) when armed, so it is normally claimed and waiting in
        // the dead process's memory under its lease: it fires once that lease has run out
        // (TIMER_LEASE_MS, short here, plus the lookahead), usually a few seconds after the restart.
        const env = { TIMER_LEASE_MS: '5000' };
        let server = await start({ ...env, FAULT_KILL_AFTER_COMMIT: '9' });
        let api = orchestrator(server.baseUrl);
        const delays = { fired: 100, held: 900, soon: 2500, later: 8000 } as const;
        for (const [id, delayMs] of Object.entries(delays)) await api.startWorkflow({ machineId: 'crash-probe', workflowId: id, input: { delayMs } });
        const due: Record<string, number> = {};
        for (const id of ['soon', 'later', 'held', 'fired']) {
          const armed = (await api.sendEvent({ workflowId: id, event: { type: 'wait' } })).workflow!;
          due[id] = millis(armed.timers[0]?.dueTime);
        }
        assert.equal(await exitSignal(server), 'SIGKILL');
        // Down past the second due time, so that timer is overdue when the server comes back.
        await waitUntil('the second timer to be overdue', async () => Date.now(), (now) => now > due.soon! + 100);

        server = await start(env);
        const listening = Date.now();
        api = orchestrator(server.baseUrl);
        const firedBefore = (await api.getWorkflow({ id: 'fired' })).workflow!;
        assert.equal(firedBefore.status, WorkflowStatus.DONE, 'the timer fired just before the kill stays fired');
        const soonDone = await waitForStatus(api, 'soon', WorkflowStatus.DONE);
        // Overdue timers fire as the engine starts (before it listens); the margin is for a slow machine.
        assert.ok(millis(soonDone.updateTime) < listening + 5000, 'the overdue timer fired at start');
        await waitForStatus(api, 'held', WorkflowStatus.DONE);
        await waitForStatus(api, 'later', WorkflowStatus.DONE);
        for (const id of Object.keys(delays)) {
          const history = await fullHistory(api, id);
          assertHistoryIntact(history);
          assert.deepEqual(history.map((e) => e.eventType), ['xstate.init', 'wait', 'xstate.after.cooldown.crash-probe.cooling'], `${id}: the timer fired once`);
          assert.ok(millis(history[2]!.time) >= due[id]!, `${id}: not before its due time`);
        }
      });
    });
  });

  describe('crash: killed mid-way through a burst of events', () => {
    it('keeps every acknowledged event, and applies retried ones at most once', async () => {
      await withStore('burst', async ({ start }) => {
        const total = 300;
        // Commit 1 starts the workflow; the process dies right after committing the 100th tick,
        // with replies to earlier ticks still in flight and later ticks not yet applied.
        let server = await start({ FAULT_KILL_AFTER_COMMIT: '101' });
        let api = orchestrator(server.baseUrl);
        await api.startWorkflow({ machineId: 'crash-probe', workflowId: 'burst', input: {} });
        const acknowledged = new Map<string, number>();
        // All at once over one HTTP/2 connection.
        const ids = Array.from({ length: total }, (_, i) => `tick-${i}`);
        const replies = await Promise.allSettled(
          ids.map(async (eventId) => {
            const { workflow } = await api.sendEvent({ workflowId: 'burst', event: { type: 'tick' }, eventId });
            acknowledged.set(eventId, workflow!.version);
          }),
        );
        assert.equal(await exitSignal(server), 'SIGKILL');
        const failed = ids.filter((_, i) => replies[i]!.status === 'rejected');
        assert.ok(acknowledged.size < 100 && failed.length > total - 100, `killed mid-way: ${acknowledged.size} acknowledged, ${failed.length} unanswered`);
        for (const [i, reply] of replies.entries()) {
          if (reply.status === 'rejected') assert.ok([Code.Unavailable, Code.Internal, Code.Canceled, Code.Unknown].includes(ConnectError.from(reply.reason).code), `tick-${i}: ${String(reply.reason)}`);
        }

        server = await start();
        api = orchestrator(server.baseUrl);
        let history = await fullHistory(api, 'burst');
        assertHistoryIntact(history);
        assert.equal(history.length, 101, 'every commit before the kill survived, the last one included');
        const applied = new Map(history.map((e) => [e.eventId, e.version]));
        for (const [eventId, version] of acknowledged) assert.equal(applied.get(eventId), version, `${eventId} was acknowledged at version ${version}`);
        // Versions of acknowledged events are distinct: each was its own transition.
        assert.equal(new Set(acknowledged.values()).size, acknowledged.size);

        // Clients retry what got no answer, with the same event ids: applied at most once.
        const retried = await Promise.all(failed.map((eventId) => api.sendEvent({ workflowId: 'burst', event: { type: 'tick' }, eventId })));
        for (const [i, eventId] of failed.entries()) {
          if (applied.has(eventId)) assert.equal(retried[i]!.workflow!.version, applied.get(eventId), `${eventId}: the original result`);
        }
        const finished = await api.sendEvent({ workflowId: 'burst', event: { type: 'finish' }, eventId: 'finish' });
        assert.equal(finished.workflow!.status, WorkflowStatus.DONE);
        assert.equal(outputOf<{ ticks: number }>(finished.workflow!).ticks, total, 'every tick counted once');
        history = await fullHistory(api, 'burst');
        assertHistoryIntact(history);
        assert.equal(history.length, 1 + total + 1);
        assert.deepEqual(new Set(entriesOf(history, 'tick').map((e) => e.eventId)), new Set(ids));
      });
    });
  });
});
