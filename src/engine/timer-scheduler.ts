import type { EngineLogger, ResolvedEngineOptions } from './engine-options.js';
import { DueQueue } from './due-queue.js';
import { SerialPoll } from './serial-poll.js';
import type { TimerRecord, WorkflowStore } from './ports/workflow-store.js';

/** Node fires a setTimeout over 2^31-1 ms at once; wake-ups are capped far below that anyway. */
const MAX_WAKE_MS = 60_000;
/**
 * Due rows claimed per statement: a burst of due timers (10 000 at one moment) is claimed in a
 * few statements.
 */
const CLAIM_BATCH = 500;
/**
 * The most firings under way at once, for a store that does not say what it commits at once
 * (`WorkflowStore.commitCapacity`; the Postgres store's is 2 statements of 64). Firings of
 * different workflows share group commits; firing more than the store commits at once only
 * builds transitions ahead of their commits. With a limit of 2,000 a burst held ~1,800
 * computed firings for ~300 ms each, long enough for the collector to move their objects to the
 * old generation, and the server spent about a quarter more CPU per firing (median 103 against
 * 81 us; bench/JOURNAL.md, Session 17).
 */
const DEFAULT_MAX_FIRING = 128;
/** Claimed timers in memory at most (held until due or until there is room to fire): ~10 MB. */
const MAX_HELD = 20_000;
/** How long one slice of preparing held timers may keep the event loop before it yields to I/O. */
const PREPARE_SLICE_MS = 4;

/**
 * Fires due timers. Timers are rows (armed with their transition); this only finds due ones:
 * a poll every `timerPollIntervalMs`, plus a wake-up `timerLookaheadMs` before the earliest known
 * due time. A poll leases the rows due within the lookahead with SKIP LOCKED, so replicas split
 * the work and a row leased by a replica that died is fired by another once the lease ends; the
 * claimed timers wait here and fire at their due time, so a burst due at one moment starts
 * without a claim's round trips. Firing itself (`fire`) deletes the row in the transaction that
 * applies the event, and only while the row is armed at the version the claim read, so a timer
 * fires once, and not at all if it was cancelled or re-armed while held. Timers of different
 * workflows fire concurrently, at most the store's commit capacity at once; one workflow's fire one
 * after another in due order, the later ones waiting outside that limit. Overdue
 * timers (the service was down) fire at the first poll after `start()`. `stop()` hands the held
 * timers back.
 *
 * While a timer is held, `prepare` computes ahead what its firing can (the engine computes the
 * machine's step), in short slices between I/O, so a burst due at one moment spends its window
 * on commits.
 */
export class TimerScheduler {
  #pollTimer: NodeJS.Timeout | undefined;
  #wakeTimer: NodeJS.Timeout | undefined;
  #wakeAt = Infinity;
  #started = false;
  readonly #polls = new SerialPoll(() => this.#poll(), () => this.#started);
  /** Claimed and not started yet: due later, or waiting for room among the firings. */
  readonly #held = new DueQueue<TimerRecord>();
  #releaseTimer: NodeJS.Timeout | undefined;
  #releaseAt = Infinity;
  /** Firings under way, at most one per workflow and `#maxFiring` in all. */
  readonly #firing = new Set<Promise<void>>();
  readonly #maxFiring: number;
  /**
   * Workflows with a firing under way, each with its due timers that wait for it (in due order).
   * A waiting timer takes no firing slot: one workflow with many timers due at once must not
   * hold every slot while its firings run one after another.
   */
  readonly #chains = new Map<string, TimerRecord[]>();
  /** Timers in `#chains`' queues. */
  #chained = 0;
  /** A poll stopped claiming with MAX_HELD timers in hand: poll again once some have fired. */
  #pollWhenRoom = false;
  /** Held timers not prepared yet, in claim order, from `#prepareHead` on. */
  #toPrepare: TimerRecord[] = [];
  #prepareHead = 0;
  #prepareSlice: NodeJS.Immediate | undefined;

  constructor(
    private readonly store: WorkflowStore,
    private readonly options: ResolvedEngineOptions,
    private readonly logger: EngineLogger,
    private readonly fire: (timer: TimerRecord) => Promise<void>,
    private readonly prepare: (timer: TimerRecord) => void = () => {},
  ) {
    this.#maxFiring = Math.max(1, store.commitCapacity ?? DEFAULT_MAX_FIRING);
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#pollTimer = setInterval(() => this.poll(), this.options.timerPollIntervalMs);
    this.#pollTimer.unref();
    this.poll();
  }

