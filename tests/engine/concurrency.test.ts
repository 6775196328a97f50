import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createWorkflowEngine } from '../../src/engine/workflow-engine.js';
import { openDatabase } from '../../src/store/database.js';
import { PostgresWorkflowStore } from '../../src/store/postgres-workflow-store.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { createHarness, FAST } from './support/engine-harness.js';
import { probe } from './support/probe-machine.js';

const postgres = process.env.DATABASE_URL;

describe('concurrent writers', () => {
  it(
    'applies 50 concurrent events from two engines with separate pools exactly once, with contiguous versions',
    { skip: postgres ? false : 'needs Postgres (DATABASE_URL): PGlite is one session, so two pools cannot race' },
    async () => {
      const h = await createHarness();
      const second = await openDatabase({ url: h.db.options.url, dataDir: ':memory:', schema: h.db.options.schema, poolSize: 5, logger: silentLogger });
      const other = createWorkflowEngine({ store: new PostgresWorkflowStore(second.db), bus: h.bus, machines: [probe], tools: h.tools, logger: silentLogger, options: FAST });
      try {
        await other.start();
        const wf = await h.engine.startWorkflow({ machineId: 'probe', input: { label: 'race' } });
        // Every event goes to both engines at once (a client retrying on another replica).
        const sends = Array.from({ length: 50 }, (_, i) => {
          const request = { workflowId: wf.id, event: { type: 'probe.bump' }, eventId: `e-${i}` };
          return Promise.all([h.engine.sendEvent(request), other.sendEvent(request)]);
        });
        const results = await Promise.all(sends);
        for (const [a, b] of results) assert.equal(a.version, b.version, 'both deliveries of one event id report the same version');
        const { entries } = await h.engine.getHistory({ workflowId: wf.id, pageSize: 1000 });
        assert.deepEqual(entries.map((e) => e.version), Array.from({ length: 51 }, (_, i) => i + 1));
        const ids = entries.slice(1).map((e) => e.eventId).sort();
        assert.deepEqual(ids, Array.from({ length: 50 }, (_, i) => `e-${i}`).sort());
        const final = await other.getWorkflow(wf.id);
        assert.equal((final.context as { count: number }).count, 50);
        assert.equal(final.version, 51);
      } finally {
        await other.stop();
        await second.close();
        await h.close();
      }
    },
  );

  it('commits transitions of many workflows sent at once in shared statements (group commit), each once and in order', async () => {
    const batches: number[] = [];
    const h = await createHarness({ store: { onCommitBatch: (size) => batches.push(size) } });
    try {
      const views = await Promise.all(Array.from({ length: 40 }, (_, i) => h.engine.startWorkflow({ machineId: 'probe', input: { label: `gc-${i}` } })));
      batches.length = 0;
      // Three events per workflow, all in flight together: one workflow's go one at a time, in order.
      const sends = views.flatMap((v) => [1, 2, 3].map((by) => h.engine.sendEvent({ workflowId: v.id, event: { type: 'probe.bump', payload: { by } }, eventId: `${v.id}-${by}` })));
      const results = await Promise.all(sends);
      assert.deepEqual(results.map((r) => r.version), views.flatMap(() => [2, 3, 4]));
      assert.equal(batches.reduce((a, b) => a + b, 0), 120, 'every transition went through a group commit');
      assert.ok(Math.max(...batches) > 1, `some batch held several workflows (sizes: ${batches.join(' ')})`);
      for (const v of views) {
        const { entries } = await h.engine.getHistory({ workflowId: v.id });
        assert.deepEqual(entries.map((e) => e.eventId), [undefined, `${v.id}-1`, `${v.id}-2`, `${v.id}-3`]);
        assert.equal(((await h.engine.getWorkflow(v.id)).context as { count: number }).count, 6);
      }
    } finally {
      await h.close();
    }
  });
});
