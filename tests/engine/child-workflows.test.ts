import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { childWorkflowId } from '../../src/engine/child-workflows.js';
import type { WorkflowView } from '../../src/engine/workflow-engine.js';
import { machines as childMachines } from '../fixtures/child-machines.js';
import { createHarness } from './support/engine-harness.js';
import type { Harness } from './support/engine-harness.js';
import { untilEntry } from './support/wait.js';

/** `workflow.start` through the real engine and store: a parent waits for its child without holding a task lease. */
describe('child workflows (workflow.start)', () => {
  let h: Harness;
  before(async () => {
    h = await createHarness({ machines: childMachines });
  });
  after(() => h.close());

  /** Starts a parent and waits until its child runs and the parent's task waits for it. */
  async function startParent(id: string, label = id): Promise<{ parent: WorkflowView; childId: string }> {
    await h.engine.startWorkflow({ machineId: 'parent-probe', workflowId: id, input: { childInput: { label } } });
    const childId = childWorkflowId({ workflowId: id, taskId: 'child@1' });
    const deadline = Date.now() + 10_000;
    for (;;) {
      const parent = await h.engine.getWorkflow(id);
      if (parent.tasks[0]?.status === 'waiting') return { parent, childId };
      assert.ok(Date.now() < deadline, `the parent task never waited: ${JSON.stringify(parent.tasks)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  const finished = async (id: string) => {
    await untilEntry(h.engine, id, (e) => e.status !== 'active', 10_000);
    return h.engine.getWorkflow(id);
  };

  it('starts the child with a derived id, parks the parent task without a lease, and completes the parent with the child output', async () => {
    const { parent, childId } = await startParent('p-done');
    assert.equal(childId, 'p-done:child@1:child');
    const task = parent.tasks[0]!;
    assert.equal(task.src, 'workflow.start');
    const child = await h.engine.getWorkflow(childId);
    assert.equal(child.status, 'active');
    assert.equal(child.parentWorkflowId, 'p-done');
    assert.equal((await h.engine.getWorkflow(childId, { atVersion: 1 })).parentWorkflowId, 'p-done');
    assert.equal(parent.parentWorkflowId, undefined);
    assert.deepEqual(child.context, { label: 'p-done', result: null });
    const [row] = await h.db.db.selectFrom('workflow_tasks').select(['status', 'lease_owner', 'lease_until']).where('workflow_id', '=', 'p-done').execute();
    assert.deepEqual(row, { status: 'waiting', lease_owner: null, lease_until: null }, 'no lease is held while the child runs');

    await h.engine.sendEvent({ workflowId: childId, event: { type: 'finish', payload: { result: 42 } } });
    const done = await finished('p-done');
    assert.equal(done.status, 'done');
    assert.deepEqual(done.output, { child: { label: 'p-done', result: 42 }, error: null });
    const { entries } = await h.engine.getHistory({ workflowId: 'p-done' });
    assert.deepEqual(entries.map((e) => e.eventType), ['xstate.init', 'xstate.done.actor.child']);
    assert.equal(entries[1]!.eventId, 'task:child@1');
  });

  it('gives the parent a structured error when the child fails', async () => {
    const { childId } = await startParent('p-fail');
    await h.engine.sendEvent({ workflowId: childId, event: { type: 'explode' } });
    const failed = await finished('p-fail');
    assert.equal(failed.state, 'failed');
    const error = (failed.output as { error: Record<string, unknown> }).error;
    assert.equal(error.tool, 'workflow.start');
    assert.equal(error.kind, 'child_failed');
    assert.equal(error.workflowId, childId);
    assert.match(String((error.childError as { message?: string }).message), /the child exploded/);
  });

  it('gives the parent a child_cancelled error when a client cancels the child', async () => {
    const { childId } = await startParent('p-child-cancelled');
    await h.engine.cancelWorkflow({ workflowId: childId, reason: 'not needed' });
    const failed = await finished('p-child-cancelled');
    assert.equal((failed.output as { error: { kind: string } }).error.kind, 'child_cancelled');
  });

  it('cancels the child when the parent is cancelled, and when the parent leaves the waiting state', async () => {
    const first = await startParent('p-cancelled');
    await h.engine.cancelWorkflow({ workflowId: 'p-cancelled', reason: 'stop' });
    await untilEntry(h.engine, first.childId, (e) => e.status === 'cancelled', 10_000);

    const second = await startParent('p-abandoned');
    await h.engine.sendEvent({ workflowId: 'p-abandoned', event: { type: 'abandon' } });
    await untilEntry(h.engine, second.childId, (e) => e.status === 'cancelled', 10_000);
    const parent = await h.engine.getWorkflow('p-abandoned');
    assert.equal(parent.state, 'abandoned');
    assert.equal(parent.version, 2, 'the cancelled child reports nothing to a parent that moved on');
  });

  it('fails the task with invalid_input when the child id is taken by another workflow', async () => {
    // A client took the child's id first: the task cannot claim that workflow as its child.
    await h.engine.startWorkflow({ machineId: 'child-echo', workflowId: 'p-clash:child@1:child', input: {} });
    await h.engine.startWorkflow({ machineId: 'parent-probe', workflowId: 'p-clash', input: {} });
    const failed = await untilEntry(h.engine, 'p-clash', (e) => e.status !== 'active', 10_000);
    assert.equal((failed.context.error as { kind: string }).kind, 'invalid_input');
  });

  it('scans waiting tasks and active children a batch at a time, finding finished and orphaned children', async () => {
    const a = await startParent('scan-a');
    const b = await startParent('scan-b');
    await h.engine.stop();
    // A finished child of a waiting task, and an active child of a closed task: as a crash leaves them.
    await h.db.db.updateTable('workflows').set({ status: 'done' }).where('id', '=', a.childId).execute();
    await h.db.db.updateTable('workflow_tasks').set({ status: 'cancelled' }).where('workflow_id', '=', 'scan-b').execute();
    const finished: string[] = [];
    let waitingAfter = null;
    for (let batches = 0; batches < 100; batches++) {
      const page = await h.store.scanWaitingTasks(waitingAfter, 1);
      finished.push(...page.finished.map((c) => `${c.parent.workflowId}/${c.parent.taskId}->${c.id}`));
      if (!(waitingAfter = page.next)) break;
    }
    assert.deepEqual(finished, [`scan-a/child@1->${a.childId}`]);
    const orphans: string[] = [];
    let childAfter = null;
    for (let batches = 0; batches < 100; batches++) {
      const page = await h.store.scanActiveChildren(childAfter, 1);
      orphans.push(...page.orphans);
      if (!(childAfter = page.next)) break;
    }
    assert.deepEqual(orphans, [b.childId]);
    await h.engine.start();
  });

  /**
   * Finishes the child of `parentId` while the parent task is `running` under a dead engine's
   * expired lease (the state a crash leaves before the task is parked): the report right after
   * the child's commit finds no waiting task and is dropped. The main engine is stopped (its
   * polls would repair this at once); a new engine, not started yet, is returned.
   */
  async function finishChildUnheard(parentId: string, result: string): Promise<{ childId: string; engine: ReturnType<Harness['addEngine']> }> {
    await h.engine.start();
    const { childId } = await startParent(parentId);
    await h.engine.stop();
    await h.db.db.updateTable('workflow_tasks').set({ status: 'running', lease_owner: 'dead', lease_until: new Date(0) }).where('workflow_id', '=', parentId).execute();
    const engine = h.addEngine();
    await engine.sendEvent({ workflowId: childId, event: { type: 'finish', payload: { result } } });
    assert.equal((await engine.getWorkflow(parentId)).status, 'active', 'the report found no waiting task and was dropped');
    return { childId, engine };
  }

  const childrenOf = async (parentId: string) =>
    (await h.db.db.selectFrom('workflows').select('id').where('parent_workflow_id', '=', parentId).execute()).map((c) => c.id);

  it('starts the child once when the task runs again, and takes a finished child\'s output as the result', async () => {
    const { childId, engine } = await finishChildUnheard('p-rerun', 'late');
    // Started, the engine claims the expired task and runs workflow.start again: the child
    // exists (no second start) and has finished, so its output is the task's result.
    await engine.start();
    assert.equal((await untilEntry(engine, 'p-rerun', (e) => e.status !== 'active', 10_000)).status, 'done');
    assert.deepEqual((await engine.getWorkflow('p-rerun')).output, { child: { label: 'p-rerun', result: 'late' }, error: null });
    assert.deepEqual(await childrenOf('p-rerun'), [childId], 'one child');
    await engine.stop();
  });

  it('reports a finished child whose parent task still waits (a report lost to a crash) from the sweep', async () => {
    const { engine } = await finishChildUnheard('p-sweep', 'swept');
    // As if the task had been parked and the process died before its re-check reported.
    await h.db.db.updateTable('workflow_tasks').set({ status: 'waiting', lease_owner: null, lease_until: null }).where('workflow_id', '=', 'p-sweep').execute();
    await engine.start();
    const done = await untilEntry(engine, 'p-sweep', (e) => e.status !== 'active', 10_000);
    assert.equal(done.eventType, 'xstate.done.actor.child');
    assert.deepEqual(done.context.child, { label: 'p-sweep', result: 'swept' });
    await engine.stop();
  });
});
