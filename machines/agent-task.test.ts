import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { initialTransition, transition } from 'xstate';
import type { AnyMachineSnapshot } from 'xstate';
import { restoreSnapshot } from '../src/engine/machine-runtime.js';
import { ControlledTools } from '../tests/engine/support/controlled-tools.js';
import { createHarness } from '../tests/engine/support/engine-harness.js';
import type { Harness } from '../tests/engine/support/engine-harness.js';
import { drivePath, everyTransition, inPool, PATH_OPTIONS } from '../tests/engine/support/path-driver.js';
import { agentTask, agentTaskMachine } from './agent-task.js';
import type { AgentTaskContext } from './agent-task.js';

const input = { goal: 'sum 1 2', maxSteps: 2, maxRevisions: 1, approvalTimeoutMs: 1_000, escalationTimeoutMs: 2_000 };
// The engine walk delivers every timer itself (path-driver makes the row due); real delays long
// enough never to fire on their own on a slow machine, or a timer would race the path's next event.
const HOUR = 3_600_000;
const walkInput = { ...input, approvalTimeoutMs: HOUR, escalationTimeoutMs: 2 * HOUR };
const step = { tool: 'math.sum', input: { numbers: [1, 2] }, why: 'numbers' };
const boom = { name: 'Error', message: 'boom' };

/** Payloads for the graph: plans of none, one and two steps, tool results, failures, decisions. */
const events = () => [
  { type: 'xstate.done.actor.planner', output: { steps: [step], summary: '1 step' } },
  { type: 'xstate.done.actor.planner', output: { steps: [], summary: 'nothing to do' } },
  { type: 'xstate.done.actor.planner', output: { steps: [step, step], summary: '2 steps' } },
  { type: 'xstate.error.actor.planner', error: boom },
  { type: 'xstate.done.actor.toolCall', output: { tool: 'math.sum', output: { sum: 3 } } },
  { type: 'xstate.error.actor.toolCall', error: boom },
  { type: 'approval.granted', by: 'ann' },
  { type: 'approval.rejected', by: 'bob', reason: 'wrong' },
  { type: 'changes.requested', by: 'cy', feedback: 'add a word count' },
];

const ctx = (s: AnyMachineSnapshot) => s.context as AgentTaskContext;

