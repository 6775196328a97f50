import type { JsonObject, JsonValue } from '../src/engine/json.js';
import type { PlanStep } from './agent-task.js';

/**
 * Planning with a model (`llm.chat`), as pure functions a machine calls inside its actions: the
 * prompt is built from the context and the answer is parsed from the tool's output, so a
 * transition stays a function of the snapshot and the event (deterministic, replayable).
 */

/** What `llm.chat` takes and gives, as far as planning needs (see src/tools/llm/llm-chat-tool.ts). */
export interface ChatInput {
  messages: { role: 'system' | 'user'; content: string }[];
  temperature: number;
  responseFormat: { type: 'json_object' };
}
export interface ChatOutput {
  message: { role: string; content: string | null };
}

export interface PlanRequest {
  goal: string;
  tools: string[];
  maxSteps: number;
  feedback: string | null;
}

/** The chat request that asks for a plan as a JSON object. */
export function planMessages(r: PlanRequest): ChatInput {
  const system = [
    'You plan tool calls for an agent. Answer with one JSON object and nothing else:',
    '{"summary": string, "steps": [{"tool": string, "input": object, "why": string}]}.',
    `Use only these tools: ${r.tools.join(', ')}. At most ${r.maxSteps} steps.`,
    'Inputs: math.sum {"numbers": number[]}; text.upper {"text": string}; text.wordCount {"text": string};',
    'http.request {"url": string, "method"?: string, "json"?: object}.',
  ].join('\n');
  const user = r.feedback === null ? `Goal: ${r.goal}` : `Goal: ${r.goal}\nReviewer feedback on the previous plan: ${r.feedback}`;
  return { messages: [{ role: 'system', content: system }, { role: 'user', content: user }], temperature: 0, responseFormat: { type: 'json_object' } };
}

/**
 * The plan in a chat answer, or why it is not one: not JSON, not the asked shape, or a step
 * naming a tool outside `tools` (the model does not get to widen what the agent may call).
 * Steps beyond `maxSteps` are dropped.
 */
export function parsePlan(output: ChatOutput | undefined, tools: readonly string[], maxSteps: number): { steps: PlanStep[]; summary: string } | { problem: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(output?.message?.content ?? '');
  } catch {
    return { problem: 'the model did not answer with JSON' };
  }
  const plan = parsed as { steps?: unknown; summary?: unknown } | null;
  if (typeof plan !== 'object' || plan === null || !Array.isArray(plan.steps)) return { problem: 'the answer has no steps list' };
  const steps: PlanStep[] = [];
  for (const raw of plan.steps as unknown[]) {
    const step = raw as { tool?: unknown; input?: unknown; why?: unknown } | null;
    if (typeof step !== 'object' || step === null || typeof step.tool !== 'string' || typeof step.input !== 'object' || step.input === null || Array.isArray(step.input)) {
      return { problem: 'a step is not { tool, input, why }' };
    }
    if (!tools.includes(step.tool)) return { problem: `the plan uses tool '${step.tool}', which this agent may not call` };
    steps.push({ tool: step.tool, input: step.input as JsonObject, why: typeof step.why === 'string' ? step.why : '' });
  }
  const bounded = steps.slice(0, Math.max(0, maxSteps));
  return { steps: bounded, summary: typeof plan.summary === 'string' ? plan.summary : `${bounded.length} step(s)` };
}

/** A planning failure as the machine records it (same fields machines read from tool errors). */
export function planError(problem: string): JsonValue {
  return { name: 'PlanError', kind: 'invalid_plan', message: problem };
}
