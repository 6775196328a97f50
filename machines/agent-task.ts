import { assign, setup } from 'xstate';
import { defineWorkflow, tool } from '../src/engine/machine-kit.js';
import type { JsonObject, JsonValue } from '../src/engine/json.js';

/** One tool call of a plan. */
export interface PlanStep {
  tool: string;
  input: JsonObject;
  why: string;
}

export interface AgentTaskInput {
  goal: string;
  /** Tools the plan may use (default: all agent-callable tools). */
  tools?: string[];
  /** Upper bound on tool calls per plan. */
  maxSteps?: number;
  requireApproval?: boolean;
  /** Waiting for a decision longer than this escalates. */
  approvalTimeoutMs?: number;
  /** Escalated and still undecided after this much longer: rejected. */
  escalationTimeoutMs?: number;
  /** How often a reviewer may send the work back for another plan. */
  maxRevisions?: number;
}

export interface AgentTaskContext {
  goal: string;
  tools: string[];
  maxSteps: number;
  requireApproval: boolean;
  approvalTimeoutMs: number;
  escalationTimeoutMs: number;
  maxRevisions: number;
  plan: PlanStep[];
  summary: string;
  step: number;
  results: { tool: string; output: JsonValue }[];
  revisions: number;
  feedback: string | null;
  escalated: boolean;
  decidedBy: string | null;
  rejection: string | null;
  error: JsonValue | null;
  outcome: 'running' | 'completed' | 'rejected' | 'failed';
}

export type AgentTaskEvent =
  | { type: 'approval.granted'; by: string; comment?: string }
  | { type: 'approval.rejected'; by: string; reason: string }
  | { type: 'changes.requested'; by: string; feedback: string };

const DEFAULT_TOOLS = ['math.sum', 'text.upper', 'text.wordCount'];
const HOUR = 3_600_000;

/**
 * An agent working on a goal: a model plans tool calls, the agent makes them one by one
 * (never more than `maxSteps`), then a human approves the result. Undecided approvals
 * escalate after `approvalTimeoutMs` and are rejected after `escalationTimeoutMs` more; a
 * reviewer may request changes, which re-plans with the feedback (at most `maxRevisions`
 * times). Ends `done` with `output.outcome` completed, rejected or failed (a tool failed).
 */
