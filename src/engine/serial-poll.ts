/**
 * Runs a poll one at a time. A request while one runs makes exactly one more run right after it:
 * the running poll may have read the store before the work that prompted the request was
 * committed. Requests are ignored while `active()` is false (stopping or stopped).
 */
export class SerialPoll {
  #running: Promise<void> | undefined;
  #again = false;

  constructor(
    private readonly poll: () => Promise<void>,
    private readonly active: () => boolean,
  ) {}

  request(): void {
    if (!this.active()) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.poll().finally(() => {
      this.#running = undefined;
      if (this.#again && this.active()) {
        this.#again = false;
        this.request();
      }
    });
  }

  /** The run under way, if any (to wait for it when stopping). */
  get running(): Promise<void> | undefined {
    return this.#running;
  }
}
