import type { WorkflowInstance } from './workflow-instance.js';

interface Slot {
  instance: WorkflowInstance;
  /** Read or replaced since the eviction hand last passed it. */
  used: boolean;
}

/**
 * Recently used instances by workflow id, at most `capacity`. An entry is a hint: callers check
 * its version against the store through the commit's version guard, and drop it on a conflict.
 *
 * Eviction is second chance (CLOCK), not strict LRU: a hit only marks its slot, and a new
 * transition's instance replaces the one in its slot. Keeping a Map in LRU order (delete and
 * set again on every hit) made every instance outlive V8's scavenges: a Map that deletes and
 * inserts keeps rebuilding its hash table, and the replaced tables, once promoted, held the
 * next ones and the instances in them alive until a full collection. Measured in process at 8
 * in flight: ~2 MB promoted per scavenge, whatever the number of workflows, against 0.05-0.3
 * MB with slots (bench/JOURNAL.md, Session 29). Entries move only when the cache is full.
 */
export class InstanceCache {
  readonly #slots = new Map<string, Slot>();
  constructor(private readonly capacity: number) {}

  get(id: string): WorkflowInstance | undefined {
    const slot = this.#slots.get(id);
    if (!slot) return undefined;
    slot.used = true;
    return slot.instance;
  }

  set(id: string, instance: WorkflowInstance): void {
    const slot = this.#slots.get(id);
    if (slot) {
      slot.instance = instance;
      slot.used = true;
      return;
    }
    if (this.capacity < 1) return;
    // Room first, so the hand never takes the entry being added.
    while (this.#slots.size >= this.capacity) this.#evictOne();
    // Marked: a new instance is as recent as a hit, so finished workflows that were only used
    // before it go first (a burst of new timers must not push out the first of its own).
    this.#slots.set(id, { instance, used: true });
  }

  delete(id: string): void {
    this.#slots.delete(id);
  }

  get size(): number {
    return this.#slots.size;
  }

  /** From the oldest: a used slot loses its mark and goes to the back; the first unused one leaves. */
  #evictOne(): void {
    for (const [id, slot] of this.#slots) {
      this.#slots.delete(id);
      if (!slot.used) return;
      slot.used = false;
      this.#slots.set(id, slot);
    }
  }
}
