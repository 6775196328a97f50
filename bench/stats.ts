/** Latency percentiles in milliseconds, rounded to 0.01 ms. */
export interface LatencySummary {
  count: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/**
 * Summarises samples (ms). Percentiles are nearest-rank on the sorted samples, so p99 of
 * 100 samples is the 99th value, never an interpolation. No samples: every field is 0.
 */
export function summarize(samples: ArrayLike<number>): LatencySummary {
  const n = samples.length;
  if (n === 0) return { count: 0, mean: 0, p50: 0, p95: 0, p99: 0, max: 0 };
  const sorted = Float64Array.from(samples).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  const rank = (p: number) => sorted[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))]!;
  return { count: n, mean: round(sum / n), p50: round(rank(50)), p95: round(rank(95)), p99: round(rank(99)), max: round(sorted[n - 1]!) };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/**
 * Merges the results of several runs of one part into one of the same shape: every number is
 * the median of the numbers at the same path, everything else is taken from the first run.
 * Arrays are merged element by element (runs have the same levels in the same order); an
 * element missing from some runs is merged from the runs that have it.
 */
export function medianOfRuns<T>(runs: readonly T[]): T {
  if (runs.length === 0) throw new Error('medianOfRuns needs at least one run');
  const first = runs[0] as unknown;
  if (typeof first === 'number') return round(median(runs as readonly number[])) as T;
  if (Array.isArray(first)) {
    const length = Math.max(...runs.map((r) => (r as unknown[]).length));
    return Array.from({ length }, (_, i) => medianOfRuns((runs as unknown as unknown[][]).filter((r) => i < r.length).map((r) => r[i]))) as T;
  }
  if (first !== null && typeof first === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(first)) {
      const values = runs.map((r) => (r as Record<string, unknown>)[key]).filter((v) => v !== undefined);
      out[key] = medianOfRuns(values);
    }
    return out as T;
  }
  return first as T;
}
