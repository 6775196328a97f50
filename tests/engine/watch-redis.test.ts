import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createEventBus } from '../../src/bus/create-event-bus.js';
import { createWorkflowEngine } from '../../src/engine/workflow-engine.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { createHarness, FAST } from './support/engine-harness.js';
import { probe } from './support/probe-machine.js';

const redisUrl = process.env.REDIS_URL;

describe('watch across replicas over Redis', () => {
  it(
    'follows transitions written by another replica through Redis pub/sub, without gaps or duplicates',
    { skip: redisUrl ? false : 'needs Redis (REDIS_URL); the in-process bus is covered by cancel-and-watch.test.ts' },
    async () => {
      const h = await createHarness({ start: false });
      const busA = await createEventBus({ redisUrl, logger: silentLogger });
      const busB = await createEventBus({ redisUrl, logger: silentLogger });
      const writer = createWorkflowEngine({ store: h.store, bus: busA, machines: [probe], tools: h.tools, logger: silentLogger, options: FAST });
      // A long poll: entries must arrive because of the Redis messages, not the safety poll.
      const watcher = createWorkflowEngine({ store: h.store, bus: busB, machines: [probe], tools: h.tools, logger: silentLogger, options: { ...FAST, watchPollIntervalMs: 60_000 } });
      try {
        const wf = await writer.startWorkflow({ machineId: 'probe', input: { label: 'redis' } });
        const controller = new AbortController();
        const timer = setTimeout(() => controller.abort(new Error('watch did not end within 10 s')), 10_000);
        const versions: number[] = [];
        const watching = (async () => {
          for await (const entry of watcher.watch(wf.id, 1, controller.signal)) versions.push(entry.version);
        })();
        for (let i = 0; i < 20; i++) await writer.sendEvent({ workflowId: wf.id, event: { type: 'probe.bump' } });
        await writer.sendEvent({ workflowId: wf.id, event: { type: 'probe.finish' } });
        await watching;
        clearTimeout(timer);
        assert.deepEqual(versions, Array.from({ length: 22 }, (_, i) => i + 1));
      } finally {
        await busA.close();
        await busB.close();
        await h.close();
      }
    },
  );
});
