import type { Migration } from 'kysely';
import { workflowsMigration } from './0001-workflows.js';
import { toolCallsMigration } from './0002-tool-calls.js';
import { childWorkflowsMigration } from './0003-child-workflows.js';
import { historyTimeIndexMigration } from './0004-history-time-index.js';

/** Every migration, in order. Names sort in the order they run; never rename or edit a released one. */
export const migrations: Record<string, Migration> = {
  '0001_workflows': workflowsMigration,
  '0002_tool_calls': toolCallsMigration,
  '0003_child_workflows': childWorkflowsMigration,
  '0004_history_time_index': historyTimeIndexMigration,
};
