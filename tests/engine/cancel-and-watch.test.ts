import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { InMemoryEventBus } from '../../src/bus/in-memory-event-bus.js';
import { createWorkflowEngine, type HistoryEntry } from '../../src/engine/workflow-engine.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { code } from './support/assert-code.js';
import { countingStore } from './support/counting-store.js';
import { createHarness, FAST } from './support/engine-harness.js';
import { probe } from './support/probe-machine.js';
import type { Harness } from './support/engine-harness.js';

describe('cancelWorkflow', () => {
  let h: Harness;
  before(async () => (h = await createHarness()));
  after(() => h.close());

  it('cancels: status, timers deleted, tasks cancelled and their calls aborted, history row', async () => {
    const wf = await h.engine.startWorkflow({ machineId: 'probe', input: { label: 'c' } });
    await h.engine.sendEvent({ workflowId: wf.id, event: { type: 'probe.go' } });
    const call = await h.tools.nextFor(wf.id, 'job');
    const aborted = once(call.signal, 'abort');
    const view = await h.engine.cancelWorkflow({ workflowId: wf.id, reason: 'no longer needed' });
    assert.equal(view.status, 'cancelled');
    assert.equal(view.version, 3);
    assert.deepEqual(view.error, { code: 'cancelled', reason: 'no longer needed' });
    assert.deepEqual(view.tasks, []);
    assert.deepEqual(view.acceptedEvents, []);
    await aborted;
    const task = await h.db.db.selectFrom('workflow_tasks').select('status').where('workflow_id', '=', wf.id).executeTakeFirstOrThrow();
    assert.equal(task.status, 'cancelled');
    const last = (await h.engine.getHistory({ workflowId: wf.id })).entries.at(-1)!;
    assert.deepEqual([last.eventType, last.status, last.event], ['workflow.cancel', 'cancelled', { type: 'workflow.cancel', reason: 'no longer needed' }]);
    await assert.rejects(h.engine.sendEvent({ workflowId: wf.id, event: { type: 'probe.abandon' } }), code('failed_precondition', /cancelled/));
    const past = await h.engine.getWorkflow(wf.id, { atVersion: 3 });
    assert.deepEqual(past.error, view.error);
  });

  it('deletes armed timers, is idempotent, and refuses a workflow that finished otherwise', async () => {
    const wf = await h.engine.startWorkflow({ machineId: 'probe', input: { label: 't' } });
    await h.engine.sendEvent({ workflowId: wf.id, event: { type: 'probe.wait' } });
    const cancelled = await h.engine.cancelWorkflow({ workflowId: wf.id, reason: 'stop' });
    assert.deepEqual(cancelled.timers, []);
    assert.equal((await h.store.loadWorkflow(wf.id))?.timers.length, 0);
    const again = await h.engine.cancelWorkflow({ workflowId: wf.id, reason: 'stop' });
    assert.equal(again.version, cancelled.version);
    const done = await h.engine.startWorkflow({ machineId: 'probe', input: { label: 'd' } });
    await h.engine.sendEvent({ workflowId: done.id, event: { type: 'probe.finish' } });
    await assert.rejects(h.engine.cancelWorkflow({ workflowId: done.id, reason: 'x' }), code('failed_precondition', /is done/));
    await assert.rejects(h.engine.cancelWorkflow({ workflowId: 'nope', reason: 'x' }), code('not_found'));
  });
});

