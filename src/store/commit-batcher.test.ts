import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CommitOutcome, TransitionCommit } from '../engine/ports/workflow-store.js';
import { CommitBatcher, type MemberResult } from './commit-batcher.js';

/** A commit of `workflowId`; the batcher reads nothing else. */
const commit = (workflowId: string): TransitionCommit => ({ workflowId }) as TransitionCommit;
const committed = (version: number): CommitOutcome => ({ kind: 'committed', version, cancelledTasks: [] });

/** A batcher whose statements are held until `release()`; records each batch's workflow ids. */
function heldBatcher(maxInFlight: number, maxBatch = 64, minOverlappingBatch?: number) {
  const batches: string[][] = [];
  const held: (() => void)[] = [];
  const batcher = new CommitBatcher(
    (commits) => {
      batches.push(commits.map((c) => c.workflowId));
      return new Promise<MemberResult[]>((resolve) => held.push(() => resolve(commits.map(() => ({ ok: true, outcome: committed(2) })))));
    },
    { maxBatch, maxInFlight, minOverlappingBatch },
  );
  const release = () => held.splice(0).forEach((go) => go());
  return { batcher, batches, release };
}

/** Two turns of the event loop: one for immediates queued before ours, one for the batch start. */
const turn = async () => {
  for (let i = 0; i < 2; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};
const afterMicrotasks = async (count: number) => {
  for (let i = 0; i < count; i++) await Promise.resolve();
};

describe('CommitBatcher', () => {
  it('puts commits submitted in one turn of the event loop in one batch, however many awaits each took', async () => {
    const { batcher, batches, release } = heldBatcher(2);
    // Like requests read in one I/O callback: each reaches submit after its own chain of awaits.
    const settled = [0, 3, 10, 25].map(async (awaits, i) => {
      await afterMicrotasks(awaits);
      return batcher.submit(commit(`w${i}`));
    });
    await turn();
    assert.deepEqual(batches, [['w0', 'w1', 'w2', 'w3']]);
    release();
    assert.deepEqual(await Promise.all(settled), [committed(2), committed(2), committed(2), committed(2)]);
  });

  it('starts a full batch at once, without waiting for the turn to end', async () => {
    const { batcher, batches, release } = heldBatcher(2, 3);
    const submitted = ['a', 'b', 'c', 'd'].map((id) => batcher.submit(commit(id)));
    await Promise.resolve();
    assert.deepEqual(batches, [['a', 'b', 'c']], 'the full batch left before the turn ended; the rest waits for its end');
    await turn();
    assert.deepEqual(batches, [['a', 'b', 'c'], ['d']]);
    release();
    await Promise.all(submitted);
  });

  it('holds what arrives while maxInFlight batches commit, and sends it together when one returns', async () => {
    const { batcher, batches, release } = heldBatcher(1);
    const first = batcher.submit(commit('a'));
    await turn();
    const later = [batcher.submit(commit('b')), batcher.submit(commit('c'))];
    await turn();
    await turn();
    assert.deepEqual(batches, [['a']], 'nothing starts while the one slot is taken');
    release();
    await first;
    await turn();
    assert.deepEqual(batches, [['a'], ['b', 'c']]);
    release();
    await Promise.all(later);
  });

  it('never puts two commits of one workflow in a batch, and keeps their order', async () => {
    const { batcher, batches, release } = heldBatcher(1);
    const all = [batcher.submit(commit('a')), batcher.submit(commit('b')), batcher.submit(commit('a'))];
    await turn();
    assert.deepEqual(batches, [['a', 'b']]);
    release();
    await all[0];
    await turn();
    assert.deepEqual(batches, [['a', 'b'], ['a']]);
    release();
    await Promise.all(all);
  });

  it('splits a turn larger than maxBatch, and settles each member with its own result', async () => {
    const batches: number[] = [];
    const batcher = new CommitBatcher(
      async (commits) => {
        batches.push(commits.length);
        return commits.map((c) => (c.workflowId === 'bad' ? { ok: false, error: new Error('refused') } : { ok: true, outcome: committed(3) }));
      },
      { maxBatch: 3, maxInFlight: 2 },
    );
    const results = await Promise.allSettled(['a', 'b', 'bad', 'c', 'd'].map((id) => batcher.submit(commit(id))));
    assert.deepEqual(batches, [3, 2]);
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
  });

  it('rejects every member of a batch whose statement threw', async () => {
    const batcher = new CommitBatcher(async () => Promise.reject(new Error('connection lost')), { maxBatch: 64, maxInFlight: 2 });
    const results = await Promise.allSettled([batcher.submit(commit('a')), batcher.submit(commit('b'))]);
    assert.deepEqual(results.map((r) => (r.status === 'rejected' ? (r.reason as Error).message : 'ok')), ['connection lost', 'connection lost']);
  });

  it('beside a committing batch, starts another only when minOverlappingBatch commits wait; fewer go when it returns', async () => {
    const { batcher, batches, release } = heldBatcher(2, 64, 3);
    const all = [batcher.submit(commit('a'))];
    await turn();
    assert.deepEqual(batches, [['a']], 'alone, with nothing committing: at once');
    all.push(batcher.submit(commit('b')), batcher.submit(commit('c')));
    await turn();
    assert.deepEqual(batches, [['a']], 'two wait beside the committing batch');
    all.push(batcher.submit(commit('d')));
    await turn();
    assert.deepEqual(batches, [['a'], ['b', 'c', 'd']], 'three start the second slot');
    all.push(batcher.submit(commit('e')));
    await turn();
    release();
    await turn();
    assert.deepEqual(batches, [['a'], ['b', 'c', 'd'], ['e']], 'the one left goes once nothing commits');
    release();
    assert.equal((await Promise.all(all)).length, 5);
  });

  it('starts a full batch beside a committing one whatever minOverlappingBatch says', async () => {
    const { batcher, batches, release } = heldBatcher(2, 2, 8);
    const all = ['a', 'b', 'c', 'd'].map((id) => batcher.submit(commit(id)));
    await turn();
    assert.deepEqual(batches, [['a', 'b'], ['c', 'd']]);
    release();
    await Promise.all(all);
  });
});
