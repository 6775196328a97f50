/**
 * A wake-up signal for a loop that sleeps until there is work: `wake()` before `wait()` is
 * kept, so a wake-up that comes while the loop is busy is not lost. `signal` ends the loop:
 * a wait then rejects with its reason.
 *
 * It listens to `signal` once for the loop's life, not once per wait: node's EventTarget keeps
 * an event type's listeners in a Map entry that the last removal deletes, so a listener added
 * and removed per message churned that Map, and V8 kept what its replaced hash tables held
 * alive through scavenges (see instance-cache.ts).
 */
export class Wakeup {
  #pending = false;
  #waiter: { resolve(): void; reject(reason: unknown): void } | undefined;
  readonly #onAbort = () => {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.reject(this.signal.reason);
  };

  constructor(private readonly signal: AbortSignal) {
    signal.addEventListener('abort', this.#onAbort, { once: true });
  }

  wake(): void {
    const waiter = this.#waiter;
    if (!waiter) {
      this.#pending = true;
      return;
    }
    this.#waiter = undefined;
    waiter.resolve();
  }

  /** Resolves when woken; throws (or rejects) with the signal's reason once it is aborted. */
  wait(): Promise<void> {
    this.signal.throwIfAborted();
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => (this.#waiter = { resolve, reject }));
  }

  /** Stops listening to the signal (the loop is over). */
  close(): void {
    this.signal.removeEventListener('abort', this.#onAbort);
  }
}
