import type { BusLogger } from '../bus-logger.js';

export interface LogEntry {
  level: 'debug' | 'info' | 'warn' | 'error';
  msg: string;
  fields: Record<string, unknown>;
}

/** A logger that keeps every entry, for tests that assert on logs. */
export class CapturingLogger implements BusLogger {
  readonly entries: LogEntry[] = [];
  #onEntry: ((entry: LogEntry) => void) | undefined;

  debug(msg: string, fields: Record<string, unknown> = {}): void {
    this.#add({ level: 'debug', msg, fields });
  }
  info(msg: string, fields: Record<string, unknown> = {}): void {
    this.#add({ level: 'info', msg, fields });
  }
  warn(msg: string, fields: Record<string, unknown> = {}): void {
    this.#add({ level: 'warn', msg, fields });
  }
  error(msg: string, fields: Record<string, unknown> = {}): void {
    this.#add({ level: 'error', msg, fields });
  }

  /** Entries whose message starts with `prefix`. */
  matching(prefix: string): LogEntry[] {
    return this.entries.filter((entry) => entry.msg.startsWith(prefix));
  }

  /** Resolves at the first entry starting with `prefix` (or at once if one was logged). */
  next(prefix: string, timeoutMs = 5_000): Promise<LogEntry> {
    const found = this.matching(prefix)[0];
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no log line '${prefix}' in ${timeoutMs} ms`)), timeoutMs);
      this.#onEntry = (entry) => {
        if (!entry.msg.startsWith(prefix)) return;
        clearTimeout(timer);
        this.#onEntry = undefined;
        resolve(entry);
      };
    });
  }

  #add(entry: LogEntry): void {
    this.entries.push(entry);
    this.#onEntry?.(entry);
  }
}
