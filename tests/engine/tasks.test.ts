import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { ManualClock } from '../../src/engine/clock.js';
import { ControlledTools } from './support/controlled-tools.js';
import { createHarness } from './support/engine-harness.js';
import type { Harness } from './support/engine-harness.js';
import { untilEntry } from './support/wait.js';

async function taskRow(h: Harness, workflowId: string, taskId: string) {
  return h.db.db.selectFrom('workflow_tasks').selectAll().where('workflow_id', '=', workflowId).where('task_id', '=', taskId).executeTakeFirstOrThrow();
}

describe('tool tasks', () => {
  let h: Harness;
  before(async () => (h = await createHarness()));
  after(() => h.close());

  const working = async (label: string) => {
    const wf = await h.engine.startWorkflow({ machineId: 'probe', input: { label } });
    return h.engine.sendEvent({ workflowId: wf.id, event: { type: 'probe.go' } });
  };

  it('runs a committed task once and counts its result once', async () => {
    const view = await working('once');
    assert.deepEqual(view.tasks, [{ id: 'job@2', actorId: 'job', src: 'test.job', status: 'running', attempts: 1 }]);
    const call = await h.tools.nextFor(view.id, 'job');
    assert.equal(call.idempotencyKey, `${view.id}:job@2`);
    assert.equal(call.attempt, 1);
    assert.deepEqual(call.input, { n: 0 });
    call.resolve({ answer: 42 });
    const done = await untilEntry(h.engine, view.id, (e) => e.eventType === 'xstate.done.actor.job');
    assert.equal(done.eventId, 'task:job@2');
    assert.equal(done.toState, 'idle');
    assert.deepEqual((done.context as { lastResult: unknown }).lastResult, { answer: 42 });
    const row = await taskRow(h, view.id, 'job@2');
    assert.equal(row.status, 'done');
    assert.deepEqual(row.result, { answer: 42 });
    assert.equal(h.tools.calls.filter((c) => c.idempotencyKey === call.idempotencyKey).length, 1);
    assert.deepEqual((await h.engine.getWorkflow(view.id)).tasks, []);
  });

  it('turns a tool failure into the error event, and a non-JSON output into a failure', async () => {
    const view = await working('fails');
    const call = await h.tools.nextFor(view.id, 'job');
    call.reject(Object.assign(new Error('quota exceeded'), { code: 'rate_limited' }));
    const failed = await untilEntry(h.engine, view.id, (e) => e.eventType === 'xstate.error.actor.job');
    assert.deepEqual((failed.context as { lastError: unknown }).lastError, { name: 'Error', message: 'quota exceeded', code: 'rate_limited' });
    assert.equal((await taskRow(h, view.id, 'job@2')).status, 'failed');

    await h.engine.sendEvent({ workflowId: view.id, event: { type: 'probe.go' } });
    const second = await h.tools.nextFor(view.id, 'job');
    second.resolve({ when: new Date() });
    const bad = await untilEntry(h.engine, view.id, (e) => e.eventType === 'xstate.error.actor.job', 5_000, 5);
    assert.match((bad.context as { lastError: { message: string } }).lastError.message, /not JSON: output\.when is a Date/);
  });

  it('cancels the task when its state is left: the call is aborted and a late result is dropped', async () => {
    const view = await working('abandon');
    const call = await h.tools.nextFor(view.id, 'job');
    const aborted = once(call.signal, 'abort');
    const left = await h.engine.sendEvent({ workflowId: view.id, event: { type: 'probe.abandon' } });
    assert.deepEqual(left.tasks, []);
    await aborted;
    assert.equal((await taskRow(h, view.id, 'job@2')).status, 'cancelled');
    call.resolve({ late: true });
    // A later transition proves the engine is idle again; the late result left no trace.
    await h.engine.sendEvent({ workflowId: view.id, event: { type: 'probe.bump' } });
    const { entries } = await h.engine.getHistory({ workflowId: view.id });
    assert.deepEqual(entries.map((e) => e.eventType), ['xstate.init', 'probe.go', 'probe.abandon', 'probe.bump']);
  });
});

