import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { initialTransition, transition } from 'xstate';
import type { AnyMachineSnapshot } from 'xstate';
import { ControlledTools } from '../tests/engine/support/controlled-tools.js';
import { createHarness } from '../tests/engine/support/engine-harness.js';
import type { Harness } from '../tests/engine/support/engine-harness.js';
import { drivePath, everyTransition, inPool, PATH_OPTIONS } from '../tests/engine/support/path-driver.js';
import { agentTaskV2, agentTaskV2Machine } from './agent-task-v2.js';
import type { AgentTaskV2Context } from './agent-task-v2.js';

const input = { goal: 'fetch http://api.test/x and sum 1 2', tools: ['math.sum', 'http.request'], maxSteps: 2, maxRevisions: 1, approvalTimeoutMs: 1_000, escalationTimeoutMs: 2_000 };
// The engine walk delivers every timer itself (path-driver makes the row due); real delays long
// enough never to fire on their own on a slow machine, or a timer would race the path's next event.
const HOUR = 3_600_000;
const walkInput = { ...input, approvalTimeoutMs: HOUR, escalationTimeoutMs: 2 * HOUR };
const httpStep = { tool: 'http.request', input: { url: 'http://api.test/x' }, why: 'fetch' };
const sumStep = { tool: 'math.sum', input: { numbers: [1, 2] }, why: 'numbers' };
const chat = (content: unknown) => ({ type: 'xstate.done.actor.planner', output: { model: 'm', message: { role: 'assistant', content: typeof content === 'string' ? content : JSON.stringify(content) } } });
const toolError = (kind: string, extra: Record<string, unknown> = {}) => ({ name: 'ToolError', code: kind, tool: 't', kind, attempts: 1, message: kind, ...extra });
/** The fields the graph driver's rejected calls carry through the engine (name, message, code). */
const failure = (code: string) => ({ name: 'ToolError', message: code, code });

/** Payloads for the graph: model plans (http, tool, empty, unreadable), the model missing or failing, step results and failures, decisions. */
const events = () => [
  chat({ summary: 'fetch then sum', steps: [httpStep, sumStep] }),
  chat({ summary: 'nothing', steps: [] }),
  chat('not json'),
  { type: 'xstate.error.actor.planner', error: failure('not_configured') },
  { type: 'xstate.error.actor.planner', error: failure('http') },
  { type: 'xstate.done.actor.localPlanner', output: { steps: [sumStep], summary: '1 step' } },
  { type: 'xstate.error.actor.localPlanner', error: failure('tool_error') },
  { type: 'xstate.done.actor.httpCall', output: { status: 200, headers: {}, body: '{"v":1}', json: { v: 1 } } },
  { type: 'xstate.error.actor.httpCall', error: failure('http') },
  { type: 'xstate.done.actor.toolCall', output: { tool: 'math.sum', output: { sum: 3 } } },
  { type: 'xstate.error.actor.toolCall', error: failure('tool_error') },
  { type: 'approval.granted', by: 'ann' },
  { type: 'approval.rejected', by: 'bob', reason: 'wrong' },
  { type: 'changes.requested', by: 'cy', feedback: 'again' },
];

const ctx = (s: AnyMachineSnapshot) => s.context as AgentTaskV2Context;
const step = (s: AnyMachineSnapshot, event: unknown) => transition(agentTaskV2Machine, s, event as never)[0];

