/**
 * Yields `current()` at once and again after each change notification whose
 * value differs from the last one yielded, until `signal` aborts. On abort it
 * throws the signal's reason: a server stream that returned instead would end
 * as OK, and clients must see why it ended (e.g. `unavailable` on shutdown).
 */
export async function* statusStream<T>(
  subscribe: (listener: () => void) => () => void,
  current: () => T,
  same: (a: T, b: T) => boolean,
  signal: AbortSignal,
): AsyncGenerator<T> {
  let wake: (() => void) | undefined;
  let dirty = false;
  const notify = () => {
    dirty = true;
    wake?.();
  };
  const unsubscribe = subscribe(notify);
  signal.addEventListener('abort', notify, { once: true });
  try {
    let last = current();
    yield last;
    for (;;) {
      if (!dirty) await new Promise<void>((resolve) => (wake = resolve));
      dirty = false;
      wake = undefined;
      signal.throwIfAborted();
      const next = current();
      if (!same(last, next)) {
        last = next;
        yield next;
      }
    }
  } finally {
    unsubscribe();
    signal.removeEventListener('abort', notify);
  }
}
