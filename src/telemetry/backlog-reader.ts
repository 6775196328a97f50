import type { Backlog } from './metric-sources.js';

/** How long one backlog reading serves scrapes: the catalog promises at most 10 s old. */
const MAX_AGE_MS = 5_000;

/**
 * Reads the store backlog for the gauges at most once per MAX_AGE_MS, so several gauges and
 * several Prometheus servers scraping cost one query. Concurrent reads share one query. A failed
 * query is reported through `onError` and answers undefined (the gauges keep their last values).
 */
export class BacklogReader {
  #value: Backlog | undefined;
  #readAt = -Infinity;
  #pending: Promise<Backlog | undefined> | undefined;

  constructor(
    private readonly source: () => (() => Promise<Backlog>) | undefined,
    private readonly onError: (error: unknown) => void,
  ) {}

  read(): Promise<Backlog | undefined> {
    if (performance.now() - this.#readAt < MAX_AGE_MS) return Promise.resolve(this.#value);
    const query = this.source();
    if (!query) return Promise.resolve(undefined);
    this.#pending ??= query().then(
      (value) => {
        this.#value = value;
        this.#readAt = performance.now();
        return value;
      },
      (error: unknown) => {
        this.onError(error);
        return undefined;
      },
    ).finally(() => (this.#pending = undefined));
    return this.#pending;
  }
}
