import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { toJson } from '@bufbuild/protobuf';
import { timestampDate, ValueSchema, type Timestamp } from '@bufbuild/protobuf/wkt';
import { createClient, type Client } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { OrchestratorService, WorkflowStatus, type HistoryEntry, type Workflow } from '../../gen/orchestrator/v1/orchestrator_pb.js';
import { openDatabase } from '../../src/store/database.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { startServerProcess, type ServerProcess } from './server-process.js';
import { createTestDatabaseOptions, type TestDatabaseOptions } from './test-database.js';

/** Shared by the crash and replica tests: clients, bounded waits, and the history invariants. */

export type Orchestrator = Client<typeof OrchestratorService>;

/** The crash fixtures (machines and the slow tool), as the server's EXTRA_MODULES. */
export const CRASH_FIXTURES = 'tests/fixtures/crash-machines.ts';

export function orchestrator(baseUrl: string): Orchestrator {
  return createClient(OrchestratorService, createGrpcTransport({ baseUrl }));
}

/** A workflow's output as plain JSON. */
export function outputOf<T>(workflow: Workflow): T {
  return (workflow.output ? toJson(ValueSchema, workflow.output) : null) as T;
}

/** Milliseconds since the epoch of a protobuf timestamp. */
export function millis(timestamp: Timestamp | undefined): number {
  assert.ok(timestamp, 'a timestamp');
  return timestampDate(timestamp).getTime();
}

/** Calls `read` until `done(value)` or `timeoutMs` passes (then fails with `what` and the last value). */
export async function waitUntil<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await read();
    if (done(last)) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(last, (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v)).slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function waitForStatus(api: Orchestrator, id: string, status: WorkflowStatus, timeoutMs?: number): Promise<Workflow> {
  return waitUntil(`workflow ${id} to reach ${WorkflowStatus[status]}`, async () => (await api.getWorkflow({ id })).workflow!, (w) => w.status === status, timeoutMs);
}

/** Every history entry of a workflow, all pages. */
export async function fullHistory(api: Orchestrator, workflowId: string): Promise<HistoryEntry[]> {
  const entries: HistoryEntry[] = [];
  let pageToken = '';
  do {
    const page = await api.getHistory({ workflowId, pageSize: 1000, pageToken });
    entries.push(...page.entries);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return entries;
}

/** The invariants every test checks: versions 1..N in order with no gap or repeat; no event id twice. */
export function assertHistoryIntact(entries: HistoryEntry[]): void {
  assert.deepEqual(entries.map((e) => e.version), Array.from({ length: entries.length }, (_, i) => i + 1), 'history versions are contiguous from 1');
  const ids = entries.map((e) => e.eventId).filter((id) => id !== '');
  assert.equal(new Set(ids).size, ids.length, `no event id twice: ${ids.filter((id, i) => ids.indexOf(id) !== i).join(', ')}`);
}

/** History entries whose event type starts with `prefix` (e.g. 'xstate.after.', 'xstate.done.actor.slow'). */
export function entriesOf(entries: HistoryEntry[], prefix: string): HistoryEntry[] {
  return entries.filter((e) => e.eventType.startsWith(prefix));
}

/** Executions of the fixture's slow tool recorded in `path`: one `{ key, at, pid }` per call started. */
export function crashLogLines(path: string): { key: string; at: number; pid: number }[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [key, at, pid] = line.split(' ');
      return { key: key!, at: Number(at), pid: Number(pid) };
    });
}

/** A task row read straight from the store (the server must be stopped when the store is PGlite). */
export interface StoredTask {
  task_id: string;
  status: string;
  attempts: number;
}

export async function storedTasks(store: TestDatabaseOptions, workflowId: string): Promise<StoredTask[]> {
  const database = await openDatabase({ url: store.url, dataDir: store.dataDir, schema: store.schema, poolSize: 1, logger: silentLogger });
  try {
    return await database.db
      .selectFrom('workflow_tasks')
      .select(['task_id', 'status', 'attempts'])
      .where('workflow_id', '=', workflowId)
      .orderBy('task_id')
      .execute();
  } finally {
    await database.close();
  }
}

/**
 * One store on disk (a PGlite directory, or a Postgres schema) and server processes on it, with
 * `env` plus each start's own, that a test kills and restarts; all are SIGKILLed at the end.
 */
export async function withServerStore(
  env: Record<string, string>,
  test: (ctx: { store: TestDatabaseOptions; start: (env?: Record<string, string>) => Promise<ServerProcess> }) => Promise<void>,
  startTimeoutMs = 60_000,
): Promise<void> {
  const store = createTestDatabaseOptions({ onDisk: true });
  const servers: ServerProcess[] = [];
  const start = async (more: Record<string, string> = {}) => {
    const server = await startServerProcess({ ...store.env, ...env, ...more }, startTimeoutMs);
    servers.push(server);
    return server;
  };
  try {
    await test({ store, start });
  } finally {
    for (const server of servers) await server.stop('SIGKILL');
    await store.cleanup();
  }
}

/** Resolves with the signal that ended the process (it may have ended already). */
export async function exitSignal(server: ServerProcess): Promise<NodeJS.Signals | null> {
  if (server.child.exitCode === null && server.child.signalCode === null) await once(server.child, 'exit');
  return server.child.signalCode;
}
