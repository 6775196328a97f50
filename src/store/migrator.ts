import { Migrator, sql } from 'kysely';
import type { Kysely, Migration } from 'kysely';
import type { Logger } from '../telemetry/logger.js';
import { MigrationError, reasonOf } from './errors.js';
import { migrations } from './migrations/index.js';

/**
 * Brings the schema of `db` (the one in its connections' search_path) up to the newest migration
 * and returns the names applied by this call, in order (empty when already up to date).
 *
 * Kysely's Migrator keeps its bookkeeping tables (`kysely_migration`, `kysely_migration_lock`) in
 * that same schema, takes a Postgres advisory lock for the run, and applies all pending
 * migrations in one transaction. So it is idempotent, and replicas starting together are safe:
 * one applies each migration once, the others wait for the lock and then find nothing to do.
 * Migration names sort in the order they run; a released name must never change.
 *
 * Throws `MigrationError` naming the failed migration (its work is rolled back, as is that of
 * the other migrations of the same run); migrations applied by earlier runs stay applied.
 */
export async function migrateToLatest(
  // Any schema type: the migrations define the tables, so the caller's table types do not matter here.
  db: Kysely<any>,
  logger: Logger,
  migrationList: Record<string, Migration> = migrations,
): Promise<string[]> {
  const schema = await currentSchema(db);
  const migrator = new Migrator({
    db,
    migrationTableSchema: schema,
    provider: { getMigrations: async () => migrationList },
  });
  let outcome = await migrator.migrateToLatest();
  // Kysely looks for its bookkeeping tables by listing every table of the database; a schema
  // dropped meanwhile by another client (test and bench schemas on a shared database) fails that
  // listing with 3F000 before anything ran. Nothing was written, so trying again is safe.
  for (let retry = 0; retry < 3 && outcome.error !== undefined && !outcome.results?.length && isConcurrentDrop(outcome.error); retry++) {
    outcome = await migrator.migrateToLatest();
  }
  const { error, results = [] } = outcome;
  const applied = results.filter((r) => r.status === 'Success').map((r) => r.migrationName);
  if (error !== undefined) {
    const failed = results.find((r) => r.status === 'Error')?.migrationName;
    const message = failed
      ? `migration ${failed} failed: ${reasonOf(error)}`
      : `migrating schema ${schema} failed before any migration ran: ${reasonOf(error)}`;
    throw new MigrationError(message, failed, { cause: error });
  }
  for (const name of applied) logger.info('migration applied', { migration: name, schema });
  logger.info('database schema up to date', { schema, applied: applied.length, known: Object.keys(migrationList).length });
  return applied;
}

async function currentSchema(db: Kysely<any>): Promise<string> {
  const { rows } = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(db);
  const schema = rows[0]?.schema;
  // null when no schema on the search_path exists; openDatabase creates it, so this is a misuse.
  if (!schema) throw new MigrationError('migrating failed: the search_path names no existing schema', undefined);
  return schema;
}

/** "schema/relation does not exist" about another schema, raised while listing the catalog. */
function isConcurrentDrop(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '3F000' || code === '42P01';
}
