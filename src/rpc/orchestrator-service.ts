import { create } from '@bufbuild/protobuf';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect';
import type { WorkflowEngine } from '../engine/workflow-engine.js';
import {
  CancelWorkflowResponseSchema,
  GetHistoryResponseSchema,
  GetMachineResponseSchema,
  GetWorkflowResponseSchema,
  ListMachinesResponseSchema,
  ListToolCallsResponseSchema,
  ListWorkflowsResponseSchema,
  SendEventResponseSchema,
  StartWorkflowResponseSchema,
  WatchWorkflowResponseSchema,
  WorkflowStatus,
  type OrchestratorService,
} from '../../gen/orchestrator/v1/orchestrator_pb.js';
import { historyEntryMessage, machineMessage, statusFromProto, toolCallMessage, watchWorkflowsMessage, workflowMessage } from './workflow-messages.js';

/**
 * orchestrator.v1.OrchestratorService over the engine's public API. Checks
 * only what the wire format cannot (required ids); the engine validates the
 * rest and its errors are mapped to Connect codes by the error interceptor.
 */
export function orchestratorService(engine: WorkflowEngine): ServiceImpl<typeof OrchestratorService> {
  return {
    listMachines: () => create(ListMachinesResponseSchema, { machines: engine.listMachines().map(machineMessage) }),

    getMachine: (req) =>
      create(GetMachineResponseSchema, { machine: machineMessage(engine.getMachine(required(req.id, 'id'), req.version || undefined)) }),

    startWorkflow: async (req) => {
      const workflow = await engine.startWorkflow({
        machineId: required(req.machineId, 'machine_id'),
        machineVersion: req.machineVersion || undefined,
        input: req.input ?? {},
        workflowId: req.workflowId || undefined,
        requestId: req.requestId || undefined,
      });
      return create(StartWorkflowResponseSchema, { workflow: workflowMessage(workflow) });
    },

    getWorkflow: async (req) => {
      const workflow = await engine.getWorkflow(required(req.id, 'id'), { atVersion: req.atVersion || undefined });
      return create(GetWorkflowResponseSchema, { workflow: workflowMessage(workflow) });
    },

    listWorkflows: async (req) => {
      const status = req.status === WorkflowStatus.UNSPECIFIED ? undefined : statusFromProto(req.status);
      if (req.status !== WorkflowStatus.UNSPECIFIED && !status) throw invalid('status', 'is not a known workflow status');
      const page = await engine.listWorkflows({
        machineId: req.machineId || undefined,
        status,
        state: req.state || undefined,
        createdAfter: req.createdAfter ? timestampDate(req.createdAfter) : undefined,
        createdBefore: req.createdBefore ? timestampDate(req.createdBefore) : undefined,
        pageSize: req.pageSize || undefined,
        pageToken: req.pageToken || undefined,
      });
      return create(ListWorkflowsResponseSchema, { workflows: page.workflows.map(workflowMessage), nextPageToken: page.nextPageToken });
    },

    sendEvent: async (req) => {
      if (!req.event) throw invalid('event', 'is required');
      const workflow = await engine.sendEvent({
        workflowId: required(req.workflowId, 'workflow_id'),
        event: { type: required(req.event.type, 'event.type'), payload: req.event.payload },
        eventId: req.eventId || undefined,
        expectedVersion: req.expectedVersion,
      });
      return create(SendEventResponseSchema, { workflow: workflowMessage(workflow) });
    },

    cancelWorkflow: async (req) => {
      const workflow = await engine.cancelWorkflow({ workflowId: required(req.workflowId, 'workflow_id'), reason: req.reason });
      return create(CancelWorkflowResponseSchema, { workflow: workflowMessage(workflow) });
    },

    getHistory: async (req) => {
      const page = await engine.getHistory({
        workflowId: required(req.workflowId, 'workflow_id'),
        fromVersion: req.fromVersion || undefined,
        pageSize: req.pageSize || undefined,
        pageToken: req.pageToken || undefined,
      });
      return create(GetHistoryResponseSchema, { entries: page.entries.map(historyEntryMessage), nextPageToken: page.nextPageToken });
    },

    listToolCalls: async (req) => {
      const page = await engine.listToolCalls({ workflowId: required(req.workflowId, 'workflow_id'), pageSize: req.pageSize || undefined, pageToken: req.pageToken || undefined });
      return create(ListToolCallsResponseSchema, { calls: page.calls.map(toolCallMessage), nextPageToken: page.nextPageToken });
    },

    async *watchWorkflow(req, ctx) {
      const id = required(req.workflowId, 'workflow_id');
      const from = req.fromVersion || (await engine.getWorkflow(id)).version;
      for await (const entry of engine.watch(id, from, ctx.signal)) {
        yield create(WatchWorkflowResponseSchema, { entry: historyEntryMessage(entry) });
      }
      // A stream that ends because the client or the server went away must not end as OK.
      ctx.signal.throwIfAborted();
    },

    async *watchWorkflows(req, ctx) {
      const statuses = req.statuses.map((status) => {
        const engineStatus = statusFromProto(status);
        if (!engineStatus) throw invalid('statuses', `has a value that is not a known workflow status (${status})`);
        return engineStatus;
      });
      const stream = engine.watchWorkflows(
        {
          ...(req.machineId ? { machineId: req.machineId } : {}),
          ...(statuses.length ? { statuses } : {}),
          ...(req.since ? { since: timestampDate(req.since) } : {}),
          ...(req.cursor ? { cursor: req.cursor } : {}),
        },
        ctx.signal,
      );
      for await (const item of stream) yield watchWorkflowsMessage(item);
      ctx.signal.throwIfAborted();
    },
  };
}

function required(value: string, field: string): string {
  if (value.trim() === '') throw invalid(field, 'is required');
  return value;
}

function invalid(field: string, problem: string): ConnectError {
  return new ConnectError(`${field} ${problem}`, Code.InvalidArgument);
}
