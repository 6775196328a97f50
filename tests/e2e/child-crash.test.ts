import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConnectError } from '@connectrpc/connect';
import { WorkflowStatus } from '../../gen/orchestrator/v1/orchestrator_pb.js';
import { childWorkflowId } from '../../src/engine/child-workflows.js';
import { assertHistoryIntact, entriesOf, exitSignal, fullHistory, orchestrator, outputOf, waitForStatus, waitUntil, withServerStore } from '../helpers/crash-kit.js';
import type { Orchestrator } from '../helpers/crash-kit.js';

/**
 * Child workflows (`workflow.start`) across kill -9: the server runs as a child process with the
 * child-machines fixture and is killed right after a chosen commit (FAULT_KILL_AFTER_COMMIT), so
 * the commit is durable and nothing after it happened. After restart the parent still completes
 * exactly once, with one child, and a cancelled parent's child is still cancelled.
 */

const ENV = { EXTRA_MODULES: 'tests/fixtures/child-machines.ts', TASK_LEASE_MS: '1000' };
const CHILD_OF = (parentId: string) => childWorkflowId({ workflowId: parentId, taskId: 'child@1' });

/** Starts parent-probe and waits until its child runs and the parent task waits for it. */
async function startParent(api: Orchestrator, id: string): Promise<string> {
  await api.startWorkflow({ machineId: 'parent-probe', workflowId: id, requestId: `start-${id}`, input: { childInput: { label: id } } });
  await waitUntil(`the task of ${id} to wait for its child`, async () => (await api.getWorkflow({ id })).workflow!.tasks, (tasks) => tasks[0]?.status === 'waiting');
  return CHILD_OF(id);
}

async function assertCompletedOnce(api: Orchestrator, parentId: string, result: unknown): Promise<void> {
  const done = await waitForStatus(api, parentId, WorkflowStatus.DONE, 30_000);
  assert.deepEqual(outputOf(done), { child: { label: parentId, result }, error: null });
  const history = await fullHistory(api, parentId);
  assertHistoryIntact(history);
  assert.equal(entriesOf(history, 'xstate.done.actor.child').length, 1, 'the child result counted once');
  const children = (await api.listWorkflows({ machineId: 'child-echo', pageSize: 100 })).workflows;
  assert.deepEqual(children.map((w) => w.id), [CHILD_OF(parentId)], 'one child was started');
}

describe('child workflows across kill -9', { concurrency: 2 }, () => {
  it('reports a child that finished right before the kill: the parent completes once', async () => {
    await withServerStore(ENV, async ({ start }) => {
      let server = await start();
      const childId = await startParent(orchestrator(server.baseUrl), 'kill-report');
      await server.stop('SIGKILL');

      // The child's final commit is this process's first: killed before it reports to the parent.
      server = await start({ FAULT_KILL_AFTER_COMMIT: '1' });
      await assert.rejects(orchestrator(server.baseUrl).sendEvent({ workflowId: childId, event: { type: 'finish', payload: { result: 7 } }, eventId: 'finish-1' }), ConnectError);
      assert.equal(await exitSignal(server), 'SIGKILL');

      server = await start();
      const api = orchestrator(server.baseUrl);
      const child = (await api.getWorkflow({ id: childId })).workflow!;
      assert.deepEqual([child.status, child.parentWorkflowId], [WorkflowStatus.DONE, 'kill-report'], 'the child commit survived');
      await assertCompletedOnce(api, 'kill-report', 7);
    });
  });

  it('starts the child once when killed between starting it and parking the parent task', async () => {
    await withServerStore(ENV, async ({ start }) => {
      // Commit 1 starts the parent; commit 2 starts the child, from the parent's task: killed there.
      let server = await start({ FAULT_KILL_AFTER_COMMIT: '2' });
      await orchestrator(server.baseUrl)
        .startWorkflow({ machineId: 'parent-probe', workflowId: 'kill-start', requestId: 'start-kill-start', input: { childInput: { label: 'kill-start' } } })
        .catch(() => {});
      assert.equal(await exitSignal(server), 'SIGKILL');

      // The task's lease runs out; the task runs again and finds its child instead of starting one.
      server = await start();
      const api = orchestrator(server.baseUrl);
      await waitUntil('the parent task to wait for its child', async () => (await api.getWorkflow({ id: 'kill-start' })).workflow!.tasks, (t) => t[0]?.status === 'waiting', 30_000);
      await api.sendEvent({ workflowId: CHILD_OF('kill-start'), event: { type: 'finish', payload: { result: 'ok' } } });
      await assertCompletedOnce(api, 'kill-start', 'ok');
    });
  });

  it('cancels the child of a parent cancelled right before the kill', async () => {
    await withServerStore(ENV, async ({ start }) => {
      let server = await start();
      const childId = await startParent(orchestrator(server.baseUrl), 'kill-cancel');
      await server.stop('SIGKILL');

      server = await start({ FAULT_KILL_AFTER_COMMIT: '1' });
      await assert.rejects(orchestrator(server.baseUrl).cancelWorkflow({ workflowId: 'kill-cancel', reason: 'stop' }), ConnectError);
      assert.equal(await exitSignal(server), 'SIGKILL');

      server = await start();
      const api = orchestrator(server.baseUrl);
      assert.equal((await api.getWorkflow({ id: 'kill-cancel' })).workflow!.status, WorkflowStatus.CANCELLED);
      await waitForStatus(api, childId, WorkflowStatus.CANCELLED, 30_000);
    });
  });
});
