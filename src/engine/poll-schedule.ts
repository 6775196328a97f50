import type { EventBus } from './ports/event-bus.js';

/** While the bus is down, the store is polled at least this often. */
const OUTAGE_POLL_MS = 1_000;

export interface PollScheduleDeps {
  bus: Pick<EventBus, 'status' | 'onStatusChange'>;
  /** The time between polls (every second while the bus is down). */
  pollIntervalMs: number;
}

/**
 * The members of a watch poller (watch-poller.ts, fleet-poller.ts: its watchers) and when it
 * polls for them: while there is at least one, every `pollIntervalMs`, every second while the bus
 * is down, and at once when the bus goes down or comes back, since messages may have been lost
 * then. One poll at a time: a poll asked for while one runs runs right after it. A poll is given
 * the live set, so it can tell a member removed while it ran.
 */
export class PollSchedule<T> {
  readonly #members = new Set<T>();
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #again = false;
  #stopStatus: (() => void) | undefined;

  constructor(
    private readonly deps: PollScheduleDeps,
    private readonly poll: (members: ReadonlySet<T>) => Promise<void>,
  ) {}

  /** Adds a member: polls run until the last is removed. Returns the function that removes it. */
  add(member: T): () => void {
    this.#members.add(member);
    this.#start();
    return () => {
      this.#members.delete(member);
      if (this.#members.size === 0) this.#stop();
    };
  }

  #start(): void {
    this.#stopStatus ??= this.deps.bus.onStatusChange(() => this.#now());
    this.#schedule();
  }

  /** No one watches: no more polls (one under way finishes). */
  #stop(): void {
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
      await this.poll(this.#members);
    } finally {
      this.#running = false;
      if (this.#again && this.#active) {
        this.#again = false;
        void this.#run();
      } else this.#schedule();
    }
  }
}
