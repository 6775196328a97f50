import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createMachine } from 'xstate';
import { MachineDefinitionError } from '../../src/engine/errors.js';
import { defineWorkflow } from '../../src/engine/machine-kit.js';
import { createWorkflowEngine } from '../../src/engine/workflow-engine.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { ControlledTools } from './support/controlled-tools.js';
import { createHarness } from './support/engine-harness.js';
import type { Harness } from './support/engine-harness.js';
import { probe } from './support/probe-machine.js';

const light = (version: number, states: Record<string, object>) =>
  defineWorkflow({ id: 'light', version, description: 'a light', inputSchema: { type: 'object' }, machine: createMachine({ id: 'light', initial: 'off', states }) });

const v1 = light(1, { off: { on: { 'light.toggle': 'on' } }, on: { on: { 'light.toggle': 'off' } } });
const v1Edited = light(1, { off: { on: { 'light.toggle': 'on' } }, on: { on: { 'light.toggle': 'off', 'light.break': 'broken' } }, broken: {} });
const v2 = light(2, { off: { on: { 'light.toggle': 'on' } }, on: { on: { 'light.toggle': 'off', 'light.dim': 'dimmed' } }, dimmed: {} });

describe('machine versions', () => {
  let h: Harness;
  let liveId: string;
  before(async () => {
    h = await createHarness({ machines: [v1] });
    liveId = (await h.engine.startWorkflow({ machineId: 'light', input: {} })).id;
  });
  after(() => h.close());

  const engineWith = (...machines: ReturnType<typeof light>[]) =>
    createWorkflowEngine({ store: h.store, bus: h.bus, machines: [probe, ...machines], tools: new ControlledTools(['test.job']), logger: silentLogger });

  it('refuses to start when the version of a live instance changed in place', async () => {
    await assert.rejects(engineWith(v1Edited).start(), (error: unknown) => {
      assert.ok(error instanceof MachineDefinitionError, 'a MachineDefinitionError');
      assert.match(error.message, /light@1 differs/);
      return true;
    });
  });

  it('refuses to start when the version of a live instance is not loaded', async () => {
    await assert.rejects(engineWith(v2).start(), /light@1, which is not loaded/);
  });

  it('runs old and new versions side by side; instances keep the version they started with', async () => {
    const engine = engineWith(v1, v2);
    await engine.start();
    try {
      const fresh = await engine.startWorkflow({ machineId: 'light', input: {} });
      assert.equal(fresh.machineVersion, 2);
      const pinned = await engine.startWorkflow({ machineId: 'light', machineVersion: 1, input: {} });
      assert.equal(pinned.machineVersion, 1);
      const old = await engine.sendEvent({ workflowId: liveId, event: { type: 'light.toggle' } });
      assert.equal(old.machineVersion, 1);
      assert.deepEqual(old.acceptedEvents, ['light.toggle']);
      await assert.rejects(engine.sendEvent({ workflowId: liveId, event: { type: 'light.dim' } }), /not accepted/);
      const onV2 = await engine.sendEvent({ workflowId: fresh.id, event: { type: 'light.toggle' } });
      assert.deepEqual(onV2.acceptedEvents, ['light.dim', 'light.toggle']);
    } finally {
      await engine.stop();
    }
  });

  it('refuses machines whose tools have no adapter when the engine is built', () => {
    assert.throws(
      () => createWorkflowEngine({ store: h.store, bus: h.bus, machines: [probe], tools: new ControlledTools([]), logger: silentLogger }),
      /uses tools with no adapter: test\.job/,
    );
  });
});
