import { timestampFromMs, timestampMs } from '@bufbuild/protobuf/wkt';
import { createClient } from '@connectrpc/connect';
import type { Value } from '@bufbuild/protobuf/wkt';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { OrchestratorService, WorkflowStatus, type ListWorkflowsRequestSchema } from '../gen/orchestrator/v1/orchestrator_pb.js';
import { createBenchTransport } from './bench-clients.js';
import { pickBenchMachine, type OrchestratorClient } from './bench-machines.js';
import type { BenchServer } from './bench-server.js';
import { measureIdleWatchers, type IdleWatchers } from './idle-watchers.js';
import { runClosedLoop } from './load-runner.js';
import type { MemoryUsage } from './process-stats.js';
import { summarize, type LatencySummary } from './stats.js';
import { startWorkflows, waitUntilReady } from './workflow-fleet.js';

/** What was stored, once per benchmark invocation (100,000 starts are too slow to repeat). */
export interface StorageSetup {
  machine: string;
  requested: number;
  stored: number;
  /** False when the insert budget ran out before `requested`. */
  complete: boolean;
  insertSeconds: number;
  insertPerSec: number;
  /** Workflows cancelled, so a status filter has a small selective answer. */
  cancelled: number;
  /** Whether the store's tables were ANALYZEd before the queries (not on PGlite). */
  analyzed: boolean;
  /** Server memory: idle before the inserts, after them, and after an event to each of `active` workflows. */
  memory: { idle: MemoryUsage; stored: MemoryUsage; active: MemoryUsage; activeCount: number };
  /** Idle WatchWorkflow streams on active workflows (none with `watchers` 0). */
  watched?: IdleWatchers;
}

/** One ListWorkflows query, repeated sequentially (one in flight). */
export interface StorageQuery {
  query: string;
  pageSize: number;
  /** Workflows on the first page answered. */
  returned: number;
  latency: LatencySummary;
}

export interface StorageRun {
  queries: StorageQuery[];
}

export interface StorageOptions {
  count: number;
  budgetSeconds: number;
  active: number;
  /** Idle WatchWorkflow streams opened on active workflows after the ANALYZE (at most `active`). */
  watchers: number;
  /** How long the server is measured idle, before and with the streams open. */
  idleSeconds: number;
  queryRepeats: number;
  machine: string;
}

type ListRequest = MessageInitShape<typeof ListWorkflowsRequestSchema>;

/**
 * Fills the server's store with `count` workflows (StartWorkflow over gRPC, 64 in flight, for
 * at most `budgetSeconds`), cancels 0.1% of them, then sends one event to each of `active`
 * workflows and reads the server's RSS; then measures `watchers` idle WatchWorkflow streams on
 * them (idle-watchers.ts). Returns a `measure` that times the ListWorkflows
 * queries once more per call (one call per benchmark run).
 */
