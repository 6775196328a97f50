import type { HistoryEntry, WorkflowEngine } from '../../../src/engine/workflow-engine.js';

/**
 * The first history entry of `workflowId` matching `match`, following the engine's watch (so
 * it waits for the transition, not for time), failing after `timeoutMs`.
 */
export async function untilEntry(engine: WorkflowEngine, workflowId: string, match: (e: HistoryEntry) => boolean, timeoutMs = 5_000, fromVersion = 1): Promise<HistoryEntry> {
  const controller = new AbortController();
  const seen: string[] = [];
  const timer = setTimeout(() => controller.abort(new Error(`no matching transition within ${timeoutMs} ms; saw: ${seen.join(' | ')}`)), timeoutMs);
  try {
    for await (const entry of engine.watch(workflowId, fromVersion, controller.signal)) {
      seen.push(`${entry.version} ${entry.eventType} -> ${JSON.stringify(entry.toState)}`);
      if (match(entry)) return entry;
    }
    throw new Error(`the workflow finished without a matching transition; saw: ${seen.join(' | ')}`);
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}
