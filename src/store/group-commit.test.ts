import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openTestDatabase } from '../../tests/helpers/test-database.js';
import type { TestDatabase } from '../../tests/helpers/test-database.js';
import type { CommitEffects, CommitOutcome, TransitionCommit } from '../engine/ports/workflow-store.js';
import type { WorkflowStatus } from '../engine/workflow-types.js';
import { PostgresWorkflowStore } from './postgres-workflow-store.js';

const kind = process.env.DATABASE_URL ? 'postgres' : 'pglite';
const NO_EFFECTS: CommitEffects = { timersCancelled: [], timersArmed: [], tasksCancelled: [], clearAll: false, tasksCreated: [] };
const AT = new Date(Date.UTC(2031, 0, 1));

/**
 * Group commit in the store (commit-batcher.ts + transitionsStatement): commits submitted
 * together go in one statement, and each member's outcome is its own.
 */
describe(`group commit (${kind})`, () => {
  let database: TestDatabase;
  let store: PostgresWorkflowStore;
  const batches: number[] = [];
  let next = 0;

  before(async () => {
    database = await openTestDatabase();
    store = new PostgresWorkflowStore(database.db, { maxConcurrentCommits: 1, onCommitBatch: (size) => batches.push(size) });
  });
  after(() => database.close());

  /** `count` new workflows at version 1, with a timer `t` armed at version 1 on each. */
  const workflows = async (count: number): Promise<string[]> => {
    const ids = Array.from({ length: count }, () => `gc-${next++}`);
    for (const id of ids) {
      const inserted = await store.insertWorkflow({
        id, machineId: 'm', machineVersion: 1, machineHash: 'h', status: 'active', state: 'a', statePaths: ['a'],
        snapshot: { value: 'a', context: { n: 0 } }, input: {}, inputHash: 'x', startRequestId: null, output: null, error: null, at: AT,
        effects: { ...NO_EFFECTS, timersArmed: [{ timerId: 't', event: { type: 'tick' }, dueAt: AT }] },
      });
      assert.equal(inserted.inserted, true);
    }
    return ids;
  };

  const commit = (workflowId: string, over: Partial<TransitionCommit> = {}): TransitionCommit => ({
    workflowId, expectedVersion: 1, status: 'active', state: 'b', statePaths: ['b'], snapshot: { value: 'b', context: { n: 1 } },
    output: null, error: null, at: AT, eventType: 'go', event: { type: 'go' }, eventId: null, fromState: 'a', effects: NO_EFFECTS, ...over,
  });

  /** Submits all in one tick (so they share a batch) and returns each one's settled result. */
  const together = async (commits: TransitionCommit[]) => {
    batches.length = 0;
    const results = await Promise.allSettled(commits.map((c) => store.commitTransition(c)));
    return results.map((r) => (r.status === 'fulfilled' ? r.value : r.reason as Error));
  };

  const committed = (version: number) => ({ kind: 'committed', version, cancelledTasks: [] }) satisfies CommitOutcome;

  it('says how many transitions it commits at once (statements in flight x members per statement)', () => {
    assert.equal(store.commitCapacity, 64, 'one statement of 64');
    assert.equal(new PostgresWorkflowStore(database.db).commitCapacity, 128, 'by default two of 64');
    assert.equal(new PostgresWorkflowStore(database.db, { maxCommitBatch: 10, maxConcurrentCommits: 3 }).commitCapacity, 30);
  });

  it('commits transitions of many workflows in one statement, each at its own version', async () => {
    const ids = await workflows(20);
    const outcomes = await together(ids.map((id) => commit(id)));
    assert.deepEqual(outcomes, ids.map(() => committed(2)));
    assert.deepEqual(batches, [20]);
    for (const id of ids) {
      const record = await store.loadWorkflow(id);
      assert.equal(record?.version, 2);
      assert.equal(record?.state, 'b');
      assert.deepEqual((await store.listHistory(id, 1, 10)).map((h) => [h.version, h.eventType]), [[1, 'xstate.init'], [2, 'go']]);
    }
  });

  it('reports a version conflict for its member only: the others commit', async () => {
    const ids = await workflows(5);
    const outcomes = await together(ids.map((id, i) => commit(id, i === 2 ? { expectedVersion: 7 } : {})));
    assert.deepEqual(outcomes, ids.map((_, i) => (i === 2 ? { kind: 'conflict' } : committed(2))));
    assert.deepEqual(batches, [5]);
    assert.equal((await store.loadWorkflow(ids[2]!))?.version, 1);
    assert.deepEqual(await store.listHistory(ids[2]!, 2, 10), []);
  });

  it('fails only the member whose write the database refuses, and reports a repeated event id as its duplicate', async () => {
    const ids = await workflows(6);
    assert.deepEqual(await store.commitTransition(commit(ids[0]!, { eventId: 'e-1' })), committed(2));
    const outcomes = await together([
      commit(ids[0]!, { expectedVersion: 2, eventId: 'e-1' }), // already applied
      commit(ids[1]!),
      commit(ids[2]!, { status: 'bogus' as WorkflowStatus }), // violates the status check constraint
      ...ids.slice(3).map((id) => commit(id)),
    ]);
    // The batch statement failed as a whole, then each member went alone.
    assert.equal(batches[0], 6);
    assert.deepEqual(outcomes[0], { kind: 'duplicate' });
    assert.match(String((outcomes[2] as Error).message), /check constraint/);
    for (const i of [1, 3, 4, 5]) assert.deepEqual(outcomes[i], committed(2), `member ${i}`);
    assert.equal((await store.loadWorkflow(ids[2]!))?.version, 1);
    assert.equal((await store.loadWorkflow(ids[0]!))?.version, 2);
  });

  it('fires timers in a batch: a fired timer is deleted with its transition, and one already gone writes nothing', async () => {
    const ids = await workflows(4);
    const fire = (id: string, armedVersion = 1) => commit(id, { eventType: 'tick', event: { type: 'tick' }, eventId: `timer:t@${armedVersion}`, consume: { kind: 'timer', timerId: 't', armedVersion } });
    const outcomes = await together([fire(ids[0]!), fire(ids[1]!, 9), fire(ids[2]!), fire(ids[3]!)]);
    assert.deepEqual(batches, [4]);
    assert.deepEqual(outcomes, [committed(2), { kind: 'conflict' }, committed(2), committed(2)]);
    for (const id of [ids[0]!, ids[2]!, ids[3]!]) assert.deepEqual((await store.loadWorkflow(id))?.timers, []);
    const kept = await store.loadWorkflow(ids[1]!);
    assert.equal(kept?.version, 1);
    assert.deepEqual(kept?.timers.map((t) => [t.timerId, t.armedVersion]), [['t', 1]]);
  });

  it('never puts two commits of one workflow in one batch: the later waits for the next', async () => {
    const [id] = await workflows(1);
    const outcomes = await together([commit(id!), commit(id!, { expectedVersion: 2 })]);
    assert.deepEqual(outcomes, [committed(2), committed(3)]);
    assert.deepEqual(batches, [1, 1]);
  });
});
