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

describe('TimerScheduler memory bound', () => {
  it('stops claiming at 20,000 held timers and hands them back when it stops', async () => {
    // An endless supply of timers due in an hour, within a lookahead of two: every claim is full.
    const dueAt = new Date(Date.now() + 3_600_000);
    const limits: number[] = [];
    let held = 0;
    let released = 0;
    let nextDueAsked = 0;
    let reachedBound!: () => void;
    const atBound = new Promise<void>((resolve) => (reachedBound = resolve));
    const store = {
      claimDueTimers: async (_owner: string, claim: { limit: number }) => {
        limits.push(claim.limit);
        held += claim.limit;
        if (held >= 20_000) reachedBound();
        return Array.from({ length: claim.limit }, (_, i): TimerRecord => ({ workflowId: `wf-${limits.length}-${i}`, timerId: 't', armedVersion: 1, event: { type: 'tick' }, dueAt }));
      },
      nextTimerDue: async () => {
        nextDueAsked++;
        return undefined;
      },
      releaseTimers: async () => {
        released++;
        return 0;
      },
    } as unknown as WorkflowStore;
    const options = resolveEngineOptions({ timerPollIntervalMs: 3_600_000, timerLookaheadMs: 7_200_000 });
    let fired = 0;
    const scheduler = new TimerScheduler(store, options, silent, async () => void fired++);
    scheduler.start();
    await atBound;
    // The fake store answers in microtasks, so the poll has run to its end once the check phase
    // comes: it stopped at the bound, with no further claim and no wake-up asked of the store.
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(held, 20_000);
    scheduler.poll(); // no room for a later poll either
    await new Promise((resolve) => setImmediate(resolve));
    await scheduler.stop();
    assert.equal(held, 20_000);
    assert.ok(limits.every((l) => l <= 500), 'claims of at most 500');
    assert.equal(nextDueAsked, 0);
    assert.equal(fired, 0, 'none is due');
    assert.equal(released, 1, 'held timers handed back once');
  });
});

describe('TimerScheduler preparation', () => {
  const later = Date.now() + 3_600_000;
  const timer = (workflowId: string, dueAt: number): TimerRecord => ({ workflowId, timerId: 't', armedVersion: 1, event: { type: 'tick' }, dueAt: new Date(dueAt) });
  const storeClaiming = (claimed: TimerRecord[]) =>
    ({ claimDueTimers: async () => claimed.splice(0), nextTimerDue: async () => undefined, releaseTimers: async () => 0 }) as unknown as WorkflowStore;
  const options = resolveEngineOptions({ timerPollIntervalMs: 3_600_000, timerLookaheadMs: 7_200_000 });
  const checkPhases = async (n: number) => {
    for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
  };

  it('prepares the claimed timers that are not due yet, not the due ones', async () => {
    const store = storeClaiming([timer('due', Date.now() - 1), timer('later-1', later), timer('later-2', later)]);
    const prepared: string[] = [];
    const fired: string[] = [];
    const scheduler = new TimerScheduler(store, options, silent, async (t) => void fired.push(t.workflowId), (t) => void prepared.push(t.workflowId));
    scheduler.start();
    // The fake store answers in microtasks: by the third check phase the poll has claimed and a slice has run.
    await checkPhases(3);
    await scheduler.stop();
    assert.deepEqual(fired, ['due']);
    assert.deepEqual(prepared, ['later-1', 'later-2']);
  });

  it('prepares in slices between I/O, and stops preparing when it stops', async () => {
    const store = storeClaiming(Array.from({ length: 200 }, (_, i) => timer(`wf-${i}`, later)));
    let prepared = 0;
    // Each preparation takes 1 ms: a slice (4 ms) holds a few, far from all 200.
    const slow = () => {
      const until = performance.now() + 1;
      while (performance.now() < until);
      prepared++;
    };
    const scheduler = new TimerScheduler(store, options, silent, async () => {}, slow);
    scheduler.start();
    await checkPhases(3);
    assert.ok(prepared > 0 && prepared < 20, `one slice prepared a few (${prepared})`);
    await scheduler.stop();
    const atStop = prepared;
    await checkPhases(5);
    assert.equal(prepared, atStop);
  });
});

