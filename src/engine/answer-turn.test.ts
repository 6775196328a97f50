import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { afterAnswers, noteAnswerTrailers } from './answer-turn.js';

/** Resolves after `n` turns of the event loop (an immediate chain), so no state leaks into the next test. */
function turns(n: number): Promise<void> {
  return new Promise((resolve) => {
    const step = (left: number) => (left === 0 ? resolve() : setImmediate(() => step(left - 1)));
    step(n);
  });
}

describe('answer-turn: when the fan-out runs after the answers', () => {
  it("runs after this callback's promise jobs (the answers) and before the loop's next phase", async () => {
    await turns(4);
    const order: string[] = [];
    setImmediate(() => order.push('check phase'));
    afterAnswers(() => order.push('fan-out'));
    // The answer is written by a promise job settled after the commit queued the fan-out.
    void Promise.resolve().then(() => Promise.resolve()).then(() => order.push('answer'));
    await turns(3);
    assert.deepEqual(order, ['answer', 'fan-out', 'check phase']);
  });

  it('waits two immediates, behind the trailers, when a gRPC answer was written', async () => {
    await turns(4);
    const order: string[] = [];
    afterAnswers(() => order.push('fan-out'));
    void Promise.resolve().then(() => noteAnswerTrailers()); // the gRPC answer, written after the commit
    setImmediate(() => {
      order.push('check phase');
      setImmediate(() => order.push('next check phase'));
    });
    await turns(4);
    assert.deepEqual(order, ['check phase', 'next check phase', 'fan-out']);
  });

  it('keeps the order of fan-outs: a later one waits behind a deferred one', async () => {
    await turns(4);
    const order: string[] = [];
    afterAnswers(() => order.push('a'));
    noteAnswerTrailers();
    // A later transition, committed a turn later, when no gRPC answer waits any more: on its
    // own it would run at once, before 'a'.
    setImmediate(() => setImmediate(() => afterAnswers(() => order.push('b'))));
    await turns(5);
    assert.deepEqual(order, ['a', 'b']);
  });

  it('goes back to running at once after a turn without gRPC answers', async () => {
    await turns(4);
    const order: string[] = [];
    noteAnswerTrailers();
    await turns(4);
    setImmediate(() => order.push('check phase'));
    afterAnswers(() => order.push('fan-out'));
    await turns(2);
    assert.deepEqual(order, ['fan-out', 'check phase']);
  });

  it('holds while gRPC answers keep coming, turn after turn', async () => {
    await turns(4);
    const order: string[] = [];
    noteAnswerTrailers();
    await turns(1);
    noteAnswerTrailers(); // a second burst, while the first one's clearing is under way
    await turns(1);
    afterAnswers(() => order.push('fan-out'));
    setImmediate(() => order.push('check phase'));
    await turns(4);
    assert.deepEqual(order, ['check phase', 'fan-out']);
  });

  it('runs what a fan-out queues itself', async () => {
    await turns(4);
    const order: string[] = [];
    afterAnswers(() => {
      order.push('first');
      afterAnswers(() => order.push('queued by the first'));
    });
    await turns(2);
    assert.deepEqual(order, ['first', 'queued by the first']);
  });
});
