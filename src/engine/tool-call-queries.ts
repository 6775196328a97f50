import { WorkflowNotFoundError } from './errors.js';
import { decodePageToken, encodePageToken } from './page-token.js';
import type { ToolCallRecord, WorkflowStore } from './ports/workflow-store.js';
import { checkKey, pageSize } from './request-checks.js';

/** A page of a workflow's call journal; `pageToken` continues a previous page of the same workflow. */
export interface ListToolCallsQuery {
  workflowId: string;
  /** 1..10 000; default 1000. */
  pageSize?: number;
  pageToken?: string;
}

/**
 * The call journal of a workflow, oldest first by (start, row id): every attempt of its tool tasks,
 * refused calls included. Pages are keyset pages, so rows written while a client pages do not
 * shift the pages it has not read yet. `not_found` for an unknown workflow, `invalid_argument`
 * for a token issued for another workflow.
 */
export async function listToolCalls(store: WorkflowStore, q: ListToolCallsQuery): Promise<{ calls: ToolCallRecord[]; nextPageToken: string }> {
  checkKey('workflow_id', q.workflowId);
  const limit = pageSize('page_size', q.pageSize, 1000, 10_000);
  const fingerprint = `tool-calls:${q.workflowId}`;
  const cursor = q.pageToken ? decodePageToken<{ t: number; i: string }>(q.pageToken, fingerprint, { t: 'number', i: 'string' }) : undefined;
  if (!(await store.loadWorkflow(q.workflowId))) throw new WorkflowNotFoundError(q.workflowId);
  const rows = await store.listToolCalls(q.workflowId, limit + 1, cursor && { startedAt: new Date(cursor.t), id: cursor.i });
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  const nextPageToken = rows.length > limit && last ? encodePageToken({ t: last.startedAt.getTime(), i: last.id }, fingerprint) : '';
  return { calls: page.map(({ id: _id, ...call }) => call), nextPageToken };
}