describe('TimerScheduler firing limit', () => {
  it('fires at most what the store commits at once, and the next as each one ends', async () => {
    const due = Date.now() - 1;
    const timers = Array.from({ length: 10 }, (_, i): TimerRecord => ({ workflowId: `wf-${i}`, timerId: 't', armedVersion: 1, event: { type: 'tick' }, dueAt: new Date(due) }));
    const store = {
      commitCapacity: 3,
      claimDueTimers: async () => timers.splice(0),
      nextTimerDue: async () => undefined,
      releaseTimers: async () => 0,
    } as unknown as WorkflowStore;
    const options = resolveEngineOptions({ timerPollIntervalMs: 3_600_000 });
    const open: (() => void)[] = [];
    let mostAtOnce = 0;
    const scheduler = new TimerScheduler(store, options, silent, () => {
      const done = new Promise<void>((resolve) => open.push(resolve));
      mostAtOnce = Math.max(mostAtOnce, open.length);
      return done;
    });
    const checkPhase = () => new Promise((resolve) => setImmediate(resolve));
    scheduler.start();
    await checkPhase();
    assert.equal(open.length, 3, 'three firing, seven held');
    // Each firing that ends lets one held timer start; never more than three at once.
    for (let ended = 0; ended < 10; ended++) {
      open.shift()!();
      await checkPhase();
      assert.equal(open.length, Math.min(3, 10 - ended - 1), `after ${ended + 1} ended`);
    }
    assert.equal(mostAtOnce, 3);
    await scheduler.stop();
  });

  it("does not let one workflow's timers, firing one after another, hold the slots of others", async () => {
    const due = Date.now() - 1;
    const timer = (workflowId: string, timerId: string): TimerRecord => ({ workflowId, timerId, armedVersion: 1, event: { type: 'tick' }, dueAt: new Date(due) });
    // Claimed in this order: five of `busy` first, then one each of two other workflows.
    const timers = [...['t1', 't2', 't3', 't4', 't5'].map((id) => timer('busy', id)), timer('other-1', 't'), timer('other-2', 't')];
    let released = 0;
    const store = {
      commitCapacity: 2,
      claimDueTimers: async () => timers.splice(0),
      nextTimerDue: async () => undefined,
      releaseTimers: async () => ++released,
    } as unknown as WorkflowStore;
    const options = resolveEngineOptions({ timerPollIntervalMs: 3_600_000 });
    const open = new Map<string, () => void>();
    const order: string[] = [];
    const scheduler = new TimerScheduler(store, options, silent, (t) => {
      const key = `${t.workflowId}/${t.timerId}`;
      order.push(key);
      return new Promise<void>((resolve) => open.set(key, () => (open.delete(key), resolve())));
    });
    const checkPhase = () => new Promise((resolve) => setImmediate(resolve));
    scheduler.start();
    await checkPhase();
    assert.deepEqual([...open.keys()], ['busy/t1', 'other-1/t'], "busy's other four wait for its first without a slot");
    open.get('other-1/t')!();
    await checkPhase();
    assert.deepEqual([...open.keys()], ['busy/t1', 'other-2/t']);
    open.get('busy/t1')!();
    await checkPhase();
    assert.deepEqual([...open.keys()], ['other-2/t', 'busy/t2'], 'the slot passes to the next timer of the workflow');
    open.get('busy/t2')!();
    await checkPhase();
    assert.deepEqual([...open.keys()], ['other-2/t', 'busy/t3']);
    // Stopping hands back what has not started (busy's t4 and t5) and waits for what runs.
    const stopped = scheduler.stop();
    await checkPhase();
    for (const end of [...open.values()]) end();
    await stopped;
    assert.deepEqual(order, ['busy/t1', 'other-1/t', 'other-2/t', 'busy/t2', 'busy/t3']);
    assert.equal(released, 1, 'the unstarted timers handed back');
  });
});
