import type { PGlite } from '@electric-sql/pglite';
import { PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler } from 'kysely';
import type { DatabaseIntrospector, Dialect, DialectAdapter, Driver, Kysely, QueryCompiler } from 'kysely';
import { PGliteDriver } from './pglite-driver.js';

/**
 * Kysely's Postgres dialect with a PGlite driver: the same adapter, query compiler and
 * introspector as on a Postgres server, so every query and migration takes one code path; only
 * the connection differs. The dialect owns the PGlite instance: `db.destroy()` closes it.
 */
export class PGliteDialect implements Dialect {
  readonly #pglite: PGlite;
  #driver: PGliteDriver | undefined;

  constructor(pglite: PGlite) {
    this.#pglite = pglite;
  }

  createDriver(): Driver {
    this.#driver = new PGliteDriver(this.#pglite);
    return this.#driver;
  }

  /** Connection usage of the driver (idle before Kysely created it). */
  usage(): { total: number; idle: number; waiting: number } {
    return this.#driver?.usage() ?? { total: 1, idle: 1, waiting: 0 };
  }

  createQueryCompiler(): QueryCompiler {
    return new PostgresQueryCompiler();
  }

  createAdapter(): DialectAdapter {
    return new PostgresAdapter();
  }

  createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new PostgresIntrospector(db);
  }
}
