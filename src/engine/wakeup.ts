/**
 * A wake-up signal for a loop that otherwise sleeps for a while: `wake()` before `wait()` is
 * kept, so a wake-up that comes while the loop is busy is not lost.
 */
export class Wakeup {
  #pending = false;
  #resolve: (() => void) | undefined;

  wake(): void {
    if (this.#resolve) this.#resolve();
    else this.#pending = true;
  }

  /** Resolves true when woken, false after `ms` (never without); rejects with `signal.reason` when aborted. */
  wait(ms: number | undefined, signal: AbortSignal): Promise<boolean> {
    signal.throwIfAborted();
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve(true);
    }
    return new Promise<boolean>((resolve, reject) => {
      const finish = (woken: boolean) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.#resolve = undefined;
        resolve(woken);
      };
      const onAbort = () => {
        finish(false);
        reject(signal.reason);
      };
      const timer = ms === undefined ? undefined : setTimeout(() => finish(false), ms);
      this.#resolve = () => finish(true);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/** While the bus is down, watchers read the store at least this often. */
export const OUTAGE_POLL_MS = 1_000;

/** How long a watcher sleeps without messages: its poll interval, shorter while the bus is down. */
export function pollDelay(pollIntervalMs: number, busOk: boolean): number {
  return busOk ? pollIntervalMs : Math.min(pollIntervalMs, OUTAGE_POLL_MS);
}
