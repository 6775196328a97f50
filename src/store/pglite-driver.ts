import type { PGlite, Results } from '@electric-sql/pglite';
import { AbortedTransactionError, CompiledQuery } from 'kysely';
import type { DatabaseConnection, Driver, QueryResult, TransactionSettings } from 'kysely';

/**
 * A Kysely driver over one PGlite instance.
 *
 * PGlite is a single Postgres session, so this driver hands out its one connection to one holder
 * at a time: `acquireConnection` waits until the previous holder released it. A Kysely transaction
 * holds the connection from BEGIN to COMMIT, so statements of two transactions never interleave.
 * Consequence: code inside `db.transaction().execute(trx => ...)` must use `trx`, never `db` —
 * a query on `db` there waits for the connection its own transaction holds, forever.
 *
 * `destroy()` waits for the current holder to release the connection, then closes PGlite.
 * Acquiring after `destroy()` throws. Streaming (`.stream()`) throws: the Postgres driver here has
 * no cursor support either, so both kinds behave the same.
 */
export class PGliteDriver implements Driver {
  readonly #pglite: PGlite;
  readonly #mutex = new Mutex();
  readonly #connection: PGliteConnection;
  #destroyed = false;

  /** The one session as a pool of one: in use or idle, and queries waiting for it. */
  usage(): { total: number; idle: number; waiting: number } {
    const { held, waiting } = this.#mutex.usage;
    return { total: 1, idle: held ? 0 : 1, waiting };
  }

  constructor(pglite: PGlite) {
    this.#pglite = pglite;
    this.#connection = new PGliteConnection(pglite);
  }

  async init(): Promise<void> {
    await this.#pglite.waitReady;
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    if (this.#destroyed) throw new Error('the PGlite database is closed');
    await this.#mutex.lock();
    if (this.#destroyed) {
      this.#mutex.unlock();
      throw new Error('the PGlite database is closed');
    }
    return this.#connection;
  }

  async releaseConnection(): Promise<void> {
    this.#mutex.unlock();
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    // Kysely validates both settings against fixed lists before they get here.
    const parts = ['start transaction'];
    if (settings.isolationLevel) parts.push(`isolation level ${settings.isolationLevel}`);
    if (settings.accessMode) parts.push(settings.accessMode);
    await connection.executeQuery(CompiledQuery.raw(parts.join(' ')));
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    const { rows } = await connection.executeQuery<{ command?: string }>(CompiledQuery.raw('commit'));
    // Postgres answers COMMIT of a transaction that an earlier error aborted with a ROLLBACK tag.
    if (rows[0]?.command === 'ROLLBACK') throw new AbortedTransactionError();
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('rollback'));
  }

  async savepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`savepoint ${quoteIdentifier(name)}`));
  }

  async rollbackToSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`rollback to savepoint ${quoteIdentifier(name)}`));
  }

  async releaseSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`release savepoint ${quoteIdentifier(name)}`));
  }

  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    // Let the holder (and everyone already queued) finish before the session goes away.
    await this.#mutex.lock();
    try {
      if (!this.#pglite.closed) await this.#pglite.close();
    } finally {
      this.#mutex.unlock();
    }
  }
}

/** Postgres type oids whose PGlite parsing is aligned with node-postgres (see `parsers`). */
const INT8 = 20;

/**
 * node-postgres returns int8 (bigint, count(*)) as a string; PGlite would return a number, or a
 * bigint when large. Both kinds return the string, so store code has one behaviour to handle.
 */
const parsers = { [INT8]: (value: string) => value };

class PGliteConnection implements DatabaseConnection {
  readonly #pglite: PGlite;

  constructor(pglite: PGlite) {
    this.#pglite = pglite;
  }

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const result: Results<R> = await this.#pglite.query<R>(compiledQuery.sql, [...compiledQuery.parameters], { parsers });
    const command = result.command?.toUpperCase();
    if (command === 'COMMIT' || command === 'ROLLBACK') {
      return { rows: [{ command } as R] };
    }
    const writes = command === 'INSERT' || command === 'UPDATE' || command === 'DELETE' || command === 'MERGE';
    return {
      rows: result.rows,
      ...(writes ? { numAffectedRows: BigInt(result.affectedRows ?? 0) } : {}),
    };
  }

  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming queries is not supported by the PGlite driver; page with limit/offset or keyset instead');
  }
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** A FIFO lock: `lock()` resolves when the caller holds it; `unlock()` hands it to the next waiter. */
class Mutex {
  #held = false;
  readonly #waiters: Array<() => void> = [];

  lock(): Promise<void> {
    if (!this.#held) {
      this.#held = true;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Whether someone holds the lock, and how many wait for it (for pool metrics). */
  get usage(): { held: boolean; waiting: number } {
    return { held: this.#held, waiting: this.#waiters.length };
  }

  unlock(): void {
    const next = this.#waiters.shift();
    // Ownership passes straight to the next waiter, so no newcomer can jump the queue.
    if (next) next();
    else this.#held = false;
  }
}
