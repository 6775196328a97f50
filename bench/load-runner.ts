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

/** What an open-loop run measured (see runOpenLoop). */
export interface OpenLoadResult extends LoadResult {
  /** The rate asked for. */
  offeredPerSec: number;
  /** Most operations outstanding at one moment. */
  mostOutstanding: number;
  /** How late each operation started after its scheduled arrival (this process's timers, its own stalls). */
  startLag: LatencySummary;
}

export interface OpenLoadOptions {
  /** Arrivals per second, on average; the gaps between them are exponential (independent callers). */
  ratePerSec: number;
  /** Arrivals in all (the least number, with `minDurationMs`). */
  total: number;
  /** Keep arriving past `total` until this much time has passed (0: stop at `total`). */
  minDurationMs?: number;
  /**
   * More outstanding than this fails the run: the system does not keep up with the rate, and
   * a queue growing without bound measures nothing but its own length.
   */
  maxOutstanding: number;
  /** One operation; `i` is its number among all. Operations overlap freely. */
  op: (i: number) => Promise<void>;
  /** Uniform in [0, 1): the arrival gaps' source (tests pass a fixed one). */
  random?: () => number;
}

/**
 * Runs operations arriving on their own schedule (open loop), as independent callers do: a
 * Poisson process of `ratePerSec`, each operation started at its arrival whatever is still
 * outstanding, so callers are never in step with the answers as runClosedLoop's are, and a slow
 * answer delays no later arrival. Arrivals are released by timers of ~1 ms grain (0.6 ms late on
 * average here): latency counts from the operation's start, and how late the starts were is
 * reported apart (`startLag`), so the harness's own timer grain is not charged to the system.
 * The first failing operation stops the arrivals and is rethrown, as in runClosedLoop.
 */
export async function runOpenLoop(options: OpenLoadOptions): Promise<OpenLoadResult> {
  const { ratePerSec, total, maxOutstanding, op } = options;
  if (!(ratePerSec > 0)) throw new Error(`an open loop needs a positive rate, got ${ratePerSec}`);
  const random = options.random ?? Math.random;
  const gapMs = () => (-Math.log(1 - random()) * 1000) / ratePerSec;
  const latencies: number[] = [];
  const lags: number[] = [];
  const running = new Set<Promise<void>>();
  let failed: unknown;
  let most = 0;
  let arrivals = 0;
  const started = performance.now();
  const until = started + (options.minDurationMs ?? 0);
  let nextAt = started;
  const start = (i: number, at: number) => {
    const began = performance.now();
    lags[i] = began - at;
    const run = op(i).then(
      () => void (latencies[i] = performance.now() - began),
      (error: unknown) => void (failed ??= error),
    );
    running.add(run);
    void run.finally(() => running.delete(run));
    most = Math.max(most, running.size);
  };
  while (failed === undefined && (arrivals < total || nextAt < until)) {
    const now = performance.now();
    while (nextAt <= now && (arrivals < total || nextAt < until)) {
      if (running.size >= maxOutstanding) {
        failed = new Error(`${running.size} operations outstanding at an offered ${ratePerSec}/s (limit ${maxOutstanding}): the system does not keep up with this rate`);
        break;
      }
      start(arrivals++, nextAt);
      nextAt += gapMs();
    }
    if (failed === undefined) await new Promise((resolve) => setTimeout(resolve, Math.max(0, nextAt - performance.now())));
  }
  // After a failure the outstanding operations are left to the caller's cleanup (closing the
  // client ends them): an overloaded system may not answer them for a long time.
  if (failed === undefined) await Promise.all(running);
  const durationMs = performance.now() - started;
  if (failed !== undefined) {
    const message = failed instanceof Error ? failed.message : String(failed);
    throw new Error(`open loop failed after ${arrivals} of ${total} arrivals: ${message}`, { cause: failed });
  }
  return {
    ops: arrivals,
    durationMs: round(durationMs),
    perSec: round((arrivals / durationMs) * 1000, 0),
    latency: summarize(latencies),
    offeredPerSec: ratePerSec,
    mostOutstanding: most,
    startLag: summarize(lags),
  };
}
