import type { BusStatus, EventBus } from '../../engine/ports/event-bus.js';

/** Resolves when the bus status has `ok`, at once if it has it already. */
export function waitForStatus(bus: EventBus, ok: boolean, timeoutMs = 5_000): Promise<BusStatus> {
  if (bus.status().ok === ok) return Promise.resolve(bus.status());
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for bus status ok=${ok}`));
    }, timeoutMs);
    const stop = bus.onStatusChange((status) => {
      if (status.ok !== ok) return;
      clearTimeout(timer);
      stop();
      resolve(status);
    });
  });
}

/** Collects what a subscriber receives, and waits for it with a bound. */
export class Inbox<T> {
  readonly items: T[] = [];
  readonly #waiters = new Set<() => void>();

  /** Pass this as the subscriber. */
  readonly push = (item: T): void => {
    this.items.push(item);
    for (const wake of [...this.#waiters]) wake();
  };

  /** Resolves once `count` items arrived; fails after `timeoutMs`. */
  async waitFor(count: number, timeoutMs = 5_000): Promise<T[]> {
    if (this.items.length >= count) return this.items;
    await new Promise<void>((resolve, reject) => {
      const wake = () => {
        if (this.items.length < count) return;
        clearTimeout(timer);
        this.#waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(wake);
        reject(new Error(`timed out after ${timeoutMs} ms with ${this.items.length} of ${count} items`));
      }, timeoutMs);
      this.#waiters.add(wake);
    });
    return this.items;
  }
}