export async function prepareStorage(server: BenchServer, options: StorageOptions): Promise<{ setup: StorageSetup; measure: () => Promise<StorageRun>; close: () => void }> {
  const bench = createBenchTransport('grpc', server.baseUrl, 1);
  try {
    const client = createClient(OrchestratorService, bench.transport);
    const machine = await pickBenchMachine(client, options.machine);
    const idle = server.memory();
    const started = await startWorkflows(client, machine, options.count, { concurrency: 64, deadline: Date.now() + options.budgetSeconds * 1000 });
    const workflows = started.workflows;
    const stored = server.memory();

    const cancelled = workflows.filter((_, i) => i % 1000 === 999);
    await runClosedLoop({
      total: cancelled.length,
      concurrency: 8,
      op: async (_w, _k, i) => void (await client.cancelWorkflow({ workflowId: cancelled[i]!.id, reason: 'bench' })),
    });

    // "Active": each got an event just now, so the server holds it as a live instance. Machines
    // with start-up tasks accept their loop event only once those are done.
    const activeCount = Math.min(options.active, workflows.length - cancelled.length);
    const candidates = workflows.filter((_, i) => i % 1000 !== 999);
    const live = await waitUntilReady(client, machine, candidates.slice(candidates.length - activeCount), 120_000);
    await runClosedLoop({
      total: live.length,
      concurrency: 32,
      op: async (_w, _k, i) => void (await client.sendEvent({ workflowId: live[i]!.id, event: machine.loopEvent(0) })),
    });
    const active = server.memory();
    // Planner statistics, as autovacuum would have them a minute or so later: right after a
    // bulk fill there are none, and a state filter was planned for 0.5% of the rows (a bitmap
    // scan of all 100,000 and a sort: 50-80 ms) instead of walking the newest (0.05 ms in psql).
    const analyzed = await server.analyze();
    const watchedIds = live.slice(0, options.watchers).map((w) => w.id);
    const watched = watchedIds.length ? await measureIdleWatchers(server, watchedIds, options.idleSeconds) : undefined;

    const times = workflows.map((w) => timestampMs(w.createTime!));
    const window = { first: times[Math.floor(times.length * 0.45)] ?? 0, last: times[Math.floor(times.length * 0.55)] ?? 0 };
    // The state most workflows rest in now (start-up tasks may have moved them on since).
    const state = stateName((await client.listWorkflows({ machineId: machine.id, status: WorkflowStatus.ACTIVE, pageSize: 1 })).workflows[0]?.state);
    const queries: [string, ListRequest][] = [
      ['newest', {}],
      ['machine', { machineId: machine.id }],
      ['status=active', { status: WorkflowStatus.ACTIVE }],
      ['status=cancelled (0.1%)', { status: WorkflowStatus.CANCELLED }],
      [`state=${state}`, { state }],
      ['created in middle 10%', { createdAfter: timestampFromMs(window.first), createdBefore: timestampFromMs(window.last) }],
      ['machine, 1000 per page', { machineId: machine.id, pageSize: 1000 }],
    ];
    return {
      setup: {
        machine: machine.id,
        requested: options.count,
        stored: workflows.length,
        complete: started.complete,
        insertSeconds: Math.round(started.load.durationMs / 100) / 10,
        insertPerSec: started.load.perSec,
        cancelled: cancelled.length,
        analyzed,
        memory: { idle, stored, active, activeCount },
        ...(watched ? { watched } : {}),
      },
      measure: async () => ({
        queries: [
          ...(await sequential(queries.map(([name, req]) => () => timeQuery(client, name, req, options.queryRepeats)))),
          await timeDeepPaging(client, 20),
        ],
      }),
      close: () => bench.close(),
    };
  } catch (error) {
    bench.close();
    throw error;
  }
}

async function sequential<T>(tasks: (() => Promise<T>)[]): Promise<T[]> {
  const out: T[] = [];
  for (const task of tasks) out.push(await task());
  return out;
}

async function timeQuery(client: OrchestratorClient, query: string, req: ListRequest, repeats: number): Promise<StorageQuery> {
  const samples: number[] = [];
  let returned = 0;
  for (let i = 0; i < repeats; i++) {
    const started = performance.now();
    const page = await client.listWorkflows(req);
    samples.push(performance.now() - started);
    returned = page.workflows.length;
  }
  return { query, pageSize: req.pageSize || 50, returned, latency: summarize(samples) };
}

/** Follows next_page_token `pages` pages deep from the newest, timing each page. */
async function timeDeepPaging(client: OrchestratorClient, pages: number): Promise<StorageQuery> {
  const samples: number[] = [];
  let pageToken = '';
  let returned = 0;
  for (let i = 0; i < pages; i++) {
    const started = performance.now();
    const page = await client.listWorkflows({ pageToken });
    samples.push(performance.now() - started);
    returned += page.workflows.length;
    pageToken = page.nextPageToken;
    if (!pageToken) break;
  }
  return { query: `newest, pages 1-${pages} by token`, pageSize: 50, returned, latency: summarize(samples) };
}

/** The top-level state name of a state value ("counting", or "open" of {"open": {...}}). */
function stateName(state: Value | undefined): string {
  const kind = state?.kind;
  if (kind?.case === 'stringValue') return kind.value;
  if (kind?.case === 'structValue') return Object.keys(kind.value.fields)[0] ?? '';
  return '';
}
