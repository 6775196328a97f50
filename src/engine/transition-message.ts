import type { JsonObject, JsonValue } from './json.js';
import type { TransitionMessage } from './ports/event-bus.js';
import type { WorkflowRecord } from './ports/workflow-store.js';
import { contextOf } from './workflow-instance.js';
import type { HistoryEntry, WorkflowStatus } from './workflow-types.js';

/** What a committed transition adds to the instance record to make its history entry. */
export interface CommittedStep {
  event: JsonObject & { type: string };
  eventId: string | null;
  fromState: JsonValue | null;
  /** Commit time of the previous version; undefined for version 1. */
  previousAt: Date | undefined;
}

/**
 * The announcement of a committed transition: the record after it plus the whole history entry,
 * so a watcher needs no store read (the bus drops `entry` from messages that would be too big).
 */
export function transitionMessage(record: WorkflowRecord, step: CommittedStep): TransitionMessage {
  const message: TransitionMessage = {
    workflowId: record.id,
    version: record.version,
    machineId: record.machineId,
    machineVersion: record.machineVersion,
    status: record.status,
    state: record.state,
    eventType: step.event.type,
    at: record.updatedAt.toISOString(),
    entry: { event: step.event, eventId: step.eventId, fromState: step.fromState, context: contextOf(record.snapshot) },
  };
  if (step.previousAt) message.previousAt = step.previousAt.toISOString();
  return message;
}

/** The history entry a message describes, or undefined when it came without one (too big). */
export function entryOfMessage(message: TransitionMessage): HistoryEntry | undefined {
  const data = message.entry;
  if (!data) return undefined;
  const entry: HistoryEntry = {
    workflowId: message.workflowId,
    version: message.version,
    eventType: message.eventType,
    event: data.event,
    fromState: data.fromState,
    toState: message.state as JsonValue,
    status: message.status as WorkflowStatus,
    context: data.context,
    at: new Date(message.at),
  };
  if (data.eventId !== null) entry.eventId = data.eventId;
  return entry;
}
