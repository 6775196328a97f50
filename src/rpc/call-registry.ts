/** A call in flight, as the registry sees it. */
interface Abortable {
  abort(reason: unknown): void;
}

/** A call's place in its registry, given back to leave it. */
export interface CallEntry {
  readonly call: Abortable;
  at: number;
}

/**
 * Every call in flight of one handler, aborted together when the server shuts down. An array
 * that fills a leaver's place with its last entry, not a Set: a Set that gains and loses a
 * member per call keeps rebuilding its hash table, and V8 kept every call the replaced tables
 * held alive through scavenges (see engine/instance-cache.ts).
 */
export class CallRegistry {
  readonly #entries: CallEntry[] = [];
  constructor(shutdownSignal: AbortSignal) {
    shutdownSignal.addEventListener('abort', () => {
      for (const { call } of [...this.#entries]) call.abort(shutdownSignal.reason);
    });
  }
  add(call: Abortable): CallEntry {
    const entry = { call, at: this.#entries.length };
    this.#entries.push(entry);
    return entry;
  }
  /** Leaves the registry; a second call does nothing. */
  delete(entry: CallEntry): void {
    if (entry.at < 0) return;
    const last = this.#entries.pop()!;
    if (last !== entry) {
      this.#entries[entry.at] = last;
      last.at = entry.at;
    }
    entry.at = -1;
  }
}
