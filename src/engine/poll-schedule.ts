import type { EventBus } from './ports/event-bus.js';

/** While the bus is down, the store is polled at least this often. */
const OUTAGE_POLL_MS = 1_000;

export interface PollScheduleDeps {
  bus: Pick<EventBus, 'status' | 'onStatusChange'>;
  /** The time between polls (every second while the bus is down). */
  pollIntervalMs: number;
}

/**
 * When a watch poller (watch-poller.ts, fleet-poller.ts) polls: every `pollIntervalMs` while
 * it is `active` (someone watches), every second while the bus is down, and at once when the bus
 * goes down or comes back, since messages may have been lost then. One poll at a time: a poll
 * asked for while one runs runs right after it.
 */
export class PollSchedule {
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #again = false;
  #stopStatus: (() => void) | undefined;

  constructor(
    private readonly deps: PollScheduleDeps,
    private readonly poll: () => Promise<void>,
  ) {}

  /** Someone watches: polls on schedule until `stop`. Idempotent. */
  start(): void {
    this.#stopStatus ??= this.deps.bus.onStatusChange(() => this.#now());
    this.#schedule();
  }

  /** No one watches: no more polls (one under way finishes). */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#again = false;
    this.#stopStatus?.();
    this.#stopStatus = undefined;
  }

  get #active(): boolean {
    return this.#stopStatus !== undefined;
  }

  #schedule(): void {
    if (this.#timer || this.#running || !this.#active) return;
    const { pollIntervalMs, bus } = this.deps;
    this.#timer = setTimeout(() => void this.#run(), bus.status().ok ? pollIntervalMs : Math.min(pollIntervalMs, OUTAGE_POLL_MS));
  }

  #now(): void {
    if (this.#running) {
      this.#again = true;
      return;
    }
    clearTimeout(this.#timer);
    void this.#run();
  }

  async #run(): Promise<void> {
    this.#timer = undefined;
    this.#running = true;
    try {
      await this.poll();
    } finally {
      this.#running = false;
      if (this.#again && this.#active) {
        this.#again = false;
        void this.#run();
      } else this.#schedule();
    }
  }
}
