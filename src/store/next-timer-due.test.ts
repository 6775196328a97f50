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
 * `nextTimerDue(now)`: when the timer scheduler must poll next. The earliest due time of an
 * unleased timer, or the end of a lease (a claimed timer is claimable again when its lease
 * runs out), whichever comes first.
 */
describe(`nextTimerDue (${kind})`, () => {
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

  it('is undefined without timers, and the earliest due time of unleased ones', async () => {
    assert.equal(await store.nextTimerDue(at(0)), undefined);
    const ids = [await armed(at(20)), await armed(at(10)), await armed(at(30))];
    assert.deepEqual(await store.nextTimerDue(at(0)), at(10));
    // Overdue timers are claimable now: their due time is in the past.
    assert.deepEqual(await store.nextTimerDue(at(50)), at(10));
    await clear(ids);
    assert.equal(await store.nextTimerDue(at(50)), undefined);
  });

  it('counts a leased timer from the end of its lease, and an expired lease as claimable', async () => {
    const ids = [await armed(at(10)), await armed(at(20)), await armed(at(100))];
    const claimed = await store.claimDueTimers('replica-a', at(25), at(40), 10);
    assert.deepEqual(claimed.map((t) => t.workflowId), ids.slice(0, 2));
    // Both due timers are leased until 40; the unleased one is due at 100.
    assert.deepEqual(await store.nextTimerDue(at(25)), at(40));
    // The lease has run out: claimable since 40.
    assert.deepEqual(await store.nextTimerDue(at(60)), at(40));
    await clear(ids);
  });

  it('takes a re-armed timer at its new due time: re-arming clears the lease', async () => {
    const id = await armed(at(10));
    assert.equal((await store.claimDueTimers('replica-a', at(10), at(70), 10)).length, 1);
    assert.deepEqual(await store.nextTimerDue(at(10)), at(70));
    const outcome = await store.commitTransition({
      workflowId: id, expectedVersion: 1, status: 'active', state: 'a', statePaths: ['a'], snapshot: { value: 'a', context: {} },
      output: null, error: null, at: at(11), eventType: 'snooze', event: { type: 'snooze' }, eventId: null, fromState: 'a',
      effects: { ...NO_EFFECTS, timersArmed: [{ timerId: 't', event: { type: 'tick' }, dueAt: at(15) }] },
    });
    assert.equal(outcome.kind, 'committed');
    assert.deepEqual(await store.nextTimerDue(at(11)), at(15));
    await clear([id]);
  });

  it('looks for leases only among timers due by `now` (a claim leases only due ones)', async () => {
    // Leased by a replica whose clock ran 50 s ahead: not due by this replica's clock, so not
    // seen here; the periodic poll claims it once its lease has run out.
    const id = await armed(at(60));
    assert.equal((await store.claimDueTimers('replica-ahead', at(60), at(90), 10)).length, 1);
    assert.equal(await store.nextTimerDue(at(10)), undefined);
    assert.deepEqual(await store.nextTimerDue(at(60)), at(90));
    await clear([id]);
  });
});
