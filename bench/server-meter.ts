import { parsePrometheusText, sumOf, type Sample } from '../tests/helpers/prometheus-text.js';
import { round } from './stats.js';

/** The server's group commits over a stretch of a run, from its own histograms. */
export interface CommitShare {
  /** Group commits (database round trips of the batcher). */
  batches: number;
  /** Transitions per group commit, on average. */
  meanBatch: number;
  /** One group commit's time, on average, in ms: what the database takes of a transition's latency. */
  meanMs: number;
}

/** What the server's own metrics tell of a stretch of a run. */
export interface ServerShare {
  /** Undefined when the server does not export them (a build from before the duration histogram, compared with bench/ab.ts) or made none. */
  commit?: CommitShare;
  /** Its main thread's garbage-collection pauses, in seconds (every kind: scavenges, mark-compact, incremental steps); undefined when it does not export them. */
  gcSeconds: number | undefined;
  /** Queries and transactions it ran (each takes a pooled connection once); undefined when it does not export the pool's wait histogram. */
  queries: number | undefined;
}

const SIZE = 'orchestrator_commit_batch_size';
const DURATION = 'orchestrator_commit_duration_seconds';
const GC = 'orchestrator_nodejs_gc_duration_seconds_sum';
const CHECKOUTS = 'orchestrator_store_pool_wait_seconds_count';

/** Reads the server's /metrics now; the returned function reads it again and gives what happened in between. */
export async function startServerMeter(baseUrl: string): Promise<() => Promise<ServerShare>> {
  const before = await scrape(baseUrl);
  return async () => {
    const after = await scrape(baseUrl);
    const commit = commitsBetween(before, after);
    return { ...(commit ? { commit } : {}), gcSeconds: gcBetween(before, after), queries: queriesBetween(before, after) };
  };
}

/** The server's garbage-collection pauses between two scrapes, in seconds (every kind summed); undefined without the histogram. */
export function gcBetween(before: Sample[], after: Sample[]): number | undefined {
  return after.some((s) => s.name === GC) ? delta(before, after, GC) : undefined;
}

/** The queries and transactions the server ran between two scrapes (its pool's checkouts); undefined without the histogram. */
export function queriesBetween(before: Sample[], after: Sample[]): number | undefined {
  return after.some((s) => s.name === CHECKOUTS) ? delta(before, after, CHECKOUTS) : undefined;
}

/** The group commits between two scrapes of one server (see startServerMeter). */
export function commitsBetween(before: Sample[], after: Sample[]): CommitShare | undefined {
  const batches = delta(before, after, `${DURATION}_count`);
  const sized = delta(before, after, `${SIZE}_count`);
  if (!(batches > 0) || !(sized > 0)) return undefined;
  return { batches, meanBatch: round(delta(before, after, `${SIZE}_sum`) / sized), meanMs: round((delta(before, after, `${DURATION}_sum`) / batches) * 1000, 3) };
}

/** How much a series (summed over its labels) grew between two scrapes. */
function delta(before: Sample[], after: Sample[], name: string): number {
  return sumOf(after, name) - sumOf(before, name);
}

async function scrape(baseUrl: string): Promise<Sample[]> {
  const res = await fetch(`${baseUrl}/metrics`);
  if (!res.ok) throw new Error(`GET ${baseUrl}/metrics answered ${res.status}`);
  return parsePrometheusText(await res.text()).samples;
}
