import { sql } from 'kysely';
import type { Kysely, Migration } from 'kysely';

/**
 * WatchWorkflows reads "what changed since <time>" from the history when it replays from a
 * cursor and when it polls (the bus is lossy, or down). The history is append-only, so this
 * index costs one B-tree insert per transition and leaves the workflows row's updates alone.
 */
export const historyTimeIndexMigration: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    await sql.raw('create index workflow_history_at_idx on workflow_history (at)').execute(db);
  },
  async down(db: Kysely<any>): Promise<void> {
    await sql.raw('drop index if exists workflow_history_at_idx').execute(db);
  },
};
