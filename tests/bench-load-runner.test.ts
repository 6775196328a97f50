import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ownedKeys, runClosedLoop, runOpenLoop } from '../bench/load-runner.js';

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
        assert.ok(owned[w]!.includes(owned[w]![k % owned[w]!.length]!), 'each call goes to a workflow its worker owns');
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

describe('bench open loop (bench/load-runner.ts)', () => {
  it('starts each arrival at its own scheduled moment, whatever is outstanding', async () => {
    // A fixed random source: every gap is -ln(0.5) / rate = 0.69 ms at 1,000/s.
    const gap = Math.log(2);
    const arrivals: number[] = [];
    let outstanding = 0;
    let most = 0;
    const release: (() => void)[] = [];
    const before = performance.now();
    const result = await runOpenLoop({
      ratePerSec: 1000,
      total: 20,
      maxOutstanding: 100,
      random: () => 0.5,
      op: async (i) => {
        arrivals[i] = performance.now();
        most = Math.max(most, ++outstanding);
        // Nothing answers until the last has arrived: a closed loop could never have 20 out.
        if (i < 19) await new Promise<void>((resolve) => release.push(resolve));
        else for (const r of release.splice(0)) r();
        outstanding--;
      },
    });
    assert.equal(result.ops, 20);
    assert.equal(result.latency.count, 20);
    assert.equal(most, 20);
    assert.equal(result.mostOutstanding, 20);
    assert.equal(result.offeredPerSec, 1000);
    // In order, and the last no sooner than 19 gaps after the run began: the timers' grain can
    // start an arrival late (several in one turn), never before its moment. Bounds only, no
    // timing: a slow machine makes the arrivals later, which these allow.
    for (let i = 1; i < 20; i++) assert.ok(arrivals[i]! >= arrivals[i - 1]!, `arrival ${i} before ${i - 1}`);
    assert.ok(arrivals[19]! - before >= 19 * gap - 1e-6, `the last arrived ${arrivals[19]! - before} ms after the start`);
    assert.equal(result.startLag.count, 20);
    assert.ok(result.startLag.p50 >= 0, 'the start lag is not negative');
    // The first call was answered only after the 20th started (latencies are rounded to 0.01 ms).
    assert.ok(result.latency.max >= arrivals[19]! - arrivals[0]! - 0.005, `max ${result.latency.max}`);
  });

  it('fails when more than maxOutstanding would be out: the system does not keep up', async () => {
    await assert.rejects(
      runOpenLoop({ ratePerSec: 10_000, total: 50, maxOutstanding: 5, op: () => new Promise<void>(() => {}) }),
      /open loop failed after 5 of 50 arrivals: 5 operations outstanding at an offered 10000\/s \(limit 5\)/,
    );
  });

  it('stops arriving at the first failure and rethrows it', async () => {
    await assert.rejects(
      runOpenLoop({ ratePerSec: 5000, total: 1000, maxOutstanding: 1000, op: async (i) => { if (i === 3) throw new Error('boom'); } }),
      /open loop failed after \d+ of 1000 arrivals: boom/,
    );
  });

  it('refuses a rate that is not positive', async () => {
    await assert.rejects(runOpenLoop({ ratePerSec: 0, total: 1, maxOutstanding: 1, op: async () => {} }), /positive rate/);
  });
});
