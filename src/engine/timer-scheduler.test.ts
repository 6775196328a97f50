import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveEngineOptions } from './engine-options.js';
import type { TimerRecord, WorkflowStore } from './ports/workflow-store.js';
import { TimerScheduler } from './timer-scheduler.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

describe('TimerScheduler', () => {
  it('polls again at once when a timer is claimable at the end of a poll (it fell due while the poll ran)', async () => {
    const timer: TimerRecord = { workflowId: 'wf', timerId: 't', armedVersion: 1, event: { type: 'tick' }, dueAt: new Date(Date.now() - 1) };
    let claims = 0;
    // First claim: not due yet as far as that poll saw; by the end of it the row is claimable.
    const store = {
      claimDueTimers: async () => (++claims === 1 ? [] : claims === 2 ? [timer] : []),
      nextTimerDue: async () => (claims === 1 ? new Date(Date.now() - 1) : undefined),
    } as unknown as WorkflowStore;
    // The regular poll is an hour away: only the re-poll can fire the timer within the test.
    const options = resolveEngineOptions({ timerPollIntervalMs: 3_600_000 });
    let fire!: (t: TimerRecord) => void;
    const fired = new Promise<TimerRecord>((resolve) => (fire = resolve));
    const scheduler = new TimerScheduler(store, options, silent, async (t) => fire(t));
    scheduler.start();
    try {
      assert.equal(await fired, timer);
      assert.equal(claims >= 2, true);
    } finally {
      await scheduler.stop();
    }
  });
});
