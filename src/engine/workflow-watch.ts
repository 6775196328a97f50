import type { EventBus } from './ports/event-bus.js';
import type { WorkflowStore } from './ports/workflow-store.js';
import { WorkflowNotFoundError } from './errors.js';
import { toHistoryEntry } from './history-entry.js';
import type { HistoryEntry } from './workflow-types.js';
import { FINAL_STATUSES } from './workflow-types.js';

const PAGE = 200;

/**
 * The transitions of one instance from `fromVersion` on, with no gaps and no duplicates, ending
 * after the entry with a final status. It subscribes to the bus before reading anything, so no
 * transition can slip between the replay and the live part. Bus messages only wake it up: every
 * entry is read from the history by version (the bus is lossy and carries no context), so a
 * lost or reordered message costs latency, never an entry. Without messages it re-reads every
 * `pollIntervalMs` anyway (Redis down). Throws `signal.reason` (an AbortError) when aborted,
 * and WorkflowNotFoundError when the instance does not exist.
 */
export async function* watchWorkflow(
  deps: { store: WorkflowStore; bus: EventBus; pollIntervalMs: number },
  workflowId: string,
  fromVersion: number,
  signal: AbortSignal,
): AsyncGenerator<HistoryEntry, void, undefined> {
  signal.throwIfAborted();
  let next = Math.max(1, Math.floor(fromVersion));
  // Set by a message for a version not read yet; each message causes at most one re-read.
  let dirty = false;
  let wake: (() => void) | undefined;
  const unsubscribe = await deps.bus.subscribe(workflowId, (message) => {
    if (message.version < next) return; // already yielded: a duplicate or a late message
    dirty = true;
    wake?.();
  });
  try {
    const record = await deps.store.loadWorkflow(workflowId);
    if (!record) throw new WorkflowNotFoundError(workflowId);
    // Nothing at or after fromVersion will ever come.
    if (FINAL_STATUSES.has(record.status) && record.version < next) return;
    for (;;) {
      signal.throwIfAborted();
      dirty = false;
      const page = await deps.store.listHistory(workflowId, next, PAGE);
      for (const row of page) {
        yield toHistoryEntry(row);
        next = row.version + 1;
        if (FINAL_STATUSES.has(row.status)) return;
      }
      if (page.length === PAGE || dirty) continue;
      await new Promise<void>((resolve, reject) => {
        const done = () => {
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          wake = undefined;
          resolve();
        };
        const onAbort = () => {
          done();
          reject(signal.reason);
        };
        const timer = setTimeout(done, deps.pollIntervalMs);
        wake = done;
        signal.addEventListener('abort', onAbort, { once: true });
      });
    }
  } finally {
    await unsubscribe();
  }
}
