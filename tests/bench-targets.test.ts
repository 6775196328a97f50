import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BenchReport } from '../bench/bench-runner.js';
import type { CeilingLevel, CeilingResult } from '../bench/ceiling-bench.js';
import type { EngineLevel, EngineResult } from '../bench/engine-bench.js';
import { pairCeiling } from '../bench/paired-ceiling.js';
import { checkTargets, engineRatios } from '../bench/targets.js';

const latency = { count: 1, mean: 1, p50: 1, p95: 1, p99: 1, max: 1 };

function engineLevel(concurrency: number, perSec: number, ceiling?: EngineLevel['ceiling']): EngineLevel {
  return {
    protocol: 'grpc', concurrency, transitions: 1000, perSec, reply: latency, watch: latency, watchMissed: 0,
    serverCpuPct: 50, postgresCpuPct: 20, clientCpuPct: 20, serverWaitPct: 1, machineCpuPct: 100,
    serverUsPerTransition: 300, serverSleepsPerTransition: 0.5, serverGcUsPerTransition: 20, postgresUsPerTransition: 100, ...(ceiling ? { ceiling } : {}),
  };
}

function ceilingLevel(concurrency: number, perSec: number): CeilingLevel {
  return { concurrency, connections: concurrency, txns: 1000, perSec, latency, postgresCpuPct: 50, postgresUsPerTxn: 300 };
}

function report(levels: EngineLevel[], ceilingPart?: CeilingLevel[]): BenchReport {
  const engine: EngineResult = { machine: 'bench-counter', workflows: 500, watched: 500, startsPerSec: 400, levels, openLevels: [] };
  const parts: BenchReport['parts'] = { engine: { status: 'ok', runs: [engine], median: engine } };
  if (ceilingPart) {
    const ceiling: CeilingResult = { rows: 500, txn: ceilingPart, oneTrip: ceilingPart };
    parts.ceiling = { status: 'ok', runs: [ceiling], median: ceiling };
  }
  return { startedAt: '', finishedAt: '', options: {} as BenchReport['options'], machine: {} as BenchReport['machine'], parts };
}

describe('engine / ceiling ratios (bench/targets.ts)', () => {
  it('divides by the ceiling level paired with each engine level, not by the ceiling part', () => {
    // The ceiling part (minutes earlier) says 2,000 txn/s; the paired levels, measured around the engine's, 1,000.
    const paired = pairCeiling(ceilingLevel(8, 1000), ceilingLevel(8, 1000), 900);
    const ratios = engineRatios(report([engineLevel(8, 900, paired)], [ceilingLevel(8, 2000)]));
    assert.deepEqual(ratios, [{ protocol: 'grpc', concurrency: 8, engine: 900, ceiling: 1000, ratio: 0.9, paired: true }]);
  });

  it('pairs an engine level with the mean of the ceilings measured right before and right after it', () => {
    // The machine got faster during the engine level: 900 txn/s before it, 1,100 after.
    const before = { ...ceilingLevel(8, 900), latency: { ...latency, p50: 2 }, postgresUsPerTxn: 320 };
    const after = { ...ceilingLevel(8, 1100), latency: { ...latency, p50: 1 }, postgresUsPerTxn: 280 };
    assert.deepEqual(pairCeiling(before, after, 800), { perSec: 1000, before: 900, after: 1100, driftPct: 22.2, p50: 1.5, postgresUsPerTxn: 300, ratio: 0.8 });
    assert.equal(pairCeiling(after, before, 800).driftPct, -18.2, 'slower after: a negative drift');
    const stalled = pairCeiling(ceilingLevel(8, 0), ceilingLevel(8, 0), 800);
    assert.ok(Number.isNaN(stalled.ratio) && Number.isNaN(stalled.driftPct), 'no ceiling measured, no ratio');
  });

  it("falls back to the ceiling part's median at the same concurrency without a paired level", () => {
    const ratios = engineRatios(report([engineLevel(8, 900), engineLevel(16, 900)], [ceilingLevel(8, 2000)]));
    assert.deepEqual(ratios, [{ protocol: 'grpc', concurrency: 8, engine: 900, ceiling: 2000, ratio: 0.45, paired: false }]);
    assert.deepEqual(engineRatios(report([engineLevel(8, 900)])), [], 'no ceiling at all: no ratio');
  });

  it('checks 0.7x and 1.0x against the lowest ratio and says the ceilings were paired', () => {
    const levels = [engineLevel(1, 700, pairCeiling(ceilingLevel(1, 1000), ceilingLevel(1, 1000), 700)), engineLevel(8, 3300, pairCeiling(ceilingLevel(8, 3000), ceilingLevel(8, 3000), 3300))];
    const checks = checkTargets(report(levels)).filter((c) => c.target.startsWith('durable'));
    assert.deepEqual(checks.map((c) => c.met), [true, false]);
    assert.match(checks[0]!.measured, /^lowest 0.7x \(at 1 in flight\); 1: 0.7x, 8: 1.1x \(each over the ceiling levels run right before and right after it\)$/);
  });
});
