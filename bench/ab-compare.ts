import type { BenchReport } from './bench-runner.js';
import { table } from './markdown-report.js';
import { median } from './stats.js';

/** One number of a run, and which way is better. */
export interface Metric {
  name: string;
  value: number;
  better: 'higher' | 'lower';
}

/** One metric over the pairs: A's and B's values in pair order, and in how many pairs B did better. */
export interface MetricComparison {
  name: string;
  better: 'higher' | 'lower';
  a: number[];
  b: number[];
  bBetter: number;
  medianA: number;
  medianB: number;
}

/**
 * The numbers an A/B comparison looks at, from a report of one run (`--runs 1`: its medians are
 * the run): rates, p50 latencies and CPU per operation of every level and part that ran. NaN
 * values (Postgres on another machine, a client not installed) are left out.
 */
export function metricsOf(report: BenchReport): Metric[] {
  const out: Metric[] = [];
  const add = (name: string, value: number | undefined, better: Metric['better']) => {
    if (value !== undefined && Number.isFinite(value)) out.push({ name, value, better });
  };
  const { ceiling, rpc, engine, timers } = report.parts;
  if (ceiling?.status === 'ok') for (const l of ceiling.median.txn) add(`ceiling @${l.concurrency} txn/s`, l.perSec, 'higher');
  if (rpc?.status === 'ok') for (const c of rpc.median.clients) add(`rpc ${c.client} calls/s`, c.perSec, 'higher');
  if (engine?.status === 'ok') {
    const levels = [
      ...engine.median.levels.map((l) => ({ ...l, label: `${l.protocol} @${l.concurrency}` })),
      ...engine.median.openLevels.map((l) => ({ ...l, label: `${l.protocol} ${l.offeredPerSec}/s` })),
    ];
    for (const l of levels) {
      add(`${l.label} transitions/s`, l.perSec, 'higher');
      // Over the ceilings measured on both sides of the level, so it follows the machine's drift less than the rate.
      if ('ceiling' in l) add(`${l.label} x ceiling`, l.ceiling?.ratio, 'higher');
      add(`${l.label} reply p50 ms`, l.reply.p50, 'lower');
      add(`${l.label} watch p50 ms`, l.watch.count > 0 ? l.watch.p50 : undefined, 'lower');
      add(`${l.label} server us/t`, l.serverUsPerTransition, 'lower');
      add(`${l.label} server sleeps/t`, l.serverSleepsPerTransition, 'lower');
      add(`${l.label} GC us/t`, l.serverGcUsPerTransition, 'lower');
      add(`${l.label} Postgres us/t`, l.postgresUsPerTransition, 'lower');
      add(`${l.label} commit ms`, l.commit?.meanMs, 'lower');
    }
  }
  if (timers?.status === 'ok') {
    const t = timers.median;
    add('timers all committed ms', t.allCommittedMs, 'lower');
    add('timers all stamped ms', t.allFiredMs, 'lower');
    add('timers server CPU %', t.burstCpu.serverCpuPct, 'lower');
    add('timers server us/timer', t.burstCpu.serverUsPerTimer, 'lower');
    add('timers Postgres us/timer', t.burstCpu.postgresUsPerTimer, 'lower');
  }
  return out;
}

/**
 * Lines the runs up by metric name (`a[i]` and `b[i]` are the metrics of pair i's two runs);
 * a metric missing from any run is left out. A tie counts for neither.
 */
export function comparePairs(a: Metric[][], b: Metric[][]): MetricComparison[] {
  if (a.length !== b.length || a.length === 0) throw new Error('comparePairs needs the same number of runs (at least one) on each side');
  const rows: MetricComparison[] = [];
  for (const { name, better } of a[0]!) {
    const values = (runs: Metric[][]) => runs.map((metrics) => metrics.find((m) => m.name === name)?.value);
    const av = values(a);
    const bv = values(b);
    if ([...av, ...bv].some((v) => v === undefined)) continue;
    const A = av as number[];
    const B = bv as number[];
    const bBetter = A.filter((x, i) => (better === 'higher' ? B[i]! > x : B[i]! < x)).length;
    rows.push({ name, better, a: A, b: B, bBetter, medianA: median(A), medianB: median(B) });
  }
  return rows;
}

/** The comparison as a markdown table, one metric a row. */
export function renderComparison(rows: MetricComparison[], names: { a: string; b: string }): string {
  const list = (values: number[]) => values.map((v) => Math.round(v * 100) / 100).join(' / ');
  return table(
    ['metric', `${names.a} (A), pair by pair`, `${names.b} (B)`, 'B better in', 'median A', 'median B', 'B / A'],
    rows.map((r) => [
      `${r.name} (${r.better} is better)`,
      list(r.a),
      list(r.b),
      `${r.bBetter} of ${r.a.length}`,
      Math.round(r.medianA * 100) / 100,
      Math.round(r.medianB * 100) / 100,
      r.medianA === 0 ? '-' : (r.medianB / r.medianA).toFixed(3),
    ]),
  );
}