export const agentTaskMachine = setup({
  types: {} as { context: AgentTaskContext; events: AgentTaskEvent; input: AgentTaskInput },
  actors: {
    'llm.plan': tool<{ goal: string; tools: string[]; maxSteps: number; feedback?: string }, { steps: PlanStep[]; summary: string }>(),
    'tools.call': tool<PlanStep, { tool: string; output: JsonValue }>(),
  },
  guards: {
    hasNextStep: ({ context }) => context.step < context.plan.length && context.step < context.maxSteps,
    needsApproval: ({ context }) => context.requireApproval,
    canRevise: ({ context }) => context.revisions < context.maxRevisions,
  },
  delays: {
    approvalTimeout: ({ context }) => context.approvalTimeoutMs,
    escalationTimeout: ({ context }) => context.escalationTimeoutMs,
  },
}).createMachine({
  id: 'agent-task',
  // `input` is absent when xstate builds a throw-away initial state inside transition().
  context: ({ input }) => ({
    goal: input?.goal ?? '',
    tools: input?.tools ?? DEFAULT_TOOLS,
    maxSteps: input?.maxSteps ?? 5,
    requireApproval: input?.requireApproval ?? true,
    approvalTimeoutMs: input?.approvalTimeoutMs ?? 24 * HOUR,
    escalationTimeoutMs: input?.escalationTimeoutMs ?? 48 * HOUR,
    maxRevisions: input?.maxRevisions ?? 2,
    plan: [],
    summary: '',
    step: 0,
    results: [],
    revisions: 0,
    feedback: null,
    escalated: false,
    decidedBy: null,
    rejection: null,
    error: null,
    outcome: 'running',
  }),
  initial: 'planning',
  states: {
    planning: {
      invoke: {
        id: 'planner',
        src: 'llm.plan',
        input: ({ context }) => ({
          goal: context.goal,
          tools: context.tools,
          maxSteps: context.maxSteps,
          ...(context.feedback === null ? {} : { feedback: context.feedback }),
        }),
        onDone: {
          target: 'executing',
          actions: assign({ plan: ({ event }) => event.output.steps, summary: ({ event }) => event.output.summary, step: 0, results: [] }),
        },
        onError: { target: 'failed', actions: assign({ error: ({ event }) => event.error as JsonValue }) },
      },
    },
    executing: {
      always: [
        { guard: 'hasNextStep', target: 'calling' },
        { guard: 'needsApproval', target: 'approval' },
        { target: 'completed' },
      ],
    },
    calling: {
      invoke: {
        id: 'toolCall',
        src: 'tools.call',
        input: ({ context }) => context.plan[context.step]!,
        onDone: {
          target: 'executing',
          actions: assign({
            results: ({ context, event }) => [...context.results, { tool: event.output.tool, output: event.output.output }],
            step: ({ context }) => context.step + 1,
          }),
        },
        onError: { target: 'failed', actions: assign({ error: ({ event }) => event.error as JsonValue }) },
      },
    },
    approval: {
      initial: 'waiting',
      on: {
        'approval.granted': { target: 'completed', actions: assign({ decidedBy: ({ event }) => event.by }) },
        'approval.rejected': { target: 'rejected', actions: assign({ decidedBy: ({ event }) => event.by, rejection: ({ event }) => event.reason }) },
        'changes.requested': [
          {
            guard: 'canRevise',
            target: 'planning',
            actions: assign({ feedback: ({ event }) => event.feedback, revisions: ({ context }) => context.revisions + 1 }),
          },
          { target: 'rejected', actions: assign({ decidedBy: ({ event }) => event.by, rejection: 'changes requested after the last allowed revision' }) },
        ],
      },
      states: {
        waiting: { after: { approvalTimeout: { target: 'escalated', actions: assign({ escalated: true }) } } },
        escalated: { after: { escalationTimeout: { target: '#agent-task.rejected', actions: assign({ rejection: 'no decision before the approval deadline' }) } } },
      },
    },
    completed: { type: 'final', entry: assign({ outcome: 'completed' }) },
    rejected: { type: 'final', entry: assign({ outcome: 'rejected' }) },
    failed: { type: 'final', entry: assign({ outcome: 'failed' }) },
  },
  output: ({ context }) => ({
    outcome: context.outcome,
    summary: context.summary,
    results: context.results,
    decidedBy: context.decidedBy,
    rejection: context.rejection,
    error: context.error,
  }),
});

export const agentTask = defineWorkflow({
  id: 'agent-task',
  version: 1,
  description: 'Plans tool calls for a goal with a model, runs them (bounded), then waits for human approval with escalation.',
  machine: agentTaskMachine,
  inputSchema: {
    type: 'object',
    required: ['goal'],
    additionalProperties: false,
    properties: {
      goal: { type: 'string', minLength: 1, maxLength: 2000, description: 'What the agent should achieve.' },
      tools: { type: 'array', maxItems: 20, items: { type: 'string', enum: DEFAULT_TOOLS } },
      maxSteps: { type: 'integer', minimum: 0, maximum: 20 },
      requireApproval: { type: 'boolean' },
      approvalTimeoutMs: { type: 'integer', minimum: 1, maximum: 30 * 24 * HOUR },
      escalationTimeoutMs: { type: 'integer', minimum: 1, maximum: 30 * 24 * HOUR },
      maxRevisions: { type: 'integer', minimum: 0, maximum: 10 },
    },
  },
  eventSchemas: {
    'approval.granted': { type: 'object', required: ['by'], properties: { by: { type: 'string', minLength: 1 }, comment: { type: 'string' } } },
    'approval.rejected': { type: 'object', required: ['by', 'reason'], properties: { by: { type: 'string', minLength: 1 }, reason: { type: 'string' } } },
    'changes.requested': { type: 'object', required: ['by', 'feedback'], properties: { by: { type: 'string', minLength: 1 }, feedback: { type: 'string', minLength: 1 } } },
  },
});
