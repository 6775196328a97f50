import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KeyedQueue } from './keyed-queue.js';

/** A promise and its resolver, to hold a task open. */
function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

describe('KeyedQueue', () => {
  it('runs the tasks of one key in call order, one at a time, after a failure too', async () => {
    const queue = new KeyedQueue();
    const log: string[] = [];
    const first = gate();
    const a = queue.run('k', async () => {
      log.push('a start');
      await first.promise;
      log.push('a end');
      throw new Error('a failed');
    });
    const b = queue.run('k', async () => {
      log.push('b');
      return 2;
    });
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(log, ['a start'], 'b waits for a');
    first.open();
    await assert.rejects(a, /a failed/);
    assert.equal(await b, 2);
    assert.deepEqual(log, ['a start', 'a end', 'b']);
  });

  it('runs different keys concurrently', async () => {
    const queue = new KeyedQueue();
    const held = gate();
    const log: string[] = [];
    const a = queue.run('a', async () => {
      await held.promise;
      log.push('a');
    });
    const b = queue.run('b', async () => void log.push('b'));
    await b;
    assert.deepEqual(log, ['b'], 'b ran while a was held');
    held.open();
    await a;
  });

  it('waits in idle() for every task queued, including those queued meanwhile', async () => {
    const queue = new KeyedQueue();
    const held = gate();
    let done = 0;
    void queue.run('a', async () => {
      await held.promise;
      void queue.run('b', async () => void done++);
      done++;
    });
    let idle = false;
    const idled = queue.idle().then(() => (idle = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(idle, false, 'a is still running');
    held.open();
    await idled;
    assert.equal(done, 2, 'idle() returned after a and the task a queued');
    await queue.idle(); // nothing pending: returns at once
  });

  it('sweeps settled keys once the map has doubled, keeping those with tasks queued', async () => {
    const queue = new KeyedQueue();
    const held = gate();
    const open = queue.run('held', () => held.promise);
    for (let i = 0; i < 1023; i++) await queue.run(`k${i}`, async () => i);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(queue.size, 1024, 'settled keys stay until the map reaches the sweep size');
    await queue.run('next', async () => 0);
    assert.equal(queue.size, 2, 'the sweep left the held key and the new one');
    const order: string[] = [];
    const after = queue.run('held', async () => void order.push('after'));
    held.open();
    await open;
    await after;
    assert.deepEqual(order, ['after'], 'the held key still orders its tasks');
  });
});