  /** Stops polling, lets the firings under way finish, and releases the leases of timers held for later. */
  async stop(): Promise<void> {
    this.#started = false;
    clearInterval(this.#pollTimer);
    clearTimeout(this.#wakeTimer);
    clearTimeout(this.#releaseTimer);
    clearImmediate(this.#prepareSlice);
    this.#prepareSlice = undefined;
    this.#toPrepare = [];
    this.#prepareHead = 0;
    this.#wakeAt = Infinity;
    this.#releaseAt = Infinity;
    await this.#polls.running;
    // Timers not started yet (held, or waiting behind their workflow's firing) are handed back.
    const held = this.#held.size + this.#chained;
    this.#held.clear();
    for (const queue of this.#chains.values()) queue.length = 0;
    this.#chained = 0;
    await Promise.all(this.#firing);
    if (held === 0) return;
    try {
      await this.store.releaseTimers(this.options.instanceId);
    } catch (error) {
      this.logger.warn('releasing claimed timers failed; they fire when their lease ends', { timers: held, error });
    }
  }

  /** A timer was armed for `dueAt`: claim it `timerLookaheadMs` before, if that is before the next planned wake-up. */
  notify(dueAt: Date): void {
    this.#wakeUpAt(dueAt.getTime() - this.options.timerLookaheadMs);
  }

  /** Claims what is due now or within the lookahead (see SerialPoll). */
  poll(): void {
    this.#polls.request();
  }

  #wakeUpAt(at: number): void {
    if (!this.#started || at >= this.#wakeAt) return;
    clearTimeout(this.#wakeTimer);
    this.#wakeAt = at;
    const delay = Math.min(Math.max(0, at - this.options.clock.now().getTime()), MAX_WAKE_MS);
    this.#wakeTimer = setTimeout(() => {
      this.#wakeAt = Infinity;
      this.poll();
    }, delay);
    this.#wakeTimer.unref();
  }

  async #poll(): Promise<void> {
    const { clock, instanceId, timerLookaheadMs, timerLeaseMs } = this.options;
    try {
      // A clock that is not the system's (tests) may have passed held due times without a timer.
      this.#release();
      for (;;) {
        const room = MAX_HELD - this.#inHand();
        if (room <= 0) {
          this.#pollWhenRoom = true;
          return;
        }
        const now = clock.now().getTime();
        const limit = Math.min(CLAIM_BATCH, room);
        const claimed = await this.store.claimDueTimers(instanceId, {
          now: new Date(now),
          dueBy: new Date(now + timerLookaheadMs),
          leaseUntil: new Date(now + timerLookaheadMs + timerLeaseMs),
          limit,
        });
        for (const timer of claimed) this.#held.push(timer);
        if (!this.#started) return; // stopping: stop() hands them back
        this.#release();
        this.#toPrepare.push(...claimed);
        this.#prepareSoon();
        if (claimed.length < limit) break;
      }
      // A timer can be claimable already (it fell due while this poll ran): then the wake-up is
      // immediate. Else sleep until the next claimable moment.
      const next = await this.store.nextTimerDue(clock.now(), timerLookaheadMs);
      if (next) this.#wakeUpAt(next.getTime());
    } catch (error) {
      this.logger.warn('polling due timers failed; retrying at the next poll', { error });
    }
  }

  /** Starts the held timers that are due, as many as the firing limit allows, and sets a timer for the next one. */
  #release(): void {
    if (!this.#started) return;
    const now = this.options.clock.now().getTime();
    while (this.#firing.size < this.#maxFiring && this.#held.peekAt() <= now) {
      const timer = this.#held.shift()!;
      const queue = this.#chains.get(timer.workflowId);
      if (queue) {
        queue.push(timer);
        this.#chained++;
      } else {
        this.#chains.set(timer.workflowId, []);
        this.#start(timer);
      }
    }
    // With no room, the end of a firing releases the next; a timer already set for as early stays.
    const next = this.#held.peekAt();
    if (this.#firing.size >= this.#maxFiring || next === Infinity || next >= this.#releaseAt) return;
    clearTimeout(this.#releaseTimer);
    this.#releaseAt = next;
    this.#releaseTimer = setTimeout(() => {
      this.#releaseAt = Infinity;
      this.#release();
    }, Math.min(Math.max(0, next - now), MAX_WAKE_MS));
    this.#releaseTimer.unref();
  }

  /** Prepares held timers that are not due yet, a slice at a time, until none is left. */
  #prepareSoon(): void {
    if (this.#prepareSlice || !this.#started) return;
    this.#prepareSlice = setImmediate(() => {
      this.#prepareSlice = undefined;
      const now = this.options.clock.now().getTime();
      const until = performance.now() + PREPARE_SLICE_MS;
      const queue = this.#toPrepare;
      while (this.#prepareHead < queue.length && performance.now() < until) {
        const timer = queue[this.#prepareHead++]!;
        // One due already fires (or is about to): preparing it would only delay the others.
        if (timer.dueAt.getTime() > now) this.prepare(timer);
      }
      if (this.#prepareHead < queue.length) return this.#prepareSoon();
      this.#toPrepare = [];
      this.#prepareHead = 0;
    });
  }

  /** Claimed timers in memory: held, firing, or waiting behind their workflow's firing. */
  #inHand(): number {
    return this.#held.size + this.#firing.size + this.#chained;
  }

  /** Fires `timer` (its workflow has no other firing under way), then the workflow's next waiting one, if any. */
  #start(timer: TimerRecord): void {
    const fired = this.#fire(timer);
    this.#firing.add(fired);
    void fired.then(() => {
      this.#firing.delete(fired);
      const queue = this.#chains.get(timer.workflowId);
      const next = queue?.shift();
      if (next && this.#started) {
        this.#chained--;
        this.#start(next); // the slot passes to the workflow's next timer
        return;
      }
      this.#chains.delete(timer.workflowId);
      this.#release();
      if (this.#pollWhenRoom && this.#inHand() <= MAX_HELD - CLAIM_BATCH) {
        this.#pollWhenRoom = false;
        this.poll();
      }
    });
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
