import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { initialTransition, transition } from 'xstate';
import type { AnyMachineSnapshot } from 'xstate';
import { restoreSnapshot } from '../src/engine/machine-runtime.js';
import { ControlledTools } from '../tests/engine/support/controlled-tools.js';
import { createHarness } from '../tests/engine/support/engine-harness.js';
import type { Harness } from '../tests/engine/support/engine-harness.js';
import { drivePath, everyTransition, inPool, PATH_OPTIONS } from '../tests/engine/support/path-driver.js';
import { incidentTriage, incidentTriageMachine } from './incident-triage.js';
import type { IncidentContext } from './incident-triage.js';

const input = { title: 'checkout errors', service: 'shop', ackTimeoutMs: 1_000, updateIntervalMs: 1_500, maxUpdates: 1, monitorMs: 2_000 };
// The engine walk delivers every timer itself (path-driver makes the row due); real delays long
// enough never to fire on their own on a slow machine, or a timer would race the path's next event.
const HOUR = 3_600_000;
const walkInput = { ...input, ackTimeoutMs: HOUR, updateIntervalMs: HOUR, monitorMs: HOUR };
const boom = { name: 'Error', message: 'boom' };
const events = () => [
  { type: 'xstate.done.actor.classifier', output: { severity: 'sev2', reason: 'errors' } },
  { type: 'xstate.error.actor.classifier', error: boom },
  { type: 'xstate.done.actor.pager', output: { delivered: true, target: 'oncall:shop:primary' } },
  { type: 'xstate.error.actor.pager', error: boom },
  { type: 'xstate.done.actor.escalation', output: { delivered: true, target: 'oncall:shop:secondary' } },
  { type: 'xstate.error.actor.escalation', error: boom },
  { type: 'xstate.done.actor.statusUpdate', output: { posted: true } },
  { type: 'xstate.error.actor.statusUpdate', error: boom },
  { type: 'incident.acknowledged', by: 'ann' },
  { type: 'incident.mitigated', summary: 'rolled back' },
  { type: 'incident.regressed', reason: 'errors again' },
  { type: 'incident.resolved', reason: 'false alarm' },
];

const ctx = (s: AnyMachineSnapshot) => s.context as IncidentContext;
const done = (id: string, output: unknown) => ({ type: `xstate.done.actor.${id}`, output }) as never;

describe('incident-triage (pure transitions)', () => {
  it('classifies and pages in parallel, and opens when both are done', () => {
    const [s0, actions] = initialTransition(incidentTriageMachine, input);
    assert.deepEqual(s0.value, { triage: { classification: 'classifying', paging: 'paging' } });
    assert.deepEqual(actions.filter((a) => a.type === 'xstate.spawnChild').map((a) => (a.params as unknown as { id: string }).id), ['classifier', 'pager']);
    const [s1] = transition(incidentTriageMachine, s0, done('pager', { delivered: true, target: 'x' }));
    assert.deepEqual(s1.value, { triage: { classification: 'classifying', paging: 'paged' } });
    const [s2, opened] = transition(incidentTriageMachine, s1, done('classifier', { severity: 'sev1', reason: 'outage' }));
    assert.deepEqual(s2.value, { open: { response: 'unacknowledged', updates: 'waiting' } });
    assert.equal(ctx(s2).severity, 'sev1');
    const timers = opened.filter((a) => a.type === 'xstate.raise').map((a) => (a.params as { id: string; delay: number }));
    assert.deepEqual(timers.map((t) => [t.id, t.delay]), [
      ['xstate.after.ackTimeout.incident-triage.open.response.unacknowledged', 1_000],
      ['xstate.after.updateInterval.incident-triage.open.updates.waiting', 1_500],
    ]);
  });

  it('assumes sev2 when classification fails, keeping a reported severity', () => {
    const [s0] = initialTransition(incidentTriageMachine, { ...input, severity: 'sev3' });
    const [s1] = transition(incidentTriageMachine, s0, { type: 'xstate.error.actor.classifier', error: boom } as never);
    assert.equal(ctx(s1).severity, 'sev3');
  });

  it('leaving the open state cancels the timers and tasks of both regions', () => {
    let [s] = initialTransition(incidentTriageMachine, input);
    [s] = transition(incidentTriageMachine, s, done('pager', {}));
    [s] = transition(incidentTriageMachine, s, done('classifier', { severity: 'sev2', reason: '' }));
    [s] = transition(incidentTriageMachine, s, { type: 'incident.acknowledged', by: 'ann' } as never);
    const [monitoring, actions] = transition(incidentTriageMachine, s, { type: 'incident.mitigated', summary: 'fixed' } as never);
    assert.equal(monitoring.value, 'monitoring');
    assert.deepEqual((actions as { type: string; params: unknown }[]).filter((a) => a.type === 'xstate.cancel').map((a) => (a.params as { sendId: string }).sendId), [
      'xstate.after.updateInterval.incident-triage.open.updates.waiting',
    ]);
    const [resolved] = transition(incidentTriageMachine, monitoring, { type: 'xstate.after.monitorPeriod.incident-triage.monitoring' } as never);
    assert.equal(resolved.status, 'done');
    assert.deepEqual(resolved.output, { severity: 'sev2', escalations: 0, acknowledgedBy: 'ann', updates: 0, regressions: 0, resolution: 'mitigated and stable' });
  });

  it('survives a JSON round trip of its parallel snapshot', () => {
    let [s] = initialTransition(incidentTriageMachine, input);
    [s] = transition(incidentTriageMachine, s, done('pager', {}));
    const restored = restoreSnapshot(incidentTriageMachine, JSON.parse(JSON.stringify(incidentTriageMachine.getPersistedSnapshot(s))));
    assert.deepEqual(restored.value, s.value);
    const event = done('classifier', { severity: 'sev4', reason: '' });
    assert.deepEqual(
      incidentTriageMachine.getPersistedSnapshot(transition(incidentTriageMachine, restored, event)[0]),
      incidentTriageMachine.getPersistedSnapshot(transition(incidentTriageMachine, s, event)[0]),
    );
  });
});

describe('incident-triage: every transition through the real engine', () => {
  let h: Harness;
  before(async () => (h = await createHarness({ options: PATH_OPTIONS, machines: [incidentTriage], tools: new ControlledTools(['test.job', 'llm.classify', 'notify.page', 'notify.status']) })));
  after(() => h.close());

  it('walks each transition of the graph and matches the pure machine at every step', async () => {
    // One regression is enough to walk every transition; more only repeat them with a bigger counter.
    const paths = everyTransition(incidentTriageMachine, {
      input: walkInput,
      events,
      filterEvents: (state, event) => event.type !== 'incident.regressed' || ctx(state).regressions === 0,
    });
    const reached = new Set(paths.map((p) => JSON.stringify(p.steps.at(-1)!.state.value)));
    for (const state of ['{"open":{"response":"escalated","updates":"muted"}}', '"monitoring"', '"resolved"']) assert.ok(reached.has(state), `the graph reaches ${state}`);
    console.log(`incident-triage: ${paths.length} transitions, ${paths.reduce((n, p) => n + p.steps.length, 0)} steps`);
    await inPool(paths, 8, (p) => drivePath(h, 'incident-triage', walkInput, p.steps, p.accepted).catch((error: Error) => {
      throw new Error(`${p.name}: ${error.message}`, { cause: error });
    }));
  });
});
