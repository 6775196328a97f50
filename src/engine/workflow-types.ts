import type { JsonObject, JsonValue } from './json.js';

/** `active` until the machine reaches a final state (`done`), fails (`error`) or is cancelled. */
export type WorkflowStatus = 'active' | 'done' | 'error' | 'cancelled';

export const FINAL_STATUSES: ReadonlySet<WorkflowStatus> = new Set(['done', 'error', 'cancelled']);

/** A loaded machine version, as clients see it. */
export interface MachineInfo {
  id: string;
  version: number;
  description: string;
  /** sha256 of the machine's definition and version; an instance is pinned to it. */
  definitionHash: string;
  /** `machine.toJSON()`, as JSON. */
  definition: JsonObject;
  inputSchema: JsonObject;
  /** For every state path ('a.b'): client event types it (or an ancestor) has a transition for. */
  stateEvents: Record<string, string[]>;
}

export interface TimerView {
  id: string;
  dueAt: Date;
}

export interface TaskView {
  id: string;
  actorId: string;
  src: string;
  /** pending | running (open tasks only are listed in a view). */
  status: string;
  attempts: number;
}

/** A workflow instance at one version. */
export interface WorkflowView {
  id: string;
  machineId: string;
  machineVersion: number;
  status: WorkflowStatus;
  /** xstate state value. */
  state: JsonValue;
  context: JsonObject;
  output?: JsonValue;
  error?: JsonValue;
  version: number;
  createdAt: Date;
  updatedAt: Date;
  /** Armed timers. Empty for a view of a past version (time travel). */
  timers: TimerView[];
  /** Open (pending, running, or waiting for a child workflow) tool tasks. Empty for a view of a past version. */
  tasks: TaskView[];
  /** Client event types the current state has a transition for (guards not evaluated). */
  acceptedEvents: string[];
  /** A child workflow (started by `workflow.start`): the workflow it reports to. */
  parentWorkflowId?: string;
}

/** One transition of the history: what happened at `version`. */
export interface HistoryEntry {
  workflowId: string;
  version: number;
  eventType: string;
  /** The event as the machine received it (`{ type, ...payload }`). */
  event: JsonObject;
  eventId?: string;
  /** State value before; null for version 1. */
  fromState: JsonValue | null;
  toState: JsonValue;
  status: WorkflowStatus;
  context: JsonObject;
  at: Date;
}
