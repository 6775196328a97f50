import type { DatabaseIntrospector, Dialect, DialectAdapter, Driver, Kysely, QueryCompiler } from 'kysely';

/**
 * A dialect whose driver reports how long each query waited for a connection: Kysely takes one
 * from the driver (a `pg` pool, or PGlite's one session) for every query and transaction, so the
 * time `acquireConnection` takes is the pool's wait (plus opening a connection when the pool has
 * none to give). A failed acquisition (the pool's connect timeout) is reported too: the caller
 * waited for it. The group commit's duration includes this wait; the two side by side tell a
 * starved pool from a slow database.
 */
export function timeConnectionWaits(dialect: Dialect, onWait: (seconds: number) => void): Dialect {
  return {
    createDriver(): Driver {
      const driver = dialect.createDriver();
      const acquire = driver.acquireConnection.bind(driver);
      // Replaced on the instance rather than wrapped in a delegating class, so the driver keeps
      // every optional method (savepoints) exactly as Kysely finds them on the original.
      driver.acquireConnection = async () => {
        const started = performance.now();
        try {
          return await acquire();
        } finally {
          onWait((performance.now() - started) / 1000);
        }
      };
      return driver;
    },
    createQueryCompiler: (): QueryCompiler => dialect.createQueryCompiler(),
    createAdapter: (): DialectAdapter => dialect.createAdapter(),
    createIntrospector: (db: Kysely<any>): DatabaseIntrospector => dialect.createIntrospector(db),
  };
}
