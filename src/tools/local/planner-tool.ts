import type { ToolAdapter } from '../tool-registry.js';

export interface PlanInput {
  goal: string;
  /** Tools the plan may use. */
  tools: string[];
  maxSteps: number;
  /** Reviewer feedback from a previous round, if any. */
  feedback?: string;
}

export interface PlanStep {
  tool: string;
  input: { [key: string]: unknown };
  why: string;
}

export interface Plan {
  steps: PlanStep[];
  summary: string;
}

const URL = /\bhttps?:\/\/[^\s"'<>]+/g;

/**
 * `llm.plan`, deterministic and local: a stand-in for a model that turns a goal into tool
 * calls. It reads numbers ("sum"), a URL (fetched with `http.request`), words and quoted text
 * out of the goal and proposes the allowed tools that apply, at most `maxSteps`. Same input,
 * same plan, so tests can rely on it.
 */
export const planTool: ToolAdapter<PlanInput, Plan> = async (input) => {
  const goal = String(input.goal ?? '');
  const allowed = new Set(input.tools ?? []);
  const steps: PlanStep[] = [];
  // A URL in the goal is fetched when the agent may use http.request (agent-task v2); its digits are not numbers to sum.
  const url = goal.match(URL)?.[0];
  const numbers = (goal.replace(URL, ' ').match(/-?\d+(?:\.\d+)?/g) ?? []).map(Number);
  if (allowed.has('math.sum') && numbers.length >= 2) {
    steps.push({ tool: 'math.sum', input: { numbers }, why: `the goal mentions ${numbers.length} numbers` });
  }
  if (allowed.has('http.request') && url) steps.push({ tool: 'http.request', input: { url }, why: 'the goal names a URL' });
  const quoted = goal.match(/"([^"]+)"/)?.[1];
  if (allowed.has('text.upper') && quoted) steps.push({ tool: 'text.upper', input: { text: quoted }, why: 'the goal quotes a text' });
  if (allowed.has('text.wordCount')) steps.push({ tool: 'text.wordCount', input: { text: goal }, why: 'measure the goal' });
  if (input.feedback && allowed.has('text.upper')) steps.push({ tool: 'text.upper', input: { text: input.feedback }, why: 'address the review feedback' });
  const bounded = steps.slice(0, Math.max(0, input.maxSteps));
  return { steps: bounded, summary: bounded.length ? `${bounded.length} step(s): ${bounded.map((s) => s.tool).join(', ')}` : 'nothing to do' };
};