describe('agent-task v2 (pure transitions)', () => {
  it('asks the model for a JSON plan naming the allowed tools', () => {
    const [s, actions] = initialTransition(agentTaskV2Machine, input);
    assert.equal(s.value, 'planning');
    const spawn = actions.find((a) => a.type === 'xstate.spawnChild')?.params as unknown as { src: string; input: { messages: { content: string }[]; responseFormat: unknown } };
    assert.equal(spawn.src, 'llm.chat');
    assert.match(spawn.input.messages[0]!.content, /Use only these tools: math\.sum, http\.request\. At most 2 steps/);
    assert.equal(spawn.input.messages[1]!.content, `Goal: ${input.goal}`);
    assert.deepEqual(spawn.input.responseFormat, { type: 'json_object' });
  });

  it('makes http.request steps with http.request and the rest through tools.call', () => {
    let s = step(initialTransition(agentTaskV2Machine, { ...input, requireApproval: false })[0], chat({ summary: 'two', steps: [httpStep, sumStep] }));
    assert.equal(s.value, 'requesting');
    assert.equal(ctx(s).planner, 'llm');
    s = step(s, { type: 'xstate.done.actor.httpCall', output: { status: 200, headers: {}, body: '{"v":1}', json: { v: 1 } } });
    assert.equal(s.value, 'calling');
    s = step(s, { type: 'xstate.done.actor.toolCall', output: { tool: 'math.sum', output: { sum: 3 } } });
    assert.equal(s.status, 'done');
    assert.deepEqual((s.output as { results: unknown }).results, [
      { tool: 'http.request', output: { status: 200, body: { v: 1 } } },
      { tool: 'math.sum', output: { sum: 3 } },
    ]);
  });

  it('plans with the local planner when no model is configured, and fails on any other model error', () => {
    const [start] = initialTransition(agentTaskV2Machine, input);
    const local = step(start, { type: 'xstate.error.actor.planner', error: toolError('not_configured') });
    assert.equal(local.value, 'planningLocally');
    assert.equal(ctx(step(local, { type: 'xstate.done.actor.localPlanner', output: { steps: [sumStep], summary: '1' } })).planner, 'local');
    const failed = step(start, { type: 'xstate.error.actor.planner', error: toolError('http', { status: 503 }) });
    assert.equal(failed.value, 'failed');
    assert.deepEqual((failed.output as { error: { kind: string; status: number } }).error.status, 503);
  });

  it('refuses an unreadable plan and a plan naming a tool the agent may not call', () => {
    const [start] = initialTransition(agentTaskV2Machine, input);
    assert.match((step(start, chat('{"steps": 3}')).output as { error: { message: string } }).error.message, /no steps list/);
    const widened = step(start, chat({ steps: [{ tool: 'text.upper', input: { text: 'x' }, why: '' }] }));
    assert.deepEqual([widened.value, (widened.output as { error: { kind: string } }).error.kind], ['failed', 'invalid_plan']);
  });

  it('takes the failure branch with the structured error when a step fails', () => {
    let s = step(initialTransition(agentTaskV2Machine, input)[0], chat({ steps: [httpStep] }));
    s = step(s, { type: 'xstate.error.actor.httpCall', error: toolError('http', { status: 503, attempts: 4 }) });
    assert.equal(s.value, 'failed');
    assert.deepEqual((s.output as { outcome: string; error: { attempts: number } }).outcome, 'failed');
  });
});

describe('agent-task v2: every transition through the real engine', () => {
  let h: Harness;
  before(async () => (h = await createHarness({ options: PATH_OPTIONS, machines: [agentTaskV2], tools: new ControlledTools(['test.job', 'llm.chat', 'llm.plan', 'http.request', 'tools.call']) })));
  after(() => h.close());

  it('walks each transition of the graph and matches the pure machine at every step', async () => {
    const paths = everyTransition(agentTaskV2Machine, { input: walkInput, events });
    const reached = new Set(paths.map((p) => JSON.stringify(p.steps.at(-1)!.state.value)));
    for (const state of ['"planningLocally"', '"requesting"', '"calling"', '{"approval":"escalated"}', '"completed"', '"rejected"', '"failed"']) assert.ok(reached.has(state), `the graph reaches ${state}`);
    await inPool(paths, 8, (p) => drivePath(h, 'agent-task', walkInput, p.steps, p.accepted).catch((error: Error) => {
      throw new Error(`${p.name}: ${error.message}`, { cause: error });
    }));
  });
});
