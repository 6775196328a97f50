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
