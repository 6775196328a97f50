import type { BusStatus, EventBus, TransitionMessage, Unsubscribe, WorkMessage } from '../engine/ports/event-bus.js';
import { silentBusLogger, type BusLogger } from './bus-logger.js';
import { deliverSafely } from './deliver-safely.js';
import { EventBusClosedError } from './event-bus-errors.js';
import { decodeWork, encodeWork, roundTripTransition } from './transition-codec.js';

export interface InMemoryEventBusOptions {
  /** Where failing subscribers are reported; silent by default. */
  logger?: BusLogger;
}

/** One subscribe() call; `active` is cleared by its unsubscribe. */
interface Subscription<T = TransitionMessage> {
  readonly onMessage: (message: T) => void;
  active: boolean;
}

const OK: BusStatus = Object.freeze({ ok: true, message: '' });

/**
 * The in-process bus, for a single replica (REDIS_URL unset) and for tests.
 *
 * Behaves like the Redis bus where it matters to callers:
 * - delivery is asynchronous (a microtask per subscriber), so `publish()` never
 *   runs subscriber code on the publisher's stack, and each subscriber sees
 *   messages in publish order;
 * - each message goes through the same JSON encoding as on the wire, so a
 *   message that does not survive JSON fails here too (publish() throws a
 *   TypeError, as the Redis bus does), and subscribers get a
 *   copy the publisher cannot change afterwards (all subscribers of one
 *   publish share that copy: treat it as read-only);
 * - a subscriber that throws is logged and does not affect the others;
 * - nothing is delivered to a subscription after its unsubscribe resolved,
 *   nor after `close()`.
 * `status()` is always ok: there is no connection to lose.
 */
export class InMemoryEventBus implements EventBus {
  readonly kind = 'memory' as const;
  readonly #logger: BusLogger;
  readonly #byWorkflow = new Map<string, Set<Subscription>>();
  readonly #firehose = new Set<Subscription>();
  readonly #work = new Set<Subscription<WorkMessage>>();
  #closed = false;
  #dropped = 0;

  constructor(options: InMemoryEventBusOptions = {}) {
    this.#logger = options.logger ?? silentBusLogger;
  }

  async publish(message: TransitionMessage): Promise<void> {
    if (this.#closed) {
      this.#dropped++;
      return;
    }
    const copy = roundTripTransition(message);
    // Snapshot the recipients now: a subscription made after publish() does not get this message.
    this.#deliver([...(this.#byWorkflow.get(message.workflowId) ?? []), ...this.#firehose], copy);
  }

  async publishWork(message: WorkMessage): Promise<void> {
    if (this.#closed) {
      this.#dropped++;
      return;
    }
    this.#deliver([...this.#work], decodeWork(encodeWork(message))!);
  }

  async subscribeWork(onMessage: (message: WorkMessage) => void): Promise<Unsubscribe> {
    return this.#removal(this.#work, this.#add(this.#work, onMessage));
  }

  #deliver<T>(recipients: Subscription<T>[], message: T): void {
    for (const subscription of recipients) {
      queueMicrotask(() => {
        if (subscription.active) deliverSafely(subscription.onMessage, message, this.#logger);
      });
    }
  }

  #removal<T>(set: Set<Subscription<T>>, subscription: Subscription<T>): Unsubscribe {
    return async () => {
      subscription.active = false;
      set.delete(subscription);
    };
  }

  async subscribe(workflowId: string, onMessage: (message: TransitionMessage) => void): Promise<Unsubscribe> {
    if (this.#closed) throw new EventBusClosedError();
    let set = this.#byWorkflow.get(workflowId);
    if (!set) {
      set = new Set();
      this.#byWorkflow.set(workflowId, set);
    }
    const subscription = this.#add(set, onMessage);
    return async () => {
      subscription.active = false;
      set.delete(subscription);
      if (set.size === 0 && this.#byWorkflow.get(workflowId) === set) this.#byWorkflow.delete(workflowId);
    };
  }

  async subscribeAll(onMessage: (message: TransitionMessage) => void): Promise<Unsubscribe> {
    return this.#removal(this.#firehose, this.#add(this.#firehose, onMessage));
  }

  status(): BusStatus {
    return OK;
  }

  onStatusChange(_listener: (status: BusStatus) => void): () => void {
    return () => {};
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const set of [...this.#byWorkflow.values(), this.#firehose, this.#work] as Set<{ active: boolean }>[]) {
      for (const subscription of set) subscription.active = false;
      set.clear();
    }
    this.#byWorkflow.clear();
  }

  /** Publishes after close() (there is no other way to lose one here). */
  get droppedPublishes(): number {
    return this.#dropped;
  }

  /** Number of workflows with at least one subscriber (for tests and metrics). */
  get subscribedWorkflows(): number {
    return this.#byWorkflow.size;
  }

  #add<T>(set: Set<Subscription<T>>, onMessage: (message: T) => void): Subscription<T> {
    if (this.#closed) throw new EventBusClosedError();
    const subscription: Subscription<T> = { onMessage, active: true };
    set.add(subscription);
    return subscription;
  }
}

