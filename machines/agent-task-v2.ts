import { assign, setup } from 'xstate';
import type { JsonValue } from '../src/engine/json.js';
import { defineWorkflow, tool } from '../src/engine/machine-kit.js';
import { parsePlan, planError, planMessages } from './agent-plan.js';
import type { ChatInput, ChatOutput } from './agent-plan.js';
import { agentTask, agentTaskMachine } from './agent-task.js';
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

const AGENT_TOOLS = ['math.sum', 'text.upper', 'text.wordCount', 'http.request'];
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const v1 = agentTaskMachine.config as any;

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
}).createMachine(config());

/**
 * Version 1's config with planning, step routing and HTTP steps replaced (calling, approval and
 * the final states are version 1's, as data), so version 1 is neither copied nor changed.
 */
function config(): any {
  return {
    ...v1,
    context: ({ input }: { input: AgentTaskInput }) => ({ ...v1.context({ input }), planner: null }),
    states: {
      ...v1.states,
      planning: {
        invoke: {
          id: 'planner',
          src: 'llm.chat',
          input: ({ context }: { context: AgentTaskV2Context }) => planMessages(context),
          onDone: [
            {
              guard: 'isReadablePlan',
              target: 'executing',
              actions: assign(({ context, event }) => {
                const plan = parsePlan(event.output as ChatOutput, context.tools as string[], context.maxSteps as number) as { steps: PlanStep[]; summary: string };
                return { plan: plan.steps, summary: plan.summary, step: 0, results: [], planner: 'llm' };
              }),
            },
            {
              target: 'failed',
              actions: assign({ error: ({ context, event }) => planError((parsePlan(event.output as ChatOutput, context.tools as string[], context.maxSteps as number) as { problem: string }).problem) }),
            },
          ],
          onError: [
            { guard: 'isModelMissing', target: 'planningLocally' },
            { target: 'failed', actions: assign({ error: ({ event }) => event.error as JsonValue }) },
          ],
        },
      },
      // Version 1's planner, under its own invoke id.
      planningLocally: {
        invoke: { ...v1.states.planning.invoke, id: 'localPlanner', onDone: { ...v1.states.planning.invoke.onDone, actions: [v1.states.planning.invoke.onDone.actions, assign({ planner: 'local' })] } },
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
          input: ({ context }: { context: AgentTaskV2Context }) => context.plan[context.step]!.input,
          onDone: {
            target: 'executing',
            actions: assign({
              results: ({ context, event }) => {
                const output = event.output as HttpOutput;
                return [...(context.results as AgentTaskContext['results']), { tool: 'http.request', output: { status: output.status, body: output.json ?? output.body } }];
              },
              step: ({ context }) => (context.step as number) + 1,
            }),
          },
          onError: v1.states.calling.invoke.onError,
        },
      },
    },
    output: ({ context }: { context: AgentTaskV2Context }) => ({ ...v1.output({ context }), planner: context.planner }),
  };
}

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
