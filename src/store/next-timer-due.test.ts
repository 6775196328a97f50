import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openTestDatabase } from '../../tests/helpers/test-database.js';
import type { TestDatabase } from '../../tests/helpers/test-database.js';
import type { CommitEffects } from '../engine/ports/workflow-store.js';
import { PostgresWorkflowStore } from './postgres-workflow-store.js';

const kind = process.env.DATABASE_URL ? 'postgres' : 'pglite';
const NO_EFFECTS: CommitEffects = { timersCancelled: [], timersArmed: [], tasksCancelled: [], clearAll: false, tasksCreated: [] };
const T = Date.UTC(2031, 0, 1);
const at = (seconds: number) => new Date(T + seconds * 1000);

/**
 * `nextTimerDue(now, lookaheadMs)`: when the timer scheduler must poll next. The earliest due
 * time of an unleased timer less the lookahead, or the end of a lease (a claimed timer is
 * claimable again when its lease runs out), whichever comes first; with the claims and the
 * release of leases that set them.
 */
describe(`timer claims and nextTimerDue (${kind})`, () => {
  let database: TestDatabase;
  let store: PostgresWorkflowStore;
  let next = 0;

  before(async () => {
    database = await openTestDatabase();
    store = new PostgresWorkflowStore(database.db);
  });
  after(() => database.close());

  /** A new workflow at version 1 with one timer `t` due at `dueAt`. */
  const armed = async (dueAt: Date): Promise<string> => {
    const id = `due-${next++}`;
    const inserted = await store.insertWorkflow({
      id, machineId: 'm', machineVersion: 1, machineHash: 'h', status: 'active', state: 'a', statePaths: ['a'],
      snapshot: { value: 'a', context: {} }, input: {}, inputHash: 'x', startRequestId: null, output: null, error: null, at: at(0),
      effects: { ...NO_EFFECTS, timersArmed: [{ timerId: 't', event: { type: 'tick' }, dueAt }] },
    });
    assert.equal(inserted.inserted, true);
    return id;
  };

  /** Removes every timer, so each case starts from an empty table. */
  const clear = async (ids: string[]) => {
    for (const [i, id] of ids.entries()) {
      const outcome = await store.commitTransition({
        workflowId: id, expectedVersion: (await store.loadWorkflow(id))!.version, status: 'active', state: 'b', statePaths: ['b'],
        snapshot: { value: 'b', context: {} }, output: null, error: null, at: at(0), eventType: 'reset', event: { type: 'reset' },
        eventId: `reset-${i}-${id}`, fromState: 'a', effects: { ...NO_EFFECTS, clearAll: true },
      });
      assert.equal(outcome.kind, 'committed');
    }
  };

  /** A claim of up to 10 timers due by `dueBy` (default: `now`), leased until `leaseUntil`. */
  const claim = (owner: string, now: Date, leaseUntil: Date, dueBy = now) => store.claimDueTimers(owner, { now, dueBy, leaseUntil, limit: 10 });

  it('is undefined without timers, and the earliest due time of unleased ones, less the lookahead', async () => {
    assert.equal(await store.nextTimerDue(at(0), 0), undefined);
    const ids = [await armed(at(20)), await armed(at(10)), await armed(at(30))];
    assert.deepEqual(await store.nextTimerDue(at(0), 0), at(10));
    // A scheduler that claims 4 s ahead can take it at 6.
    assert.deepEqual(await store.nextTimerDue(at(0), 4_000), at(6));
    // Overdue timers are claimable now: their due time is in the past.
    assert.deepEqual(await store.nextTimerDue(at(50), 0), at(10));
    await clear(ids);
    assert.equal(await store.nextTimerDue(at(50), 0), undefined);
  });

  it('counts a leased timer from the end of its lease, and an expired lease as claimable', async () => {
    const ids = [await armed(at(10)), await armed(at(20)), await armed(at(100))];
    const claimed = await claim('replica-a', at(25), at(40));
    assert.deepEqual(claimed.map((t) => t.workflowId), ids.slice(0, 2));
    // Both due timers are leased until 40; the unleased one is due at 100.
    assert.deepEqual(await store.nextTimerDue(at(25), 0), at(40));
    // The lease has run out: claimable since 40.
    assert.deepEqual(await store.nextTimerDue(at(60), 0), at(40));
    await clear(ids);
  });

  it('claims timers due within the lookahead, not later ones, and counts their leases', async () => {
    const ids = [await armed(at(10)), await armed(at(20)), await armed(at(100))];
    const claimed = await claim('replica-a', at(5), at(60), at(25));
    assert.deepEqual(claimed.map((t) => [t.workflowId, t.dueAt]), [[ids[0], at(10)], [ids[1], at(20)]]);
    // Claiming 20 s ahead: the unleased timer at 80, the leases of the held ones at 60.
    assert.deepEqual(await store.nextTimerDue(at(5), 20_000), at(60));
    // A second claim at the same moment finds them leased.
    assert.deepEqual(await claim('replica-b', at(5), at(60), at(25)), []);
    await clear(ids);
  });

  it("releases one owner's leases: its timers are claimable again at their due time", async () => {
    const ids = [await armed(at(10)), await armed(at(20)), await armed(at(30))];
    assert.equal((await claim('replica-a', at(0), at(90), at(20))).length, 2);
    assert.equal((await claim('replica-b', at(0), at(90), at(30))).length, 1);
    assert.equal(await store.releaseTimers('replica-a'), 2);
    assert.deepEqual(await store.nextTimerDue(at(0), 0), at(10));
    assert.deepEqual((await claim('replica-c', at(40), at(90))).map((t) => t.workflowId), ids.slice(0, 2));
    await clear(ids);
  });

  it('takes a re-armed timer at its new due time: re-arming clears the lease', async () => {
    const id = await armed(at(10));
    assert.equal((await claim('replica-a', at(10), at(70))).length, 1);
    assert.deepEqual(await store.nextTimerDue(at(10), 0), at(70));
    const outcome = await store.commitTransition({
      workflowId: id, expectedVersion: 1, status: 'active', state: 'a', statePaths: ['a'], snapshot: { value: 'a', context: {} },
      output: null, error: null, at: at(11), eventType: 'snooze', event: { type: 'snooze' }, eventId: null, fromState: 'a',
      effects: { ...NO_EFFECTS, timersArmed: [{ timerId: 't', event: { type: 'tick' }, dueAt: at(15) }] },
    });
    assert.equal(outcome.kind, 'committed');
    assert.deepEqual(await store.nextTimerDue(at(11), 0), at(15));
    await clear([id]);
  });

  it('looks for leases only among timers due within the lookahead of `now`', async () => {
    // Leased by a replica whose clock ran 50 s ahead: not due by this replica's clock, so not
    // seen here; the periodic poll claims it once its lease has run out.
    const id = await armed(at(60));
    assert.equal((await claim('replica-ahead', at(60), at(90))).length, 1);
    assert.equal(await store.nextTimerDue(at(10), 0), undefined);
    assert.deepEqual(await store.nextTimerDue(at(60), 0), at(90));
    await clear([id]);
  });
});
