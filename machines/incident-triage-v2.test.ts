import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { initialTransition, transition } from 'xstate';
import type { AnyMachineSnapshot } from 'xstate';
import { childWorkflowId } from '../src/engine/child-workflows.js';
import { ControlledTools } from '../tests/engine/support/controlled-tools.js';
import { createHarness } from '../tests/engine/support/engine-harness.js';
import type { Harness } from '../tests/engine/support/engine-harness.js';
import { untilEntry } from '../tests/engine/support/wait.js';
import { agentTaskV2 } from './agent-task-v2.js';
import { incidentTriageV2, incidentTriageV2Machine } from './incident-triage-v2.js';
import type { IncidentV2Context } from './incident-triage-v2.js';

const input = { title: 'checkout errors', service: 'shop', ackTimeoutMs: 60_000, updateIntervalMs: 60_000, maxUpdates: 1, monitorMs: 60_000 };
const rating = (content: string) => ({ type: 'xstate.done.actor.classifier', output: { message: { role: 'assistant', content } } });
const step = (s: AnyMachineSnapshot, event: unknown) => transition(incidentTriageV2Machine, s, event as never)[0];
const ctx = (s: AnyMachineSnapshot) => s.context as IncidentV2Context;
const classification = (s: AnyMachineSnapshot) => (s.value as { triage: { classification: string } }).triage.classification;

describe('incident-triage v2 (pure transitions)', () => {
  it('asks the model to rate the incident and takes a readable rating', () => {
    const [s, actions] = initialTransition(incidentTriageV2Machine, input);
    const spawns = actions.filter((a) => a.type === 'xstate.spawnChild').map((a) => a.params as unknown as { id: string; src: string; input: { messages: { content: string }[] } });
    assert.deepEqual(spawns.map((p) => [p.id, p.src]), [['classifier', 'llm.chat'], ['pager', 'notify.page']]);
    assert.match(spawns[0]!.input.messages[1]!.content, /Service: shop\nTitle: checkout errors/);
    const rated = step(s, rating('{"severity":"sev1","reason":"checkout down"}'));
    assert.deepEqual([ctx(rated).severity, ctx(rated).severityReason], ['sev1', 'checkout down']);
  });

  it('classifies locally when no model is configured, and falls back to sev2 on an unreadable answer or a model failure', () => {
    const [s] = initialTransition(incidentTriageV2Machine, input);
    const local = step(s, { type: 'xstate.error.actor.classifier', error: { name: 'ToolError', code: 'not_configured', message: 'no model' } });
    assert.equal(classification(local), 'classifyingLocally');
    assert.equal(ctx(step(local, { type: 'xstate.done.actor.localClassifier', output: { severity: 'sev3', reason: 'slowness' } })).severity, 'sev3');
    assert.deepEqual([ctx(step(s, rating('sev1!'))).severity, ctx(step(s, rating('sev1!'))).severityReason], ['sev2', 'the model answer was not a rating']);
    const failed = step(s, { type: 'xstate.error.actor.classifier', error: { name: 'ToolError', code: 'http', message: '503' } });
    assert.deepEqual([classification(failed), ctx(failed).severity], ['classified', 'sev2']);
  });
});

describe('incident-triage v2 through the engine: an agent-task child investigates', () => {
  let h: Harness;
  before(async () => {
    const tools = new ControlledTools(['test.job', 'llm.chat', 'llm.plan', 'llm.classify', 'notify.page', 'notify.status', 'http.request', 'tools.call'], {
      'llm.chat': () => Promise.reject(Object.assign(new Error('no model'), { code: 'not_configured' })),
      'llm.classify': () => ({ severity: 'sev2', reason: 'errors' }),
      'notify.page': () => ({ delivered: true, target: 'x' }),
      'llm.plan': () => ({ steps: [], summary: 'nothing to do' }),
    });
    h = await createHarness({ machines: [agentTaskV2, incidentTriageV2], tools });
  });
  after(() => h.close());

  it('runs the investigation as an agent-task child workflow while open and records its output', async () => {
    await h.engine.startWorkflow({ machineId: 'incident-triage', workflowId: 'inc-a', input: { ...input, investigate: true } });
    const opened = await untilEntry(h.engine, 'inc-a', (e) => JSON.stringify(e.toState).includes('"investigation"'), 10_000);
    // The agent child plans locally (no model) with nothing to do and completes at once, maybe
    // before the watcher hears of the version that started it: its task id is `<actor>@<version>`.
    const done = await untilEntry(h.engine, 'inc-a', (e) => e.eventType === 'xstate.done.actor.investigator', 10_000);
    assert.equal((done.context.investigation as { outcome: string; planner: string }).planner, 'local');
    const child = await h.engine.getWorkflow(childWorkflowId({ workflowId: 'inc-a', taskId: `investigator@${opened.version}` }));
    assert.deepEqual([child.machineId, child.machineVersion, child.status], ['agent-task', 2, 'done']);
  });
});