describe('tool tasks across replicas', () => {
  it('runs a task committed by an engine that never ran it on another engine, once', async () => {
    const h = await createHarness({ start: false });
    try {
      const wf = await h.engine.startWorkflow({ machineId: 'probe', input: { label: 'orphan' } });
      const view = await h.engine.sendEvent({ workflowId: wf.id, event: { type: 'probe.go' } });
      assert.deepEqual(view.tasks.map((t) => [t.status, t.attempts]), [['pending', 0]]);
      const b = h.addEngine();
      await b.start();
      const call = await h.tools.nextFor(wf.id, 'job');
      assert.equal(call.idempotencyKey, `${wf.id}:job@2`);
      assert.equal(call.attempt, 1);
      call.resolve('ok');
      const done = await untilEntry(b, wf.id, (e) => e.eventType === 'xstate.done.actor.job');
      assert.equal((done.context as { count: number }).count, 1);
    } finally {
      await h.close();
    }
  });

  it('re-runs a task whose lease expired (its engine died) with the same idempotency key; the result counts once', async () => {
    const clock = new ManualClock(Date.UTC(2034, 0, 1));
    const toolsA = new ControlledTools(['test.job']);
    const toolsB = new ControlledTools(['test.job']);
    // A plays dead: it renews leases every 10 s and polls every hour of real time, so within
    // this test it does neither, while its call hangs like a zombie's.
    const h = await createHarness({ tools: toolsA, options: { clock, taskLeaseMs: 30_000, taskPollIntervalMs: 3_600_000 } });
    try {
      const wf = await h.engine.startWorkflow({ machineId: 'probe', input: { label: 'crash' } });
      await h.engine.sendEvent({ workflowId: wf.id, event: { type: 'probe.go' } });
      const callA = await toolsA.nextFor(wf.id, 'job');
      const b = h.addEngine({ clock, taskLeaseMs: 30_000 }, toolsB);
      await b.start();
      clock.advance(31_000);
      const callB = await toolsB.nextFor(wf.id, 'job');
      assert.equal(callB.idempotencyKey, callA.idempotencyKey);
      assert.equal(callB.attempt, 2);
      // A wakes up and reports: the task is B's now, so A's result is dropped.
      callA.resolve('from A');
      callB.resolve('from B');
      const done = await untilEntry(b, wf.id, (e) => e.eventType === 'xstate.done.actor.job');
      assert.equal((done.context as { lastResult: unknown }).lastResult, 'from B');
      await b.sendEvent({ workflowId: wf.id, event: { type: 'probe.bump' } });
      const { entries } = await b.getHistory({ workflowId: wf.id });
      assert.deepEqual(entries.map((e) => e.eventType), ['xstate.init', 'probe.go', 'xstate.done.actor.job', 'probe.bump']);
      const row = await taskRow(h, wf.id, 'job@2');
      assert.equal(row.status, 'done');
      assert.equal(row.attempts, 2);
      assert.equal(row.lease_owner, b.instanceId);
    } finally {
      await h.close();
    }
  });

  it('hands running tasks back on stop, so another engine runs them at once', async () => {
    const toolsB = new ControlledTools(['test.job']);
    const h = await createHarness();
    try {
      const wf = await h.engine.startWorkflow({ machineId: 'probe', input: { label: 'handover' } });
      await h.engine.sendEvent({ workflowId: wf.id, event: { type: 'probe.go' } });
      const callA = await h.tools.nextFor(wf.id, 'job');
      const b = h.addEngine(undefined, toolsB);
      await b.start();
      await h.engine.stop();
      assert.ok(callA.signal.aborted, 'stopping aborts running calls');
      const callB = await toolsB.nextFor(wf.id, 'job');
      assert.equal(callB.idempotencyKey, callA.idempotencyKey);
      callB.resolve('B');
      await untilEntry(b, wf.id, (e) => e.eventType === 'xstate.done.actor.job');
    } finally {
      await h.close();
    }
  });
});

describe('tool results and size limits', () => {
  it('turns an output over the event limit into the error event, and ends an instance whose context outgrows its limit', async () => {
    const h = await createHarness({ options: { limits: { maxEventBytes: 4_000, maxContextBytes: 3_000 } } });
    try {
      const wf = await h.engine.startWorkflow({ machineId: 'probe', input: { label: 'big' } });
      await h.engine.sendEvent({ workflowId: wf.id, event: { type: 'probe.go' } });
      (await h.tools.nextFor(wf.id, 'job')).resolve({ blob: 'x'.repeat(5_000) });
      const failed = await untilEntry(h.engine, wf.id, (e) => e.eventType === 'xstate.error.actor.job');
      assert.equal((failed.context as { lastError: { code: string } }).lastError.code, 'resource_exhausted');

      await h.engine.sendEvent({ workflowId: wf.id, event: { type: 'probe.go' } });
      (await h.tools.nextFor(wf.id, 'job')).resolve({ blob: 'x'.repeat(3_500) });
      const ended = await untilEntry(h.engine, wf.id, (e) => e.status !== 'active');
      assert.equal(ended.status, 'error');
      const view = await h.engine.getWorkflow(wf.id);
      assert.equal((view.error as { code: string }).code, 'resource_exhausted');
      assert.equal((view.context as { lastResult: unknown }).lastResult, null, 'the context stays as it was before the result');
    } finally {
      await h.close();
    }
  });
});
