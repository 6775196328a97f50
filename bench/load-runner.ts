import { summarize, round, type LatencySummary } from './stats.js';

/** What a closed-loop run measured: every op timed from call to settle. */
export interface LoadResult {
  ops: number;
  durationMs: number;
  perSec: number;
  latency: LatencySummary;
}

export interface LoadOptions {
  /** Operations in all (the least number, with `minDurationMs`). */
  total: number;
  /** Workers, each with one operation in flight at a time. */
  concurrency: number;
  /**
   * One operation. `worker` is 0..concurrency-1 and `k` counts that worker's operations, so a
   * worker can own its keys (rows, workflows) and never race another worker on them; `i` is
   * the operation's number among all (0..total-1, or beyond with `minDurationMs`).
   */
  op: (worker: number, k: number, i: number) => Promise<void>;
  /**
   * Keep going past `total` until this much time has passed (0: stop at `total`). A level of
   * 1,000 operations lasted 0.3 s at 3,000/s: one GC pause or scheduling hiccup moved its rate
   * by tens of %. The result counts every operation done.
   */
  minDurationMs?: number;
}

/**
 * Runs `total` operations (or more, see `minDurationMs`) with `concurrency` in flight (closed
 * loop: a worker starts its next operation when the previous one settles, so latency is not
 * inflated by a queue in the client). The first failing operation stops every worker and is
 * rethrown, with the operation count so far in the message: a benchmark with errors has no
 * meaningful number.
 */
export async function runClosedLoop(options: LoadOptions): Promise<LoadResult> {
  const { total, concurrency, op } = options;
  const until = performance.now() + (options.minDurationMs ?? 0);
  const latencies: number[] = [];
  let next = 0;
  let failed: unknown;
  const worker = async (w: number) => {
    for (let k = 0; failed === undefined; k++) {
      if (next >= total && performance.now() >= until) return;
      const i = next++;
      const started = performance.now();
      try {
        await op(w, k, i);
      } catch (error) {
        failed ??= error;
        return;
      }
      latencies[i] = performance.now() - started;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, total)) }, (_, w) => worker(w)));
  const durationMs = performance.now() - started;
  if (failed !== undefined) {
    const message = failed instanceof Error ? failed.message : String(failed);
    throw new Error(`operation failed after ${next} of ${total} started: ${message}`, { cause: failed });
  }
  return { ops: next, durationMs: round(durationMs), perSec: round((next / durationMs) * 1000, 0), latency: summarize(latencies) };
}

/**
 * Splits keys 0..count-1 among workers: worker w owns w, w+c, w+2c, ..., so no two workers
 * ever touch the same key. Throws when there are fewer keys than workers.
 */
export function ownedKeys(count: number, concurrency: number): number[][] {
  if (count < concurrency) throw new Error(`${concurrency} workers need at least ${concurrency} keys, got ${count}`);
  const owned: number[][] = Array.from({ length: concurrency }, () => []);
  for (let i = 0; i < count; i++) owned[i % concurrency]!.push(i);
  return owned;
}
