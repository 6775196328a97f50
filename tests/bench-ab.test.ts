import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { comparePairs, metricsOf, renderComparison, type Metric } from '../bench/ab-compare.js';
import type { BenchReport } from '../bench/bench-runner.js';

const latency = (p50: number, count = 100) => ({ count, mean: p50, p50, p95: p50, p99: p50, max: p50 });

/** A one-run report with an engine level, an open level and the timers part (what metricsOf reads). */
function report(perSec: number, serverUs: number, committedMs: number): BenchReport {
  const level = { protocol: 'grpc', transitions: 100, perSec, reply: latency(2), watch: latency(2.5), watchMissed: 0, serverCpuPct: 70, postgresCpuPct: NaN, clientCpuPct: 30, serverWaitPct: 5, machineCpuPct: 120, serverUsPerTransition: serverUs, postgresUsPerTransition: NaN };
  const ceiling = { perSec: 2500, before: 2400, after: 2600, driftPct: 8.3, p50: 1, postgresUsPerTxn: 100, ratio: perSec / 2500 };
  const engine = { machine: 'bench-counter', workflows: 10, watched: 10, startsPerSec: 100, levels: [{ ...level, concurrency: 8, ceiling }], openLevels: [{ ...level, offeredPerSec: 400, mostOutstanding: 3, startLag: latency(0.5), watch: latency(0, 0) }] };
  const timers = { machine: 'bench-counter', requested: 100, timers: 100, dueSpreadMs: 5, allFiredMs: committedMs - 5, allCommittedMs: committedMs, lag: latency(10), startsPerSec: 100, burstCpu: { serverCpuPct: 60, postgresCpuPct: 80, clientCpuPct: 5, serverWaitPct: 30, machineCpuPct: 150, serverUsPerTimer: 55, postgresUsPerTimer: 80 } };
  return { parts: { engine: { status: 'ok', runs: [engine], median: engine }, timers: { status: 'ok', runs: [timers], median: timers }, rpc: { status: 'failed', error: 'x' } } } as unknown as BenchReport;
}
const value = (metrics: Metric[], name: string) => metrics.find((m) => m.name === name)?.value;

describe('bench A/B comparison (bench/ab-compare.ts)', () => {
  it('reads rates, p50s and CPU per operation of every level and part that ran, leaving NaN and empty ones out', () => {
    const metrics = metricsOf(report(2000, 300, 950));
    assert.equal(value(metrics, 'grpc @8 transitions/s'), 2000);
    assert.equal(value(metrics, 'grpc @8 watch p50 ms'), 2.5);
    assert.equal(value(metrics, 'grpc @8 server us/t'), 300);
    assert.equal(value(metrics, 'grpc @8 x ceiling'), 0.8);
    assert.equal(metrics.find((m) => m.name === 'grpc @8 x ceiling')?.better, 'higher');
    assert.equal(value(metrics, 'grpc 400/s x ceiling'), undefined, 'an open level has no paired ceiling');
    assert.equal(value(metrics, 'grpc 400/s reply p50 ms'), 2);
    assert.equal(value(metrics, 'timers all committed ms'), 950);
    assert.equal(value(metrics, 'grpc @8 Postgres us/t'), undefined, 'NaN: Postgres elsewhere');
    assert.equal(value(metrics, 'grpc 400/s watch p50 ms'), undefined, 'no watched transition');
    assert.ok(!metrics.some((m) => m.name.startsWith('rpc')), 'a failed part has no numbers');
    assert.equal(metrics.find((m) => m.name === 'grpc @8 transitions/s')?.better, 'higher');
    assert.equal(metrics.find((m) => m.name === 'timers all committed ms')?.better, 'lower');
  });

  it('counts the pairs B did better in, each way round, with medians', () => {
    const a = [report(2000, 300, 1000), report(2100, 310, 900), report(1900, 320, 1100)].map(metricsOf);
    const b = [report(2200, 280, 950), report(2000, 290, 950), report(2300, 300, 1050)].map(metricsOf);
    const rows = comparePairs(a, b);
    const rate = rows.find((r) => r.name === 'grpc @8 transitions/s')!;
    assert.deepEqual([rate.bBetter, rate.medianA, rate.medianB], [2, 2000, 2200]);
    const cpu = rows.find((r) => r.name === 'grpc @8 server us/t')!;
    assert.deepEqual([cpu.bBetter, cpu.medianA, cpu.medianB], [3, 310, 290]);
    const timers = rows.find((r) => r.name === 'timers all committed ms')!;
    assert.equal(timers.bBetter, 2, '950 < 1000 and 1050 < 1100, not 950 > 900');
    const text = renderComparison(rows, { a: 'before', b: 'after' });
    assert.match(text, /\| grpc @8 transitions\/s \(higher is better\) \| 2000 \/ 2100 \/ 1900 \| 2200 \/ 2000 \/ 2300 \| 2 of 3 \| 2000 \| 2200 \| 1\.100 \|/);
  });

  it('leaves out a metric one run lacks, and refuses unequal sides', () => {
    const withTimers = metricsOf(report(2000, 300, 1000));
    const without = withTimers.filter((m) => !m.name.startsWith('timers'));
    assert.ok(!comparePairs([withTimers], [without]).some((r) => r.name.startsWith('timers')), 'no timers row');
    assert.throws(() => comparePairs([withTimers], []), /same number of runs/);
  });
});
