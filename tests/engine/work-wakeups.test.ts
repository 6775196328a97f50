import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { WorkMessage } from '../../src/engine/ports/event-bus.js';
import { createHarness, type Harness } from './support/engine-harness.js';

/**
 * New unowned tasks and newly armed timers wake other replicas through the bus's work channel.
 * The worker below polls once a minute, so work done within the test's timeout was started by
 * an announcement, not by its poll.
 */
describe('work announcements', () => {
  let h: Harness;
  const announced: WorkMessage[] = [];

  before(async () => {
    // h.engine stays stopped: it commits (as an API-only replica would) but runs nothing.
    h = await createHarness({ start: false });
    await h.bus.subscribeWork((message) => announced.push(message));
    const worker = h.addEngine({ taskPollIntervalMs: 60_000, timerPollIntervalMs: 60_000 });
    await worker.start();
  });
  after(() => h.close());

  it('a task committed with no owner is claimed by another replica at once', { timeout: 20_000 }, async () => {
    const wf = await h.engine.startWorkflow({ machineId: 'probe', input: { label: 'task' } });
    await h.engine.sendEvent({ workflowId: wf.id, event: { type: 'probe.go' } });
    const call = await h.tools.nextFor(wf.id, 'job');
    assert.equal(call.attempt, 1);
    assert.ok(announced.some((m) => m.kind === 'task' && m.from === h.engine.instanceId), 'the task was announced by this instance');
    call.resolve({ ok: true });
  });

  it('a newly armed timer is fired by another replica when due', { timeout: 20_000 }, async () => {
    const wf = await h.engine.startWorkflow({ machineId: 'probe', input: { label: 'timer', delayMs: 200 } });
    const armed = await h.engine.sendEvent({ workflowId: wf.id, event: { type: 'probe.wait' } });
    const dueAt = armed.timers[0]!.dueAt.toISOString();
    assert.ok(announced.some((m) => m.kind === 'timer' && m.dueAt === dueAt), 'the timer was announced with its due time');
    for (;;) {
      const view = await h.engine.getWorkflow(wf.id);
      if (view.context.count === 100) break;
      await new Promise((r) => setTimeout(r, 20));
    }
  });

  it('tasks a stopping replica hands back are taken over at once', { timeout: 20_000 }, async () => {
    const leaving = h.addEngine({ taskPollIntervalMs: 60_000, timerPollIntervalMs: 60_000 });
    await leaving.start();
    const wf = await leaving.startWorkflow({ machineId: 'probe', input: { label: 'handover' } });
    await leaving.sendEvent({ workflowId: wf.id, event: { type: 'probe.go' } });
    const first = await h.tools.nextFor(wf.id, 'job');
    await leaving.stop(); // aborts the call and puts the task back to pending
    assert.ok(first.signal.aborted, 'the first signal was aborted');
    const second = await h.tools.nextFor(wf.id, 'job');
    assert.equal(second.attempt, 2);
    second.resolve({ ok: true });
  });
});