describe('agent-task (pure transitions)', () => {
  it('plans first, with the goal, the allowed tools and the step bound', () => {
    const [s, actions] = initialTransition(agentTaskMachine, input);
    assert.equal(s.value, 'planning');
    const spawn = actions.find((a) => a.type === 'xstate.spawnChild');
    assert.deepEqual((spawn?.params as unknown as { input: unknown }).input, { goal: 'sum 1 2', tools: ['math.sum', 'text.upper', 'text.wordCount'], maxSteps: 2 });
  });

  it('calls the planned tools one by one and never more than maxSteps', () => {
    let [s] = initialTransition(agentTaskMachine, { ...input, maxSteps: 2 });
    [s] = transition(agentTaskMachine, s, { type: 'xstate.done.actor.planner', output: { steps: [step, step, step], summary: '3' } } as never);
    assert.equal(s.value, 'calling');
    for (let i = 0; i < 2; i++) [s] = transition(agentTaskMachine, s, { type: 'xstate.done.actor.toolCall', output: { tool: 'math.sum', output: { sum: i } } } as never);
    assert.deepEqual(s.value, { approval: 'waiting' });
    assert.equal(ctx(s).results.length, 2);
  });

  it('escalates an undecided approval, then rejects it at the deadline', () => {
    let [s] = initialTransition(agentTaskMachine, input);
    [s] = transition(agentTaskMachine, s, { type: 'xstate.done.actor.planner', output: { steps: [], summary: '' } } as never);
    const [escalated, armed] = transition(agentTaskMachine, s, { type: 'xstate.after.approvalTimeout.agent-task.approval.waiting' } as never);
    assert.deepEqual(escalated.value, { approval: 'escalated' });
    assert.equal(ctx(escalated).escalated, true);
    assert.deepEqual(armed.filter((a) => a.type === 'xstate.raise').map((a) => (a.params as { delay: number }).delay), [2_000]);
    const [rejected] = transition(agentTaskMachine, escalated, { type: 'xstate.after.escalationTimeout.agent-task.approval.escalated' } as never);
    assert.equal(rejected.status, 'done');
    assert.deepEqual(rejected.output, { outcome: 'rejected', summary: '', results: [], decidedBy: null, rejection: 'no decision before the approval deadline', error: null });
  });

  it('re-plans with feedback while revisions remain, then rejects', () => {
    let [s] = initialTransition(agentTaskMachine, { ...input, maxRevisions: 1 });
    [s] = transition(agentTaskMachine, s, { type: 'xstate.done.actor.planner', output: { steps: [], summary: '' } } as never);
    const [replanning, actions] = transition(agentTaskMachine, s, { type: 'changes.requested', by: 'cy', feedback: 'more' } as never);
    assert.equal(replanning.value, 'planning');
    assert.equal((actions.find((a) => a.type === 'xstate.spawnChild')?.params as unknown as { input: { feedback: string } }).input.feedback, 'more');
    [s] = transition(agentTaskMachine, replanning, { type: 'xstate.done.actor.planner', output: { steps: [], summary: '' } } as never);
    [s] = transition(agentTaskMachine, s, { type: 'changes.requested', by: 'cy', feedback: 'again' } as never);
    assert.equal(s.value, 'rejected');
  });

  it('completes without approval when none is required', () => {
    let [s] = initialTransition(agentTaskMachine, { ...input, requireApproval: false });
    [s] = transition(agentTaskMachine, s, { type: 'xstate.done.actor.planner', output: { steps: [], summary: 'nothing' } } as never);
    assert.equal(s.status, 'done');
    assert.equal((s.output as { outcome: string }).outcome, 'completed');
  });

  it('survives a JSON round trip of its snapshot mid-flight', () => {
    let [s] = initialTransition(agentTaskMachine, input);
    [s] = transition(agentTaskMachine, s, { type: 'xstate.done.actor.planner', output: { steps: [step], summary: '1' } } as never);
    const persisted = JSON.parse(JSON.stringify(agentTaskMachine.getPersistedSnapshot(s)));
    const restored = restoreSnapshot(agentTaskMachine, persisted);
    const event = { type: 'xstate.done.actor.toolCall', output: { tool: 'math.sum', output: { sum: 3 } } } as never;
    assert.deepEqual(agentTaskMachine.getPersistedSnapshot(transition(agentTaskMachine, restored, event)[0]), agentTaskMachine.getPersistedSnapshot(transition(agentTaskMachine, s, event)[0]));
  });
});

describe('agent-task: every transition through the real engine', () => {
  let h: Harness;
  before(async () => (h = await createHarness({ options: PATH_OPTIONS, machines: [agentTask], tools: new ControlledTools(['test.job', 'llm.plan', 'tools.call']) })));
  after(() => h.close());

  it('walks each transition of the graph and matches the pure machine at every step', async () => {
    const paths = everyTransition(agentTaskMachine, { input: walkInput, events });
    const reached = new Set(paths.map((p) => JSON.stringify(p.steps.at(-1)!.state.value)));
    for (const state of ['"planning"', '"calling"', '{"approval":"waiting"}', '{"approval":"escalated"}', '"completed"', '"rejected"', '"failed"']) {
      assert.ok(reached.has(state), `the graph reaches ${state}`);
    }
    assert.ok(paths.some((p) => p.name.startsWith('"calling" --') && p.name.endsWith('--> "calling"')), 'a plan of several steps loops through calling');
    console.log(`agent-task: ${paths.length} transitions, ${paths.reduce((n, p) => n + p.steps.length, 0)} steps`);
    await inPool(paths, 8, (p) => drivePath(h, 'agent-task', walkInput, p.steps, p.accepted).catch((error: Error) => {
      throw new Error(`${p.name}: ${error.message}`, { cause: error });
    }));
  });
});
