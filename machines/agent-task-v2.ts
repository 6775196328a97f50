import { assign, setup } from 'xstate';
import type { JsonValue } from '../src/engine/json.js';
import { defineWorkflow, tool } from '../src/engine/machine-kit.js';
import { parsePlan, planError, planMessages } from './agent-plan.js';
import type { ChatInput, ChatOutput } from './agent-plan.js';
import { agentTask } from './agent-task.js';
import type { AgentTaskContext, AgentTaskEvent, AgentTaskInput, PlanStep } from './agent-task.js';

/** What an http.request step gives the agent: the status and the JSON body (else the text). */
interface HttpOutput {
  status: number;
  body: string;
  json?: JsonValue;
}

export interface AgentTaskV2Context extends AgentTaskContext {
  /** Who made the current plan: the model (`llm.chat`) or the local planner (`llm.plan`). */
  planner: 'llm' | 'local' | null;
}

const DEFAULT_TOOLS = ['math.sum', 'text.upper', 'text.wordCount'];
const AGENT_TOOLS = [...DEFAULT_TOOLS, 'http.request'];
const HOUR = 3_600_000;

type Done<T> = { output: T };
type Failed = { error: unknown };

/**
 * agent-task version 2: the same agent as version 1 (bounded tool loop, approval with escalation
 * and revisions), on the real adapters.
 * - Plans with `llm.chat` (the prompt and the parsing are pure, see agent-plan.ts). When the
 *   service has no model configured (`LLM_BASE_URL` unset), `llm.chat` fails `not_configured`
 *   and the agent plans with the deterministic local planner `llm.plan` instead; any other
 *   model failure (after its policy's retries) or an unreadable plan ends it `failed`.
 * - A step whose tool is `http.request` is made with the `http.request` tool (allowed hosts,
 *   Idempotency-Key, its policy); other steps go through `tools.call` as before. A failed step
 *   ends it `failed` with the tool's structured error (`error.kind`, `error.status`).
 */
export const agentTaskV2Machine = setup({
  types: {} as { context: AgentTaskV2Context; events: AgentTaskEvent; input: AgentTaskInput },
  actors: {
    'llm.chat': tool<ChatInput, ChatOutput>(),
    'llm.plan': tool<{ goal: string; tools: string[]; maxSteps: number; feedback?: string }, { steps: PlanStep[]; summary: string }>(),
    'http.request': tool<PlanStep['input'], HttpOutput>(),
    'tools.call': tool<PlanStep, { tool: string; output: JsonValue }>(),
  },
  guards: {
    isReadablePlan: ({ context, event }) => !('problem' in parsePlan((event as unknown as Done<ChatOutput>).output, context.tools, context.maxSteps)),
    // `code` equals `kind` on tool errors and is set on every engine error.
    isModelMissing: ({ event }) => ((event as unknown as Failed).error as { code?: unknown } | null)?.code === 'not_configured',
    nextIsHttp: ({ context }) => context.step < context.plan.length && context.step < context.maxSteps && context.plan[context.step]!.tool === 'http.request',
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
    planner: null,
  }),
  initial: 'planning',
  states: {
    planning: {
      invoke: {
        id: 'planner',
        src: 'llm.chat',
        input: ({ context }) => planMessages(context),
        onDone: [
          {
            guard: 'isReadablePlan',
            target: 'executing',
            actions: assign(({ context, event }) => {
              const plan = parsePlan(event.output, context.tools, context.maxSteps) as { steps: PlanStep[]; summary: string };
              return { plan: plan.steps, summary: plan.summary, step: 0, results: [], planner: 'llm' as const };
            }),
          },
          {
            target: 'failed',
            actions: assign({ error: ({ context, event }) => planError((parsePlan(event.output, context.tools, context.maxSteps) as { problem: string }).problem) }),
          },
        ],
        onError: [
          { guard: 'isModelMissing', target: 'planningLocally' },
          { target: 'failed', actions: assign({ error: ({ event }) => event.error as JsonValue }) },
        ],
      },
    },
    planningLocally: {
      invoke: {
        id: 'localPlanner',
        src: 'llm.plan',
        input: ({ context }) => ({
          goal: context.goal,
          tools: context.tools,
          maxSteps: context.maxSteps,
          ...(context.feedback === null ? {} : { feedback: context.feedback }),
        }),
        onDone: {
          target: 'executing',
          actions: assign({ plan: ({ event }) => event.output.steps, summary: ({ event }) => event.output.summary, step: 0, results: [], planner: 'local' }),
        },
        onError: { target: 'failed', actions: assign({ error: ({ event }) => event.error as JsonValue }) },
      },
    },
    executing: {
      always: [
        { guard: 'nextIsHttp', target: 'requesting' },
        { guard: 'hasNextStep', target: 'calling' },
        { guard: 'needsApproval', target: 'approval' },
        { target: 'completed' },
      ],
    },
    requesting: {
      invoke: {
        id: 'httpCall',
        src: 'http.request',
        input: ({ context }) => context.plan[context.step]!.input,
        onDone: {
          target: 'executing',
          actions: assign({
            results: ({ context, event }) => [...context.results, { tool: 'http.request', output: { status: event.output.status, body: event.output.json ?? event.output.body } }],
            step: ({ context }) => context.step + 1,
          }),
        },
        onError: { target: 'failed', actions: assign({ error: ({ event }) => event.error as JsonValue }) },
      },
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
    planner: context.planner,
    results: context.results,
    decidedBy: context.decidedBy,
    rejection: context.rejection,
    error: context.error,
  }),
});

export const agentTaskV2 = defineWorkflow({
  id: 'agent-task',
  version: 2,
  description: 'Plans tool calls for a goal with a model (llm.chat; the local planner when no model is configured), runs them (http.request included, bounded), then waits for human approval with escalation.',
  machine: agentTaskV2Machine,
  inputSchema: {
    ...agentTask.inputSchema,
    properties: {
      ...agentTask.inputSchema.properties,
      tools: { type: 'array', maxItems: 20, items: { type: 'string', enum: AGENT_TOOLS } },
    },
  },
  ...(agentTask.eventSchemas ? { eventSchemas: agentTask.eventSchemas } : {}),
});
