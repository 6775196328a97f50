/**
 * A wake-up signal for a loop that sleeps until there is work: `wake()` before `wait()` is
 * kept, so a wake-up that comes while the loop is busy is not lost.
 */
export class Wakeup {
  #pending = false;
  #resolve: (() => void) | undefined;

  wake(): void {
    if (this.#resolve) this.#resolve();
    else this.#pending = true;
  }

  /** Resolves when woken; rejects with `signal.reason` when aborted. */
  wait(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const finish = () => {
        signal.removeEventListener('abort', onAbort);
        this.#resolve = undefined;
      };
      const onAbort = () => {
        finish();
        reject(signal.reason);
      };
      this.#resolve = () => {
        finish();
        resolve();
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/** While the bus is down, the watch pollers look at the store at least this often. */
export const OUTAGE_POLL_MS = 1_000;

/** The time between two polls of a watch poller: its interval, shorter while the bus is down. */
export function pollDelay(pollIntervalMs: number, busOk: boolean): number {
  return busOk ? pollIntervalMs : Math.min(pollIntervalMs, OUTAGE_POLL_MS);
}
