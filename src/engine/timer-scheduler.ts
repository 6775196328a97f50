import type { EngineLogger, ResolvedEngineOptions } from './engine-options.js';
import { SerialPoll } from './serial-poll.js';
import type { TimerRecord, WorkflowStore } from './ports/workflow-store.js';

/** Node fires a setTimeout over 2^31-1 ms at once; wake-ups are capped far below that anyway. */
const MAX_WAKE_MS = 60_000;
/**
 * Due rows claimed per statement, and the most firings under way at once: a burst of due timers
 * (10 000 at one moment) goes out in a few claims and fires concurrently, so the firings of
 * different workflows share group commits; the cap bounds memory and how long a claimed row
 * waits in this process under its lease.
 */
const CLAIM_BATCH = 500;
const MAX_FIRING = 2_000;

/**
 * Fires due timers. Timers are rows (armed with their transition); this only finds due ones:
 * a poll every `timerPollIntervalMs`, plus a wake-up at the earliest known due time so short
 * timers fire on time. Due rows are leased with SKIP LOCKED, so replicas split the work and a
 * row leased by a replica that died is fired by another after `timerLeaseMs`. Firing itself
 * (`fire`) deletes the row in the transaction that applies the event, so a timer fires once.
 * Timers of different workflows fire concurrently; one workflow's fire one after another in due
 * order. Overdue timers (the service was down) fire at the first poll after `start()`.
 */
export class TimerScheduler {
  #pollTimer: NodeJS.Timeout | undefined;
  #wakeTimer: NodeJS.Timeout | undefined;
  #wakeAt = Infinity;
  #started = false;
  readonly #polls = new SerialPoll(() => this.#poll(), () => this.#started);

  constructor(
    private readonly store: WorkflowStore,
    private readonly options: ResolvedEngineOptions,
    private readonly logger: EngineLogger,
    private readonly fire: (timer: TimerRecord) => Promise<void>,
  ) {}

  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#pollTimer = setInterval(() => this.poll(), this.options.timerPollIntervalMs);
    this.#pollTimer.unref();
    this.poll();
  }

  async stop(): Promise<void> {
    this.#started = false;
    clearInterval(this.#pollTimer);
    clearTimeout(this.#wakeTimer);
    this.#wakeAt = Infinity;
    await this.#polls.running;
  }

  /** A timer was armed for `dueAt`: wake up then if that is before the next planned wake-up. */
  notify(dueAt: Date): void {
    if (!this.#started) return;
    const at = dueAt.getTime();
    if (at >= this.#wakeAt) return;
    clearTimeout(this.#wakeTimer);
    this.#wakeAt = at;
    const delay = Math.min(Math.max(0, at - this.options.clock.now().getTime()), MAX_WAKE_MS);
    this.#wakeTimer = setTimeout(() => {
      this.#wakeAt = Infinity;
      this.poll();
    }, delay);
    this.#wakeTimer.unref();
  }

  /** Fires what is due now (see SerialPoll). */
  poll(): void {
    this.#polls.request();
  }

  async #poll(): Promise<void> {
    const firing = new Set<Promise<void>>();
    // The last firing per workflow: the next one of that workflow waits for it.
    const tails = new Map<string, Promise<void>>();
    // Woken when a firing ends while the loop waits for room (cheaper than Promise.race over thousands).
    let room: (() => void) | undefined;
    try {
      for (;;) {
        while (firing.size >= MAX_FIRING) await new Promise<void>((resolve) => (room = resolve));
        const now = this.options.clock.now();
        const due = await this.store.claimDueTimers(this.options.instanceId, now, new Date(now.getTime() + this.options.timerLeaseMs), CLAIM_BATCH);
        for (const timer of due) {
          const previous = tails.get(timer.workflowId);
          const fired = previous ? previous.then(() => this.#fire(timer)) : this.#fire(timer);
          tails.set(timer.workflowId, fired);
          firing.add(fired);
          void fired.then(() => {
            firing.delete(fired);
            if (tails.get(timer.workflowId) === fired) tails.delete(timer.workflowId);
            room?.();
          });
        }
        if (due.length < CLAIM_BATCH || !this.#started) break;
      }
      await Promise.all(firing);
      // A timer can be claimable already: it fell due while this poll ran (a wake-up timer may
      // also fire a millisecond before the clock reaches its due time). Poll again then, else
      // sleep until the next due time or lease end.
      const next = await this.store.nextTimerDue(this.options.clock.now());
      if (next && next.getTime() <= this.options.clock.now().getTime()) this.poll();
      else if (next) this.notify(next);
    } catch (error) {
      await Promise.all(firing);
      this.logger.warn('polling due timers failed; retrying at the next poll', { error });
    }
  }

  async #fire(timer: TimerRecord): Promise<void> {
    try {
      this.options.observer.timerFired({ lagSeconds: Math.max(0, this.options.clock.now().getTime() - timer.dueAt.getTime()) / 1000 });
      await this.fire(timer);
    } catch (error) {
      // The lease runs out and a later poll (here or elsewhere) fires it again.
      this.logger.error('firing a timer failed', { workflowId: timer.workflowId, timerId: timer.timerId, error });
    }
  }
}
