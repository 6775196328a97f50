import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { assign, setup } from 'xstate';
import { ManualClock } from '../../src/engine/clock.js';
import { defineWorkflow } from '../../src/engine/machine-kit.js';
import { createHarness } from './support/engine-harness.js';
import type { Harness } from './support/engine-harness.js';
import { waitUntil } from '../helpers/crash-kit.js';
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
  it('fires a large batch of timers due at one moment exactly once each, across claims and replicas', async () => {
    const count = 1_200; // more than one claim (500 rows) per replica
    const ids: string[] = [];
    for (let i = 0; i < count; i += 50) {
      const views = await Promise.all(Array.from({ length: Math.min(50, count - i) }, (_, k) => waiting(`many-${i + k}`, 7_000)));
      ids.push(...views.map((v) => v.id));
    }
    const fired = new Set<string>();
    let allFired!: () => void;
    const done = new Promise<void>((resolve) => (allFired = resolve));
    const unsubscribe = await h.bus.subscribeAll((m) => {
      if (m.eventType === AFTER && ids.includes(m.workflowId)) fired.add(m.workflowId);
      if (fired.size === count) allFired();
    });
    try {
      clock.advance(7_000);
      await withTimeout(done, 120_000, () => `${fired.size} of ${count} timers fired`);
    } finally {
      await unsubscribe();
    }
    // The store is the judge: one firing per workflow in the history, no timer row left.
    const { rows } = await sql<{ workflow_id: string; firings: string }>`select w.id as workflow_id,
        (select count(*) from workflow_history h where h.workflow_id = w.id and h.event_type = ${AFTER}) as firings
      from workflows w where w.id = any(${ids}::text[])`.execute(h.db.db);
    assert.equal(rows.length, count);
    assert.deepEqual(rows.filter((r) => Number(r.firings) !== 1), []);
    const left = await sql<{ n: string }>`select count(*) as n from workflow_timers where workflow_id = any(${ids}::text[])`.execute(h.db.db);
    assert.equal(Number(left.rows[0]!.n), 0);
  });
});

