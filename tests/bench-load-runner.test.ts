import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ownedKeys, runClosedLoop } from '../bench/load-runner.js';

describe('bench closed loop (bench/load-runner.ts)', () => {
  it('runs exactly `total` operations, each worker on its own keys, with `concurrency` in flight', async () => {
    let inFlight = 0;
    let most = 0;
    const seen: number[] = [];
    const owned = ownedKeys(12, 3);
    const result = await runClosedLoop({
      total: 30,
      concurrency: 3,
      op: async (w, k, i) => {
        assert.ok(owned[w]!.includes(owned[w]![k % owned[w]!.length]!));
        seen.push(i);
        most = Math.max(most, ++inFlight);
        await new Promise((resolve) => setImmediate(resolve));
        inFlight--;
      },
    });
    assert.equal(result.ops, 30);
    assert.equal(result.latency.count, 30);
    assert.equal(most, 3);
    assert.deepEqual([...seen].sort((a, b) => a - b), Array.from({ length: 30 }, (_, i) => i));
  });

  it('keeps going past `total` until `minDurationMs` has passed, and counts every operation', async () => {
    const result = await runClosedLoop({ total: 5, concurrency: 2, minDurationMs: 60, op: () => new Promise((resolve) => setTimeout(resolve, 2)) });
    assert.ok(result.durationMs >= 60, `ran ${result.durationMs} ms`);
    assert.ok(result.ops > 5, `${result.ops} operations`);
    assert.equal(result.latency.count, result.ops);
    assert.ok(Math.abs(result.perSec - (result.ops / result.durationMs) * 1000) <= 1, `${result.perSec}/s`);
  });

  it('stops every worker at the first failure and says how many had started', async () => {
    await assert.rejects(
      runClosedLoop({ total: 100, concurrency: 4, minDurationMs: 10_000, op: async (_w, _k, i) => { if (i === 7) throw new Error('boom'); await new Promise((resolve) => setImmediate(resolve)); } }),
      /operation failed after \d+ of 100 started: boom/,
    );
  });
});
