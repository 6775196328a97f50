/**
 * Items by due time, earliest first; items due at the same moment come out in the order they went
 * in (one workflow's timers must fire in the order they were claimed). A binary heap: a claim of
 * hundreds of timers and a release of thousands stay O(log n) each.
 */
export class DueQueue<T extends { dueAt: Date }> {
  readonly #heap: { at: number; seq: number; item: T }[] = [];
  #seq = 0;

  get size(): number {
    return this.#heap.length;
  }

  push(item: T): void {
    const heap = this.#heap;
    heap.push({ at: item.dueAt.getTime(), seq: this.#seq++, item });
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  /** Due time (ms) of the earliest item, Infinity when empty. */
  peekAt(): number {
    return this.#heap[0]?.at ?? Infinity;
  }

  /** Removes and returns the earliest item, if any. */
  shift(): T | undefined {
    const heap = this.#heap;
    const top = heap[0];
    if (!top) return undefined;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let least = i;
        if (left < heap.length && before(heap[left]!, heap[least]!)) least = left;
        if (right < heap.length && before(heap[right]!, heap[least]!)) least = right;
        if (least === i) break;
        [heap[i], heap[least]] = [heap[least]!, heap[i]!];
        i = least;
      }
    }
    return top.item;
  }

  /** Removes every item. */
  clear(): void {
    this.#heap.length = 0;
  }
}

function before(a: { at: number; seq: number }, b: { at: number; seq: number }): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
