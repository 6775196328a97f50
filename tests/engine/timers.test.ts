import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ManualClock } from '../../src/engine/clock.js';
import { createHarness } from './support/engine-harness.js';
import type { Harness } from './support/engine-harness.js';
import { untilEntry } from './support/wait.js';

const AFTER = 'xstate.after.probeDelay.probe.waiting';

describe('timers', () => {
  let h: Harness;
  const clock = new ManualClock(Date.UTC(2032, 0, 1));
  before(async () => {
    h = await createHarness({ options: { clock } });
    // A second replica polls the same rows: a timer must still fire once.
    await h.addEngine({ clock }).start();
  });
  after(() => h.close());

  const waiting = async (label: string, delayMs = 5_000) => {
    const wf = await h.engine.startWorkflow({ machineId: 'probe', input: { label, delayMs } });
    return h.engine.sendEvent({ workflowId: wf.id, event: { type: 'probe.wait' } });
  };

  it('commits a timer row with the transition and fires it once when due', async () => {
    const view = await waiting('fire');
    assert.deepEqual(view.timers, [{ id: AFTER, dueAt: new Date(clock.now().getTime() + 5_000) }]);
    clock.advance(5_000);
    const fired = await untilEntry(h.engine, view.id, (e) => e.eventType === AFTER);
    assert.equal(fired.eventId, `timer:${AFTER}@2`);
    assert.equal(fired.toState, 'idle');
    assert.equal((fired.context as { count: number }).count, 100);
    // Fire another instance's timer: both replicas have polled after the first firing since.
    const other = await waiting('later', 1_000);
    clock.advance(1_000);
    await untilEntry(h.engine, other.id, (e) => e.eventType === AFTER);
    const { entries } = await h.engine.getHistory({ workflowId: view.id });
    assert.equal(entries.filter((e) => e.eventType === AFTER).length, 1);
    assert.deepEqual((await h.engine.getWorkflow(view.id)).timers, []);
  });

  it('deletes the timer when its state is left, so it never fires', async () => {
    const view = await waiting('left', 2_000);
    const left = await h.engine.sendEvent({ workflowId: view.id, event: { type: 'probe.stopWaiting' } });
    assert.deepEqual(left.timers, []);
    const witness = await waiting('witness', 2_000);
    clock.advance(2_000);
    // The witness is due at the same moment: once it fired, a poll saw both due times.
    await untilEntry(h.engine, witness.id, (e) => e.eventType === AFTER);
    const { entries } = await h.engine.getHistory({ workflowId: view.id });
    assert.deepEqual(entries.map((e) => e.eventType), ['xstate.init', 'probe.wait', 'probe.stopWaiting']);
  });

  it('re-arms on re-entry: the earlier arming never fires, the newest does', async () => {
    const view = await waiting('rearm', 3_000);
    clock.advance(2_000);
    const again = await h.engine.sendEvent({ workflowId: view.id, event: { type: 'probe.wait' } });
    assert.deepEqual(again.timers.map((t) => t.dueAt.getTime()), [clock.now().getTime() + 3_000]);
    const witness = await waiting('witness-2', 1_000);
    clock.advance(1_000);
    // The first arming's due time has passed too; only the witness may fire.
    await untilEntry(h.engine, witness.id, (e) => e.eventType === AFTER);
    assert.equal((await h.engine.getWorkflow(view.id)).version, 3);
    clock.advance(2_000);
    const fired = await untilEntry(h.engine, view.id, (e) => e.eventType === AFTER);
    assert.equal(fired.eventId, `timer:${AFTER}@3`);
    assert.equal(fired.version, 4);
  });
});

describe('timers after downtime', () => {
  it('fires overdue timers when an engine starts', async () => {
    const clock = new ManualClock(Date.UTC(2033, 0, 1));
    const h = await createHarness({ options: { clock } });
    try {
      const wf = await h.engine.startWorkflow({ machineId: 'probe', input: { label: 'overdue', delayMs: 1_000 } });
      await h.engine.sendEvent({ workflowId: wf.id, event: { type: 'probe.wait' } });
      await h.engine.stop();
      clock.advance(10_000);
      assert.equal((await h.store.loadWorkflow(wf.id))?.timers.length, 1, 'no engine ran, nothing fired');
      const next = h.addEngine({ clock });
      await next.start();
      const fired = await untilEntry(next, wf.id, (e) => e.eventType === AFTER);
      assert.equal(fired.toState, 'idle');
    } finally {
      await h.close();
    }
  });
});
