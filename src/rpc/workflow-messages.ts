import { create, fromJson, type JsonValue } from '@bufbuild/protobuf';
import { timestampFromDate, ValueSchema, type Value } from '@bufbuild/protobuf/wkt';
import type { FleetWatchItem } from '../engine/fleet-watch.js';
import type { ToolCallRecord } from '../engine/ports/workflow-store.js';
import type { HistoryEntry as EngineHistoryEntry, MachineInfo, WorkflowStatus as EngineStatus, WorkflowView } from '../engine/workflow-engine.js';
import {
  HistoryEntrySchema,
  MachineSchema,
  StateEventsSchema,
  TaskSchema,
  TimerSchema,
  ToolCallSchema,
  WatchWorkflowsResponseSchema,
  WorkflowSchema,
  WorkflowStatus,
  type WatchWorkflowsResponse,
  type HistoryEntry,
  type Machine,
  type ToolCall,
  type Workflow,
} from '../../gen/orchestrator/v1/orchestrator_pb.js';

/** Engine views to orchestrator.v1 messages and back: the only place that knows both shapes. */

const statusToProto: Record<EngineStatus, WorkflowStatus> = {
  active: WorkflowStatus.ACTIVE,
  done: WorkflowStatus.DONE,
  error: WorkflowStatus.ERROR,
  cancelled: WorkflowStatus.CANCELLED,
};

export function statusFromProto(status: WorkflowStatus): EngineStatus | undefined {
  return (Object.keys(statusToProto) as EngineStatus[]).find((k) => statusToProto[k] === status);
}

function value(json: JsonValue | undefined): Value | undefined {
  return json === undefined ? undefined : fromJson(ValueSchema, json);
}

export function machineMessage(m: MachineInfo): Machine {
  return create(MachineSchema, {
    id: m.id,
    version: m.version,
    description: m.description,
    definitionHash: m.definitionHash,
    definition: m.definition,
    inputSchema: m.inputSchema,
    stateEvents: Object.entries(m.stateEvents).map(([state, events]) => create(StateEventsSchema, { state, events })),
  });
}

export function workflowMessage(w: WorkflowView): Workflow {
  return create(WorkflowSchema, {
    id: w.id,
    machineId: w.machineId,
    machineVersion: w.machineVersion,
    status: statusToProto[w.status],
    state: value(w.state),
    context: w.context,
    output: value(w.output),
    error: value(w.error),
    version: w.version,
    createTime: timestampFromDate(w.createdAt),
    updateTime: timestampFromDate(w.updatedAt),
    timers: w.timers.map((t) => create(TimerSchema, { id: t.id, dueTime: timestampFromDate(t.dueAt) })),
    tasks: w.tasks.map((t) => create(TaskSchema, t)),
    acceptedEvents: w.acceptedEvents,
    parentWorkflowId: w.parentWorkflowId ?? '',
  });
}

export function historyEntryMessage(e: EngineHistoryEntry): HistoryEntry {
  return create(HistoryEntrySchema, {
    workflowId: e.workflowId,
    version: e.version,
    eventType: e.eventType,
    event: e.event,
    eventId: e.eventId ?? '',
    fromState: value(e.fromState ?? null),
    toState: value(e.toState),
    status: statusToProto[e.status],
    context: e.context,
    time: timestampFromDate(e.at),
  });
}

export function toolCallMessage(c: ToolCallRecord): ToolCall {
  return create(ToolCallSchema, {
    taskId: c.taskId,
    src: c.src,
    claim: c.claim,
    attempt: c.attempt,
    owner: c.owner,
    startTime: timestampFromDate(c.startedAt),
    endTime: timestampFromDate(c.endedAt),
    latencyMs: c.latencyMs,
    outcome: c.outcome,
    errorKind: c.errorKind ?? '',
    status: c.status ?? 0,
  });
}

export function watchWorkflowsMessage(item: FleetWatchItem): WatchWorkflowsResponse {
  return create(WatchWorkflowsResponseSchema, {
    cursor: item.cursor,
    ...(item.entry ? { entry: historyEntryMessage(item.entry), machineId: item.machineId ?? '', machineVersion: item.machineVersion ?? 0 } : {}),
  });
}
