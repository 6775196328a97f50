import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { EngineError } from '../../src/engine/errors.js';
import { code } from './support/assert-code.js';
import { createHarness } from './support/engine-harness.js';
import type { Harness } from './support/engine-harness.js';

describe('startWorkflow', () => {
  let h: Harness;
  before(async () => (h = await createHarness()));
  after(() => h.close());

  it('starts an instance at version 1 in the initial state, with history', async () => {
    const view = await h.engine.startWorkflow({ machineId: 'probe', input: { label: 'a' } });
    assert.equal(view.machineId, 'probe');
    assert.equal(view.machineVersion, 1);
    assert.equal(view.status, 'active');
    assert.equal(view.state, 'idle');
    assert.equal(view.version, 1);
    assert.deepEqual(view.context, { label: 'a', count: 0, delayMs: 60_000, lastResult: null, lastError: null });
    assert.deepEqual(view.acceptedEvents, ['probe.bump', 'probe.explode', 'probe.finish', 'probe.go', 'probe.wait']);
    const { entries } = await h.engine.getHistory({ workflowId: view.id });
    assert.deepEqual(entries.map((e) => [e.version, e.eventType, e.fromState, e.toState]), [[1, 'xstate.init', null, 'idle']]);
    assert.deepEqual(entries[0]!.event, { type: 'xstate.init', input: { label: 'a' } });
  });

  it('is idempotent by request id: same input gives the same instance, another input is already_exists', async () => {
    const first = await h.engine.startWorkflow({ machineId: 'probe', input: { label: 'x' }, requestId: 'req-1' });
    await h.engine.sendEvent({ workflowId: first.id, event: { type: 'probe.bump' } });
    const again = await h.engine.startWorkflow({ machineId: 'probe', input: { label: 'x' }, requestId: 'req-1' });
    assert.equal(again.id, first.id);
    assert.equal(again.version, 2, 'the existing instance as it is now');
    await assert.rejects(h.engine.startWorkflow({ machineId: 'probe', input: { label: 'y' }, requestId: 'req-1' }), code('already_exists', /different machine or input/));
    const { workflows } = await h.engine.listWorkflows({ machineId: 'probe', pageSize: 500 });
    assert.equal(workflows.filter((w) => (w.context as { label: string }).label === 'y').length, 0);
  });

  it('refuses a taken workflow id', async () => {
    await h.engine.startWorkflow({ machineId: 'probe', input: { label: 'a' }, workflowId: 'fixed-id' });
    await assert.rejects(h.engine.startWorkflow({ machineId: 'probe', input: { label: 'a' }, workflowId: 'fixed-id' }), code('already_exists'));
    await assert.rejects(h.engine.startWorkflow({ machineId: 'probe', input: { label: 'a' }, workflowId: 'bad id!' }), code('invalid_argument'));
  });

  it('names the wrong input field and writes nothing', async () => {
    const before = (await h.engine.listWorkflows({ pageSize: 500 })).workflows.length;
    await assert.rejects(h.engine.startWorkflow({ machineId: 'probe', input: { label: '' } }), (error: unknown) => {
      code('invalid_argument', /input\.label/)(error);
      assert.deepEqual((error as EngineError).details, { violations: [{ field: 'input.label', description: 'must be at least 1 characters long' }] });
      return true;
    });
    await assert.rejects(h.engine.startWorkflow({ machineId: 'probe', input: { label: 'a', delayMs: 'soon' } }), code('invalid_argument', /input\.delayMs must be an integer/));
    await assert.rejects(h.engine.startWorkflow({ machineId: 'probe', input: [] as never }), code('invalid_argument', /input must be a JSON object/));
    assert.equal((await h.engine.listWorkflows({ pageSize: 500 })).workflows.length, before);
  });

  it('refuses an oversized input with resource_exhausted and writes nothing', async () => {
    const before = (await h.engine.listWorkflows({ pageSize: 500 })).workflows.length;
    await assert.rejects(h.engine.startWorkflow({ machineId: 'probe', input: { label: 'a', junk: 'x'.repeat(300 * 1024) } }), code('resource_exhausted'));
    assert.equal((await h.engine.listWorkflows({ pageSize: 500 })).workflows.length, before);
  });

  it('is not_found for an unknown machine or version', async () => {
    await assert.rejects(h.engine.startWorkflow({ machineId: 'nope', input: {} }), code('not_found'));
    await assert.rejects(h.engine.startWorkflow({ machineId: 'probe', machineVersion: 7, input: { label: 'a' } }), code('not_found'));
  });

  it('describes its machines', () => {
    const info = h.engine.getMachine('probe');
    assert.equal(info.version, 1);
    assert.deepEqual(info.stateEvents.working, ['probe.abandon']);
    assert.deepEqual(h.engine.listMachines().map((m) => m.id), ['probe']);
  });
});
