import type { HistoryRecord } from './ports/workflow-store.js';
import { contextOf } from './workflow-instance.js';
import type { HistoryEntry } from './workflow-types.js';

export function toHistoryEntry(record: HistoryRecord): HistoryEntry {
  const entry: HistoryEntry = {
    workflowId: record.workflowId,
    version: record.version,
    eventType: record.eventType,
    event: record.event,
    fromState: record.fromState,
    toState: record.toState,
    status: record.status,
    context: contextOf(record.snapshot),
    at: record.at,
  };
  if (record.eventId !== null) entry.eventId = record.eventId;
  return entry;
}