describe('watch', () => {
  let h: Harness;
  before(async () => (h = await createHarness()));
  after(() => h.close());

  async function collect(iterable: AsyncIterable<HistoryEntry>): Promise<number[]> {
    const versions: number[] = [];
    for await (const entry of iterable) versions.push(entry.version);
    return versions;
  }

  it('replays history, follows live transitions without gaps or duplicates, and ends after a final status', async () => {
    const wf = await h.engine.startWorkflow({ machineId: 'probe', input: { label: 'w' } });
    for (let i = 0; i < 3; i++) await h.engine.sendEvent({ workflowId: wf.id, event: { type: 'probe.bump' } });
    const controller = new AbortController();
    const watched = collect(h.engine.watch(wf.id, 2, controller.signal));
    // Writers on two engines while the watch runs: messages interleave, the history decides.
    const other = h.addEngine();
    await Promise.all([
      ...Array.from({ length: 10 }, (_, i) => (i % 2 ? h.engine : other).sendEvent({ workflowId: wf.id, event: { type: 'probe.bump' } })),
    ]);
    await h.engine.sendEvent({ workflowId: wf.id, event: { type: 'probe.finish' } });
    const versions = await watched;
    assert.deepEqual(versions, Array.from({ length: 14 }, (_, i) => i + 2));
  });

  it('fills gaps from the history when bus messages are lost', async () => {
    const wf = await h.engine.startWorkflow({ machineId: 'probe', input: { label: 'gap' } });
    const controller = new AbortController();
    const seen: number[] = [];
    const iterator = h.engine.watch(wf.id, 1, controller.signal)[Symbol.asyncIterator]();
    seen.push((await iterator.next()).value!.version);
    // A replica whose publishes are lost: only the last transition is announced.
    const silent = h.addEngine();
    const publish = h.bus.publish.bind(h.bus);
    let drop = true;
    h.bus.publish = async (message) => {
      if (!drop) await publish(message);
    };
    for (let i = 0; i < 3; i++) await silent.sendEvent({ workflowId: wf.id, event: { type: 'probe.bump' } });
    drop = false;
    await silent.sendEvent({ workflowId: wf.id, event: { type: 'probe.finish' } });
    for (;;) {
      const next = await iterator.next();
      if (next.done) break;
      seen.push(next.value.version);
    }
    h.bus.publish = publish;
    assert.deepEqual(seen, [1, 2, 3, 4, 5]);
  });

  it('finds transitions no message announced by polling the store: one query a poll for every idle watcher', async () => {
    let historyReads = 0;
    const versionQueries: string[][] = [];
    const counting = countingStore(h.store, (method, args) => {
      if (method === 'listHistory') historyReads++;
      if (method === 'workflowVersions') versionQueries.push([...(args[0] as string[])].sort());
    });
    // A replica on a bus of its own hears nothing from the writer: only the store tells it.
    const deaf = createWorkflowEngine({ store: counting, bus: new InMemoryEventBus(), machines: [probe], tools: h.tools, logger: silentLogger, options: FAST });
    const one = await h.engine.startWorkflow({ machineId: 'probe', input: { label: 'quiet-1' } });
    const two = await h.engine.startWorkflow({ machineId: 'probe', input: { label: 'quiet-2' } });
    const watching = [one, one, one, two].map((wf) => collect(deaf.watch(wf.id, 2, new AbortController().signal)));
    await new Promise((resolve) => setTimeout(resolve, 3 * FAST.watchPollIntervalMs!));
    assert.equal(historyReads, 4, 'idle watchers read the history once each, at their start');
    assert.ok(versionQueries.length >= 2, `polled (${versionQueries.length} queries)`);
    for (const ids of versionQueries) assert.deepEqual(ids, [one.id, two.id].sort(), 'one query for every watched workflow');
    await h.engine.sendEvent({ workflowId: one.id, event: { type: 'probe.bump' } });
    for (const wf of [one, two]) await h.engine.sendEvent({ workflowId: wf.id, event: { type: 'probe.finish' } });
    assert.deepEqual(await Promise.all(watching), [[2, 3], [2, 3], [2, 3], [2]]);
  });

  it('ends at once for a finished workflow asked from past its end, and throws on abort and for unknown ids', async () => {
    const wf = await h.engine.startWorkflow({ machineId: 'probe', input: { label: 'end' } });
    await h.engine.sendEvent({ workflowId: wf.id, event: { type: 'probe.finish' } });
    assert.deepEqual(await collect(h.engine.watch(wf.id, 3, new AbortController().signal)), []);
    assert.deepEqual(await collect(h.engine.watch(wf.id, 1, new AbortController().signal)), [1, 2]);

    const live = await h.engine.startWorkflow({ machineId: 'probe', input: { label: 'abort' } });
    const controller = new AbortController();
    const watching = collect(h.engine.watch(live.id, 1, controller.signal));
    controller.abort();
    await assert.rejects(watching, { name: 'AbortError' });
    await assert.rejects(collect(h.engine.watch('missing', 1, new AbortController().signal)), code('not_found'));
  });
});
