import type { CeilingLevel } from './ceiling-bench.js';
import { round } from './stats.js';

/**
 * The ceiling (the four-trip transaction) at an engine level's concurrency, measured by two
 * ceiling levels: one right before the engine level and one right after it. These machines drift
 * by tens of percent within minutes (bench/JOURNAL.md); with a ceiling on each side, a drift that
 * runs evenly through the three levels cancels out of the ratio, and `driftPct` says how far the
 * machine moved while the engine level ran.
 */
export interface PairedCeiling {
  /** The mean of the two levels' transactions/s: the ceiling at the engine level's middle. */
  perSec: number;
  /** Transactions/s of the level right before and of the level right after the engine level. */
  before: number;
  after: number;
  /** `after` over `before`, in % (+ when the machine got faster during the engine level). */
  driftPct: number;
  /** Means of the two levels'. */
  p50: number;
  postgresUsPerTxn: number;
  /** The engine level's transitions/s over `perSec`. */
  ratio: number;
}

/** The engine level's ceiling from the ceiling levels run right before and right after it. */
export function pairCeiling(before: CeilingLevel, after: CeilingLevel, enginePerSec: number): PairedCeiling {
  const perSec = (before.perSec + after.perSec) / 2;
  return {
    perSec: round(perSec, 0),
    before: before.perSec,
    after: after.perSec,
    driftPct: before.perSec > 0 ? round((after.perSec / before.perSec - 1) * 100, 1) : NaN,
    p50: round((before.latency.p50 + after.latency.p50) / 2, 3),
    postgresUsPerTxn: round((before.postgresUsPerTxn + after.postgresUsPerTxn) / 2, 0),
    ratio: perSec > 0 ? enginePerSec / perSec : NaN,
  };
}
