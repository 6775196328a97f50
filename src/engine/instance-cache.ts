import type { WorkflowInstance } from './workflow-instance.js';

/**
 * Least-recently-used instances by workflow id. An entry is a hint: callers check its version
 * against the store through the commit's version guard, and drop it on a conflict.
 */
export class InstanceCache {
  readonly #entries = new Map<string, WorkflowInstance>();
  constructor(private readonly capacity: number) {}

  get(id: string): WorkflowInstance | undefined {
    const entry = this.#entries.get(id);
    if (entry) {
      // Re-insert: Map keeps insertion order, so the first key is the least recently used.
      this.#entries.delete(id);
      this.#entries.set(id, entry);
    }
    return entry;
  }

  set(id: string, instance: WorkflowInstance): void {
    this.#entries.delete(id);
    this.#entries.set(id, instance);
    while (this.#entries.size > this.capacity) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
  }

  delete(id: string): void {
    this.#entries.delete(id);
  }

  get size(): number {
    return this.#entries.size;
  }
}
