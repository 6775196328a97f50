import type { CommitOutcome, TransitionCommit } from '../engine/ports/workflow-store.js';

/** The outcome of one member of a batch: its own result or its own error. */
export type MemberResult = { ok: true; outcome: CommitOutcome } | { ok: false; error: unknown };

export interface CommitBatcherOptions {
  /** Most transitions in one batch (one statement, one round trip). */
  maxBatch: number;
  /** Batches committing at once; what arrives meanwhile waits and goes in the next batch. */
  maxInFlight: number;
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
 * (the later one waits for the next batch, keeping their order); commits arriving in the same
 * tick share a batch even when nothing is in flight.
 */
export class CommitBatcher {
  readonly #queue: Pending[] = [];
  #inFlight = 0;
  #scheduled = false;

  constructor(
    private readonly commitBatch: (commits: TransitionCommit[]) => Promise<MemberResult[]>,
    private readonly options: CommitBatcherOptions,
  ) {}

  submit(commit: TransitionCommit): Promise<CommitOutcome> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ commit, resolve, reject });
      if (this.#scheduled) return;
      this.#scheduled = true;
      queueMicrotask(() => {
        this.#scheduled = false;
        this.#pump();
      });
    });
  }

  #pump(): void {
    while (this.#inFlight < this.options.maxInFlight && this.#queue.length) {
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
