/** Keys kept before settled ones are swept out, at least. */
const MIN_SWEEP_AT = 1024;

/**
 * Runs the tasks of one key one after another, in call order; different keys run
 * concurrently. The engine queues the transitions of one instance here, so requests on this
 * replica never race each other for a version (only other replicas can).
 *
 * A key whose tasks all settled keeps its entry (cleared) until a sweep, when the map has grown
 * to twice what the last sweep left: adding and deleting a key per task made V8 rebuild the
 * map's hash table every few hundred tasks, and the replaced tables kept what they held alive
 * through scavenges (see instance-cache.ts).
 */
export class KeyedQueue {
  readonly #tails = new Map<string, Promise<unknown> | undefined>();
  #sweepAt = MIN_SWEEP_AT;

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const result = previous.then(task, task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    if (!this.#tails.has(key) && this.#tails.size >= this.#sweepAt) this.#sweep();
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.set(key, undefined);
    });
    return result;
  }

  /** Resolves when every task queued so far has settled. */
  async idle(): Promise<void> {
    for (;;) {
      const pending = [...this.#tails.values()].filter((tail) => tail !== undefined);
      if (pending.length === 0) return;
      await Promise.all(pending);
    }
  }

  /** Keys with an entry: those with tasks queued, and settled ones not swept yet. */
  get size(): number {
    return this.#tails.size;
  }

  #sweep(): void {
    for (const [key, tail] of this.#tails) if (tail === undefined) this.#tails.delete(key);
    this.#sweepAt = Math.max(MIN_SWEEP_AT, 2 * this.#tails.size);
  }
}
