import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DueQueue } from './due-queue.js';

describe('DueQueue', () => {
  it('gives items back earliest first, ties in insertion order', () => {
    const queue = new DueQueue<{ dueAt: Date; id: number }>();
    assert.equal(queue.shift(), undefined);
    assert.equal(queue.peekAt(), Infinity);
    // Random due times over a few distinct moments, so ties are common.
    const items = Array.from({ length: 500 }, (_, id) => ({ dueAt: new Date(1_000 + Math.floor(Math.random() * 20)), id }));
    for (const item of items) queue.push(item);
    assert.equal(queue.size, 500);
    const expected = [...items].sort((a, b) => a.dueAt.getTime() - b.dueAt.getTime() || a.id - b.id);
    assert.equal(queue.peekAt(), expected[0]!.dueAt.getTime());
    const out: number[] = [];
    for (let item = queue.shift(); item; item = queue.shift()) out.push(item.id);
    assert.deepEqual(out, expected.map((i) => i.id));
    assert.equal(queue.size, 0);
  });

  it('keeps the order when pushes and shifts interleave', () => {
    const queue = new DueQueue<{ dueAt: Date; id: number }>();
    // The reference: every queued item, and each shift must return its earliest (ties: lowest id).
    const queued: { dueAt: Date; id: number }[] = [];
    let id = 0;
    for (let round = 0; round < 50; round++) {
      for (let k = 0; k < 7; k++) {
        const item = { dueAt: new Date(round * 10 + ((k * 3) % 5) - 20), id: id++ };
        queue.push(item);
        queued.push(item);
      }
      for (let k = 0; k < 5; k++) {
        queued.sort((a, b) => a.dueAt.getTime() - b.dueAt.getTime() || a.id - b.id);
        assert.equal(queue.shift(), queued.shift());
      }
    }
    assert.equal(queue.size, queued.length);
    queue.clear();
    assert.equal(queue.size, 0);
    assert.equal(queue.peekAt(), Infinity);
  });
});
