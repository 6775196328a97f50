import type { CommitOutcome, TransitionCommit } from '../engine/ports/workflow-store.js';

/** The outcome of one member of a batch: its own result or its own error. */
export type MemberResult = { ok: true; outcome: CommitOutcome } | { ok: false; error: unknown };

export interface CommitBatcherOptions {
  /** Most transitions in one batch (one statement, one round trip). */
  maxBatch: number;
  /** Batches committing at once; what arrives meanwhile waits and goes in the next batch. */
  maxInFlight: number;
  /**
   * Fewest waiting commits that start a batch while another batch is still committing (capped
   * at `maxBatch`); fewer wait for a batch to return and go with what arrived meanwhile. With no
   * batch committing, any number starts. Default 1.
   */
  minOverlappingBatch?: number;
  /** Called once per batch after it returned, with its size and duration. Must not throw. */
  onBatch?: ((size: number, seconds: number) => void) | undefined;
}

interface Pending {
  commit: TransitionCommit;
  resolve(outcome: CommitOutcome): void;
  reject(error: unknown): void;
}

/**
 * Group commit: transitions of different workflows that are ready while `maxInFlight` batches
 * are committing wait, then go to the database together through `commitBatch`, which must
 * commit each member or not (its own version guard) and report each member's own result.
 * A caller's promise settles only after the batch holding its commit returned, so nothing is
 * acknowledged before its commit is durable. A batch never holds two commits of one workflow
 * (the later one waits for the next batch, keeping their order).
 *
 * A batch starts from `setImmediate`, not a microtask: requests read in one turn of the event
 * loop each reach `submit` only after several awaits (RPC decoding, the workflow's queue, the
 * machine step), so a microtask started a batch with the first of them alone, the next took the
 * second slot alone, and the rest waited a whole round trip. At 8 in flight through the server
 * batches averaged 2 and the per-batch cost (a round trip, its writes and wake-ups) was paid
 * per transition; starting in the check phase lets every request of the turn join (measured in
 * bench/JOURNAL.md, Session 7). An idle process reaches the check phase at once, so a lone commit
 * waits no longer than the callbacks already queued in this turn; a full batch starts at once.
 *
 * Beside a batch that is committing, a few commits (fewer than `minOverlappingBatch`) wait for
 * it instead of paying a round trip of their own: callers on separate connections (HTTP/1.1)
 * arrive spread over several turns, and at 8 in flight they made batches of 2.8, about three
 * statements per 8 transitions (bench/JOURNAL.md, Session 18).
 */
export class CommitBatcher {
  readonly #queue: Pending[] = [];
  readonly #minOverlapping: number;
  #inFlight = 0;
  #scheduled = false;

  constructor(
    private readonly commitBatch: (commits: TransitionCommit[]) => Promise<MemberResult[]>,
    private readonly options: CommitBatcherOptions,
  ) {
    this.#minOverlapping = Math.max(1, Math.min(options.minOverlappingBatch ?? 1, options.maxBatch));
  }

  submit(commit: TransitionCommit): Promise<CommitOutcome> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ commit, resolve, reject });
      // A full batch has nothing to wait for: it starts now, so the database works while this
      // turn goes on (a burst of timer firings submits hundreds in one turn).
      if (this.#queue.length % this.options.maxBatch === 0) queueMicrotask(() => this.#pump(this.options.maxBatch));
      if (this.#scheduled) return;
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        this.#pump();
      });
    });
  }

  /** Starts batches while there is room and at least `least` commits wait (`minOverlappingBatch` beside a batch committing). */
  #pump(least = 1): void {
    while (this.#inFlight < this.options.maxInFlight && this.#queue.length >= (this.#inFlight > 0 ? Math.max(least, this.#minOverlapping) : least)) {
      this.#inFlight++;
      void this.#run(this.#take());
    }
  }

  /** Up to maxBatch queued commits of distinct workflows, oldest first; the rest keep their order. */
  #take(): Pending[] {
    const batch: Pending[] = [];
    const ids = new Set<string>();
    const rest: Pending[] = [];
    for (const pending of this.#queue) {
      if (batch.length < this.options.maxBatch && !ids.has(pending.commit.workflowId)) {
        ids.add(pending.commit.workflowId);
        batch.push(pending);
      } else {
        rest.push(pending);
      }
    }
    this.#queue.splice(0, this.#queue.length, ...rest);
    return batch;
  }

  async #run(batch: Pending[]): Promise<void> {
    const started = performance.now();
    let results: MemberResult[];
    try {
      results = await this.commitBatch(batch.map((p) => p.commit));
    } catch (error) {
      results = batch.map(() => ({ ok: false, error }));
    }
    this.#inFlight--;
    this.options.onBatch?.(batch.length, (performance.now() - started) / 1000);
    batch.forEach((pending, i) => {
      const result = results[i] ?? { ok: false, error: new Error('commit batch returned no result for a member') };
      if (result.ok) pending.resolve(result.outcome);
      else pending.reject(result.error);
    });
    this.#pump();
  }
}
