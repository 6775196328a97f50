import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assign, setup } from 'xstate';
import { defineWorkflow } from '../../src/engine/machine-kit.js';
import { createWorkflowEngine, type HistoryEntry, type WorkflowEngine } from '../../src/engine/workflow-engine.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { countingStore } from './support/counting-store.js';
import { createHarness, FAST, type Harness } from './support/engine-harness.js';
import { probe } from './support/probe-machine.js';

/** A machine whose context grows with each event, to make bus messages too big to carry it. */
const growing = defineWorkflow({
  id: 'growing',
  version: 1,
  description: 'context grows by the text of each event',
  inputSchema: { type: 'object' },
  machine: setup({ types: {} as { context: { text: string }; events: { type: 'grow'; text: string } | { type: 'stop' } } }).createMachine({
    id: 'growing',
    context: { text: '' },
    initial: 'open',
    states: {
      open: { on: { grow: { actions: assign({ text: ({ context, event }) => context.text + event.text }) }, stop: 'closed' } },
      closed: { type: 'final' },
    },
  }),
});

/**
 * Watchers yield the history entry a bus message carries when it is the next version, without
 * reading the store; entries are the same as the history's either way.
 */
describe('watch from bus messages', () => {
  let h: Harness;
  let watcher: WorkflowEngine;
  let historyReads = 0;

  before(async () => {
    h = await createHarness({ machines: [growing] });
    // Counts history reads; a long poll, so a read is caused by the watch logic, not the timer.
    const counting = countingStore(h.store, (method) => {
      if (method === 'listHistory') historyReads++;
    });
    watcher = createWorkflowEngine({ store: counting, bus: h.bus, machines: [probe, growing], tools: h.tools, logger: silentLogger, options: { ...FAST, watchPollIntervalMs: 60_000 } });
  });
  after(() => h.close());

  async function collect(iterable: AsyncIterable<HistoryEntry>): Promise<HistoryEntry[]> {
    const entries: HistoryEntry[] = [];
    for await (const entry of iterable) entries.push(entry);
    return entries;
  }

  it('yields live transitions from their messages, equal to the history, with one read at the start', async () => {
    const wf = await h.engine.startWorkflow({ machineId: 'probe', input: { label: 'live' } });
    historyReads = 0;
    const watching = collect(watcher.watch(wf.id, 2, new AbortController().signal));
    for (let i = 0; i < 10; i++) await h.engine.sendEvent({ workflowId: wf.id, event: { type: 'probe.bump', payload: { by: i + 1 } }, eventId: `b${i}` });
    await h.engine.sendEvent({ workflowId: wf.id, event: { type: 'probe.finish' } });
    const watched = await watching;
    assert.equal(historyReads, 1, 'only the replay read the history');
    const history = (await h.engine.getHistory({ workflowId: wf.id })).entries;
    assert.deepEqual(watched, history.slice(1));
  });

  it('reads the history for a transition whose message was too big to carry its entry', async () => {
    const wf = await h.engine.startWorkflow({ machineId: 'growing', input: {} });
    historyReads = 0;
    const watching = collect(watcher.watch(wf.id, 2, new AbortController().signal));
    await h.engine.sendEvent({ workflowId: wf.id, event: { type: 'grow', payload: { text: 'small' } } });
    await h.engine.sendEvent({ workflowId: wf.id, event: { type: 'grow', payload: { text: 'x'.repeat(40_000) } } });
    await h.engine.sendEvent({ workflowId: wf.id, event: { type: 'stop' } });
    const watched = await watching;
    const history = (await h.engine.getHistory({ workflowId: wf.id })).entries;
    assert.deepEqual(watched, history.slice(1));
    assert.ok(historyReads >= 2, `the big transitions were read from the history (${historyReads} reads)`);
  });
});