/** `promise`, or a rejection naming what was missing after `ms`. */
async function withTimeout(promise: Promise<void>, ms: number, what: () => string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what()}`)), ms);
  });
  try {
    await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

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

describe('timers claimed ahead (timerLookaheadMs)', () => {
  const LOOKAHEAD = 1_000;

  /** Waits (bounded) until `count` timers of `ids` are leased, i.e. claimed ahead and held in memory. */
  const untilLeased = (h: Harness, ids: string[], count: number) =>
    waitUntil(
      `${count} of the timers leased`,
      async () => {
        const { rows } = await sql<{ n: string }>`select count(*) as n from workflow_timers
          where workflow_id = any(${ids}::text[]) and lease_owner is not null`.execute(h.db.db);
        return Number(rows[0]!.n);
      },
      (leased) => leased === count,
      5_000,
    );

  it('fires a held timer at its due time, and one left or re-armed while held never', async () => {
    const clock = new ManualClock(Date.UTC(2034, 0, 1));
    const h = await createHarness({ options: { clock, timerLookaheadMs: LOOKAHEAD } });
    try {
      const start = async (label: string) => {
        const wf = await h.engine.startWorkflow({ machineId: 'probe', input: { label, delayMs: 3_000 } });
        return (await h.engine.sendEvent({ workflowId: wf.id, event: { type: 'probe.wait' } })).id;
      };
      const [fires, left, rearmed] = [await start('held-fires'), await start('held-left'), await start('held-rearmed')];
      clock.advance(2_500);
      await untilLeased(h, [fires, left, rearmed], 3);
      // Held, not due: nothing fired (the clock stands still until the test moves it).
      for (const id of [fires, left, rearmed]) assert.equal((await h.engine.getWorkflow(id)).version, 2);
      await h.engine.sendEvent({ workflowId: left, event: { type: 'probe.stopWaiting' } });
      await h.engine.sendEvent({ workflowId: rearmed, event: { type: 'probe.wait' } }); // due 3,000 ms from now
      clock.advance(500);
      const fired = await untilEntry(h.engine, fires, (e) => e.eventType === AFTER);
      assert.equal(fired.at.getTime(), clock.now().getTime());
      // The held copy of the first arming was due with `fires`: its firing is refused (the row is
      // armed at version 3 now), so the first firing of `rearmed` is the new arming's.
      clock.advance(2_500);
      const refired = await untilEntry(h.engine, rearmed, (e) => e.eventType === AFTER);
      assert.equal(refired.eventId, `timer:${AFTER}@3`);
      assert.equal(refired.version, 4);
      await h.engine.stop(); // waits for the firings under way
      const { entries } = await h.engine.getHistory({ workflowId: left });
      assert.deepEqual(entries.map((e) => e.eventType), ['xstate.init', 'probe.wait', 'probe.stopWaiting']);
    } finally {
      await h.close();
    }
  });

  /** How many times the first timer's transition was computed: the assign counts (a test probe, impure on purpose). */
  let firstStepComputed = 0;
  const chain = defineWorkflow({
    id: 'chain',
    version: 1,
    description: 'two timers in a row',
    machine: setup({ types: {} as { context: { n: number }; events: { type: 'chain.bump' } } }).createMachine({
      id: 'chain',
      context: { n: 0 },
      initial: 'first',
      states: {
        first: {
          after: { 3000: { target: 'second', actions: assign({ n: ({ context }) => (firstStepComputed++, context.n + 1) }) } },
          on: { 'chain.bump': { actions: assign({ n: ({ context }) => context.n + 10 }) } },
        },
        second: { after: { 2000: 'done' } },
        done: { type: 'final' },
      },
    }),
    inputSchema: { type: 'object' },
  });

  it("computes a held timer's step before it is due, stamps its commit at the due time, and recomputes it if the workflow moved", async () => {
    const clock = new ManualClock(Date.UTC(2036, 0, 1));
    const h = await createHarness({ machines: [chain], options: { clock, timerLookaheadMs: LOOKAHEAD } });
    try {
      const kept = await h.engine.startWorkflow({ machineId: 'chain', input: {} });
      const moved = await h.engine.startWorkflow({ machineId: 'chain', input: {} });
      clock.advance(2_500);
      await untilLeased(h, [kept.id, moved.id], 2);
      await waitUntil('both steps computed ahead', async () => firstStepComputed, (n) => n === 2, 5_000);
      // The event replaces `moved`'s cached instance, and with it the step prepared from it.
      await h.engine.sendEvent({ workflowId: moved.id, event: { type: 'chain.bump' } });
      clock.advance(500);
      const due = clock.now().getTime();
      const fired = await untilEntry(h.engine, kept.id, (e) => e.eventType.startsWith('xstate.after.'));
      await untilEntry(h.engine, moved.id, (e) => e.eventType.startsWith('xstate.after.'));
      assert.equal(firstStepComputed, 3, "kept's prepared step was committed; moved's was computed again");
      assert.equal(fired.at.getTime(), due);
      const [keptView, movedView] = [await h.engine.getWorkflow(kept.id), await h.engine.getWorkflow(moved.id)];
      assert.deepEqual(keptView.context, { n: 1 });
      assert.deepEqual(keptView.timers, [{ id: 'xstate.after.2000.chain.second', dueAt: new Date(due + 2_000) }]);
      assert.deepEqual(movedView.context, { n: 11 });
    } finally {
      await h.close();
    }
  });

  it('hands held timers back when it stops, so another replica fires them when due', async () => {
    const clock = new ManualClock(Date.UTC(2035, 0, 1));
    const h = await createHarness({ options: { clock, timerLookaheadMs: LOOKAHEAD } });
    try {
      const wf = await h.engine.startWorkflow({ machineId: 'probe', input: { label: 'handed-back', delayMs: 3_000 } });
      await h.engine.sendEvent({ workflowId: wf.id, event: { type: 'probe.wait' } });
      clock.advance(2_500);
      await untilLeased(h, [wf.id], 1);
      await h.engine.stop();
      await untilLeased(h, [wf.id], 0);
      // Without the release the lease would hold the timer for 31 s of this clock, which stays put.
      const next = h.addEngine({ clock, timerLookaheadMs: LOOKAHEAD });
      await next.start();
      clock.advance(500);
      const fired = await untilEntry(next, wf.id, (e) => e.eventType === AFTER);
      assert.equal(fired.version, 3);
    } finally {
      await h.close();
    }
  });
});

describe("one workflow's timers due at one moment", () => {
  // Four regions, each arming a timer due at the same instant: one workflow's firings run one
  // after another (each commits a version the next is computed from), beside other workflows'.
  const region = { initial: 'waiting', states: { waiting: { after: { 1_000: 'fired' } }, fired: {} } };
  const fanOut = defineWorkflow({
    id: 'fan-out-timers',
    version: 1,
    description: 'four timers due at once',
    inputSchema: { type: 'object' },
    machine: setup({}).createMachine({ id: 'fan', type: 'parallel', states: { a: region, b: region, c: region, d: region } }),
  });
  const clock = new ManualClock(Date.UTC(2033, 0, 1));
  let h: Harness;
  // A store that commits two transitions at once: the firing limit is 2, fewer than the four.
  before(async () => (h = await createHarness({ machines: [fanOut], options: { clock }, store: { maxCommitBatch: 1, maxConcurrentCommits: 2 } })));
  after(() => h.close());

  it('fires each once, in turn, and the other workflows due with them too', async () => {
    const busy = await h.engine.startWorkflow({ machineId: 'fan-out-timers', input: {} });
    assert.equal(busy.timers.length, 4);
    const others = await Promise.all(
      ['x', 'y'].map(async (label) => {
        const wf = await h.engine.startWorkflow({ machineId: 'probe', input: { label, delayMs: 1_000 } });
        return h.engine.sendEvent({ workflowId: wf.id, event: { type: 'probe.wait' } });
      }),
    );
    clock.advance(1_000);
    for (const other of others) await untilEntry(h.engine, other.id, (e) => e.eventType === AFTER);
    await waitUntil('four firings of one workflow', () => h.engine.getWorkflow(busy.id), (w) => w.version === 5);
    const { entries } = await h.engine.getHistory({ workflowId: busy.id });
    const fired = entries.filter((e) => e.eventType.startsWith('xstate.after.'));
    assert.deepEqual(fired.map((e) => e.version), [2, 3, 4, 5]);
    assert.equal(new Set(fired.map((e) => e.eventType)).size, 4, 'each region fired once');
    const view = await h.engine.getWorkflow(busy.id);
    assert.deepEqual(view.timers, []);
    assert.deepEqual(view.state, { a: 'fired', b: 'fired', c: 'fired', d: 'fired' });
  });
});
