import { InvalidInputError, WorkflowNotFoundError } from './errors.js';
import { toHistoryEntry } from './history-entry.js';
import type { JsonValue } from './json.js';
import { stableStringify } from './json.js';
import type { MachineRegistry } from './machine-registry.js';
import { decodePageToken, encodePageToken } from './page-token.js';
import type { HistoryRecord, WorkflowRecord, WorkflowStore } from './ports/workflow-store.js';
import { checkKey, checkPositiveInt, pageSize } from './request-checks.js';
import { acceptedEvents, contextOf, toView } from './workflow-instance.js';
import type { HistoryEntry, WorkflowStatus, WorkflowView } from './workflow-types.js';

const STATUSES: ReadonlySet<string> = new Set(['active', 'done', 'error', 'cancelled']);

/** Filters combine with AND; pages are newest first; `pageToken` must come from the same filters. */
export interface ListWorkflowsQuery {
  machineId?: string;
  status?: WorkflowStatus;
  state?: string;
  createdAfter?: Date;
  createdBefore?: Date;
  pageSize?: number;
  pageToken?: string;
}

/** History from `fromVersion` (default 1) ascending; `pageToken` continues a previous page. */
export interface HistoryQuery {
  workflowId: string;
  fromVersion?: number;
  pageSize?: number;
  pageToken?: string;
}

/** The read side: views, listings and history, straight from the store (never the cache). */
export class WorkflowQueries {
  constructor(
    private readonly store: WorkflowStore,
    private readonly registry: MachineRegistry,
  ) {}

  async getWorkflow(id: string, atVersion?: number): Promise<WorkflowView> {
    checkKey('id', id);
    const record = await this.store.loadWorkflow(id);
    if (!record) throw new WorkflowNotFoundError(id);
    if (atVersion === undefined || atVersion === 0 || atVersion === record.version) return this.view(record);
    checkPositiveInt('at_version', atVersion);
    const history = atVersion < record.version ? await this.store.getHistoryAt(id, atVersion) : undefined;
    if (!history) throw new InvalidInputError(`workflow ${id} has versions 1 to ${record.version}`, [{ field: 'at_version', description: `out of range 1-${record.version}` }]);
    return this.historicalView(record, history);
  }

  view(record: WorkflowRecord): WorkflowView {
    return toView(record, this.registry.find(record.machineId, record.machineVersion));
  }

  /** The instance as it was at `history.version` (time travel); timers and tasks are not kept per version. */
  historicalView(record: WorkflowRecord, history: HistoryRecord): WorkflowView {
    const machine = this.registry.find(record.machineId, record.machineVersion);
    const view: WorkflowView = {
      id: record.id,
      machineId: record.machineId,
      machineVersion: record.machineVersion,
      status: history.status,
      state: history.toState,
      context: contextOf(history.snapshot),
      version: history.version,
      createdAt: record.createdAt,
      updatedAt: history.at,
      timers: [],
      tasks: [],
      acceptedEvents: acceptedEvents(machine, history.status, history.toState),
    };
    const output = history.snapshot.output as JsonValue | undefined;
    const error = history.snapshot.error as JsonValue | undefined;
    if (history.status === 'done' && output !== undefined) view.output = output;
    if (history.status !== 'active' && history.status !== 'done' && error !== undefined) view.error = error;
    if (record.parent) view.parentWorkflowId = record.parent.workflowId;
    return view;
  }

  async listWorkflows(q: ListWorkflowsQuery): Promise<{ workflows: WorkflowView[]; nextPageToken: string }> {
    const limit = pageSize('page_size', q.pageSize, 50, 500);
    if (q.status !== undefined && !STATUSES.has(q.status)) {
      throw new InvalidInputError(`status must be one of ${[...STATUSES].join(', ')}`, [{ field: 'status', description: 'unknown status' }]);
    }
    const filter = {
      ...(q.machineId ? { machineId: q.machineId } : {}),
      ...(q.status ? { status: q.status } : {}),
      ...(q.state ? { state: q.state } : {}),
      ...(q.createdAfter ? { createdAfter: q.createdAfter } : {}),
      ...(q.createdBefore ? { createdBefore: q.createdBefore } : {}),
    };
    const fingerprint = stableStringify(filter);
    const cursor = q.pageToken ? decodePageToken<{ t: number; i: string }>(q.pageToken, fingerprint, { t: 'number', i: 'string' }) : undefined;
    const rows = await this.store.listWorkflows({ ...filter, ...(cursor ? { after: { createdAt: new Date(cursor.t), id: cursor.i } } : {}) }, limit + 1);
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    const nextPageToken = rows.length > limit && last ? encodePageToken({ t: last.createdAt.getTime(), i: last.id }, fingerprint) : '';
    return { workflows: page.map((r) => this.view(r)), nextPageToken };
  }

  async getHistory(q: HistoryQuery): Promise<{ entries: HistoryEntry[]; nextPageToken: string }> {
    checkKey('workflow_id', q.workflowId);
    const limit = pageSize('page_size', q.pageSize, 100, 1000);
    if (q.fromVersion !== undefined && q.fromVersion !== 0) checkPositiveInt('from_version', q.fromVersion);
    const fingerprint = q.workflowId;
    const from = q.pageToken ? decodePageToken<{ v: number }>(q.pageToken, fingerprint, { v: 'number' }).v : Math.max(1, q.fromVersion ?? 1);
    const rows = await this.store.listHistory(q.workflowId, from, limit + 1);
    if (rows.length === 0 && !(await this.store.loadWorkflow(q.workflowId))) throw new WorkflowNotFoundError(q.workflowId);
    const page = rows.slice(0, limit);
    const nextPageToken = rows.length > limit ? encodePageToken({ v: page.at(-1)!.version + 1 }, fingerprint) : '';
    return { entries: page.map(toHistoryEntry), nextPageToken };
  }
}
