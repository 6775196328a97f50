import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Wakeup } from './wakeup.js';

describe('Wakeup', () => {
  it('keeps a wake-up that came before the wait, once', async () => {
    const wakeup = new Wakeup(new AbortController().signal);
    wakeup.wake();
    wakeup.wake();
    await wakeup.wait();
    let woken = false;
    const waiting = wakeup.wait().then(() => (woken = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(woken, false, 'two wake-ups before a wait count as one');
    wakeup.wake();
    await waiting;
  });

  it('rejects a pending wait, and refuses the next, with the reason of the abort', async () => {
    const controller = new AbortController();
    const wakeup = new Wakeup(controller.signal);
    const waiting = wakeup.wait();
    controller.abort(new Error('stream closed'));
    await assert.rejects(waiting, /stream closed/);
    assert.throws(() => wakeup.wait(), /stream closed/);
  });

  it('leaves the signal after close, and does not add a listener per wait', async () => {
    const controller = new AbortController();
    let added = 0;
    let removed = 0;
    const { signal } = controller;
    const add = signal.addEventListener.bind(signal);
    const remove = signal.removeEventListener.bind(signal);
    signal.addEventListener = (...args: Parameters<typeof add>) => (added++, add(...args));
    signal.removeEventListener = (...args: Parameters<typeof remove>) => (removed++, remove(...args));
    const wakeup = new Wakeup(signal);
    for (let i = 0; i < 5; i++) {
      const waiting = wakeup.wait();
      wakeup.wake();
      await waiting;
    }
    assert.deepEqual([added, removed], [1, 0], 'one listener for the loop');
    wakeup.close();
    assert.equal(removed, 1);
    controller.abort(new Error('late'));
    wakeup.wake(); // nothing waits: kept for a wait that never comes
  });
});
