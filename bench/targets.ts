import type { BenchReport } from './bench-runner.js';
import type { Protocol } from './bench-clients.js';
import { round } from './stats.js';

/**
 * Engine transitions/s over the ceiling's at the same concurrency. `paired`: the median of the
 * runs' ratios, each over the ceiling levels run right before and right after that engine level;
 * otherwise the ratio of the engine's and the ceiling part's medians.
 */
export interface EngineRatio {
  protocol: Protocol;
  concurrency: number;
  engine: number;
  ceiling: number;
  ratio: number;
  paired: boolean;
}

/** One target of issue 7 against this report; `met` is undefined when the report cannot tell. */
export interface TargetCheck {
  target: string;
  measured: string;
  met: boolean | undefined;
}

export function engineRatios(report: BenchReport): EngineRatio[] {
  const { engine, ceiling } = report.parts;
  if (engine?.status !== 'ok') return [];
  return engine.median.levels.flatMap((level): EngineRatio[] => {
    const { protocol, concurrency, perSec } = level;
    if (level.ceiling) return [{ protocol, concurrency, engine: perSec, ceiling: level.ceiling.perSec, ratio: round(level.ceiling.ratio), paired: true }];
    const base = ceiling?.status === 'ok' ? ceiling.median.txn.find((c) => c.concurrency === concurrency) : undefined;
    if (!base || base.perSec === 0) return [];
    return [{ protocol, concurrency, engine: perSec, ceiling: base.perSec, ratio: round(perSec / base.perSec), paired: false }];
  });
}

/** The targets from issue 7 (2 vCPU, Postgres, Redis and the load on one machine). */
export function checkTargets(report: BenchReport): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const ratios = engineRatios(report);
  for (const protocol of new Set(ratios.map((r) => r.protocol))) {
    const mine = ratios.filter((r) => r.protocol === protocol);
    const worst = mine.reduce((a, b) => (b.ratio < a.ratio ? b : a));
    const paired = mine.every((r) => r.paired) ? ' (each over the ceiling levels run right before and right after it)' : '';
    const measured = `lowest ${worst.ratio}x (at ${worst.concurrency} in flight); ${mine.map((r) => `${r.concurrency}: ${r.ratio}x`).join(', ')}${paired}`;
    checks.push({ target: `durable transitions/s >= 0.7x ceiling, every concurrency (${protocol})`, measured, met: worst.ratio >= 0.7 });
    checks.push({ target: `durable transitions/s >= 1.0x ceiling with group commit (${protocol})`, measured: `lowest ${worst.ratio}x`, met: worst.ratio >= 1.0 });
  }
  const engine = report.parts.engine;
  if (engine?.status === 'ok') {
    for (const level of engine.median.levels.filter((l) => l.concurrency === 8)) {
      const { p50, p99, count } = level.watch;
      checks.push({
        target: `send -> watcher notified p50 <= 3 ms, p99 <= 20 ms at 8 in flight (${level.protocol})`,
        measured: count ? `p50 ${p50} ms, p99 ${p99} ms` : 'no watched transitions',
        met: count ? p50 <= 3 && p99 <= 20 : undefined,
      });
    }
  }
  const timers = report.parts.timers;
  if (timers?.status === 'ok') {
    const { timers: n, allFiredMs, allCommittedMs } = timers.median;
    // Committed (heard on Redis after the commit) when known; else the stamped time, a lower bound.
    const fired = allCommittedMs ?? allFiredMs;
    const how = allCommittedMs === undefined ? 'stamped (no Redis: commit time unknown)' : 'committed';
    checks.push({
      target: '10,000 simultaneous timers all fired within 1 s',
      measured: `${n} timers: all ${how} ${fired} ms after the first was due${n < 10_000 ? ' (fewer than 10,000: not comparable)' : ''}`,
      met: n >= 10_000 ? fired <= 1_000 : undefined,
    });
  }
  const rpc = report.parts.rpc;
  if (rpc?.status === 'ok') {
    // The no-op is the health check when wrk ran it; otherwise the best GetInfo over Connect JSON.
    const noop = rpc.median.clients.filter((c) => !c.skipped && c.client === 'noop-wrk');
    const json = noop.length ? noop : rpc.median.clients.filter((c) => !c.skipped && ['connect-json', 'connect-json-raw', 'connect-json-wrk'].includes(c.client));
    if (json.length) {
      const best = json.reduce((a, b) => (b.perSec > a.perSec ? b : a));
      checks.push({
        target: 'no-op RPCs >= 10,000/s over Connect JSON',
        measured: `${best.perSec}/s (${best.client}, ${best.concurrency} in flight, server CPU ${best.serverCpuPct}%)`,
        met: best.perSec >= 10_000,
      });
    }
  }
  return checks;
}
