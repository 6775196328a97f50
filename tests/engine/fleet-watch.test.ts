import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { InMemoryEventBus } from '../../src/bus/in-memory-event-bus.js';
import type { FleetWatchItem } from '../../src/engine/fleet-watch.js';
import { createWorkflowEngine, type HistoryEntry, type WorkflowEngine } from '../../src/engine/workflow-engine.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { code } from './support/assert-code.js';
import { countingStore } from './support/counting-store.js';
import { createHarness, FAST, type Harness } from './support/engine-harness.js';
import { probe } from './support/probe-machine.js';

type Item = FleetWatchItem & { cursor: string };

/**
 * Reads a fleet watch until `done` holds for the entries so far (or `timeoutMs`), then stops
 * it. Returns every item, heartbeats included.
 */
async function follow(stream: (signal: AbortSignal) => AsyncIterable<Item>, done: (entries: HistoryEntry[], items: Item[]) => boolean, timeoutMs = 20_000): Promise<Item[]> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error('timed out')), timeoutMs);
  const items: Item[] = [];
  try {
    for await (const item of stream(controller.signal)) {
      items.push(item);
      if (done(entriesOf(items), items)) break;
    }
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return items;
}

function entriesOf(items: Item[]): HistoryEntry[] {
  return items.flatMap((i) => (i.entry ? [i.entry] : []));
}

/** Versions delivered per workflow, in delivery order. */
function versionsBy(entries: HistoryEntry[]): Map<string, number[]> {
  const map = new Map<string, number[]>();
  for (const e of entries) map.set(e.workflowId, [...(map.get(e.workflowId) ?? []), e.version]);
  return map;
}

const finishedAll = (ids: string[]) => (entries: HistoryEntry[]) => ids.every((id) => entries.some((e) => e.workflowId === id && e.status === 'done'));

describe('watchWorkflows', () => {
  let h: Harness;
  let other: WorkflowEngine;

  before(async () => {
    h = await createHarness();
    other = h.addEngine();
    await other.start();
  });
  after(() => h.close());

  async function drive(engine: WorkflowEngine, id: string, bumps: number): Promise<void> {
    for (let i = 0; i < bumps; i++) await engine.sendEvent({ workflowId: id, event: { type: 'probe.bump' } });
    await engine.sendEvent({ workflowId: id, event: { type: 'probe.finish' } });
  }

  it('delivers every version of every workflow once and in order, equal to the history, from two writers', async () => {
    const ids = ['fw-a', 'fw-b', 'fw-c'];
    const watching = follow((signal) => h.engine.watchWorkflows({ machineId: 'probe' }, signal), finishedAll(ids));
    // Let the stream subscribe before the first start (a live stream begins at "now").
    await new Promise((r) => setTimeout(r, 50));
    for (const id of ids) await h.engine.startWorkflow({ machineId: 'probe', workflowId: id, input: { label: id } });
    await Promise.all(ids.map((id, i) => drive(i % 2 ? other : h.engine, id, 5 + i)));
    const entries = entriesOf(await watching);
    const byWorkflow = versionsBy(entries);
    for (const [i, id] of ids.entries()) {
      assert.deepEqual(byWorkflow.get(id), Array.from({ length: 7 + i }, (_, v) => v + 1), id);
      const history = (await h.engine.getHistory({ workflowId: id })).entries;
      assert.deepEqual(entries.filter((e) => e.workflowId === id), history);
    }
  });

  it('replays from `since`, filters by machine and status, and resumes from a cursor without gaps', async () => {
    const before = new Date();
    await h.engine.startWorkflow({ machineId: 'probe', workflowId: 'old-1', input: { label: 'old' } });
    await drive(h.engine, 'old-1', 2);
    const items = await follow((signal) => h.engine.watchWorkflows({ machineId: 'probe', since: before }, signal), finishedAll(['old-1']));
    assert.deepEqual(versionsBy(entriesOf(items)).get('old-1'), [1, 2, 3, 4]);
    assert.ok(items.every((i) => i.machineId === undefined || i.machineId === 'probe'), 'only the filtered machine');

    const onlyDone = await follow((signal) => h.engine.watchWorkflows({ since: before, statuses: ['done'] }, signal), finishedAll(['old-1']));
    assert.deepEqual(entriesOf(onlyDone).map((e) => [e.workflowId, e.version]), [['old-1', 4]]);
    // The first poll finds nothing of this machine: a heartbeat, no entries.
    const none = await follow((signal) => h.engine.watchWorkflows({ machineId: 'nope', since: before }, signal), (_, all) => all.length > 0);
    assert.deepEqual(none.map((i) => i.entry), [undefined]);

    // Resume: a stream cut after some entries, resumed from its last cursor, misses nothing.
    await h.engine.startWorkflow({ machineId: 'probe', workflowId: 'resumed', input: { label: 'r' } });
    const first = await follow((signal) => h.engine.watchWorkflows({ since: before }, signal), (e) => e.some((x) => x.workflowId === 'resumed'));
    const seen = versionsBy(entriesOf(first)).get('resumed')!;
    await drive(other, 'resumed', 3);
    const rest = await follow((signal) => h.engine.watchWorkflows({ cursor: first.at(-1)!.cursor }, signal), finishedAll(['resumed']));
    const after = versionsBy(entriesOf(rest)).get('resumed')!;
    const union = [...new Set([...seen, ...after])].sort((a, b) => a - b);
    assert.deepEqual(union, [1, 2, 3, 4, 5]);
    assert.deepEqual(after, [...after].sort((a, b) => a - b), 'in order');
  });

  it('finds transitions by polling the store when the bus never delivers them', async () => {
    // A watcher on a bus of its own hears nothing from the writers.
    const deaf = createWorkflowEngine({ store: h.store, bus: new InMemoryEventBus(), machines: [probe], tools: h.tools, logger: silentLogger, options: FAST });
    const ids = ['quiet-1', 'quiet-2'];
    const watching = follow((signal) => deaf.watchWorkflows({}, signal), finishedAll(ids));
    await new Promise((r) => setTimeout(r, 50));
    for (const id of ids) {
      await h.engine.startWorkflow({ machineId: 'probe', workflowId: id, input: { label: id } });
      await drive(h.engine, id, 3);
    }
    const byWorkflow = versionsBy(entriesOf(await watching));
    for (const id of ids) assert.deepEqual(byWorkflow.get(id), [1, 2, 3, 4, 5], id);
  });

  it('polls once an interval for all the streams that filter the same machine, and they all find what polls find', async () => {
    let polls = 0;
    const counting = countingStore(h.store, (method) => {
      if (method === 'listChangedSince') polls++;
    });
    // A replica on a bus of its own: only polls tell its streams anything.
    const options = { ...FAST, fleetWatchMarginMs: 50 };
    const deaf = createWorkflowEngine({ store: counting, bus: new InMemoryEventBus(), machines: [probe], tools: h.tools, logger: silentLogger, options });
    const id = 'shared-poll';
    const done = finishedAll([id]);
    const streams = [...Array.from({ length: 5 }, () => ({ machineId: 'probe' })), {}, {}].map((req) => follow((signal) => deaf.watchWorkflows(req, signal), done));
    // Each stream's own first poll, then its window start meets the others' after a shared poll.
    await new Promise((r) => setTimeout(r, 3 * FAST.watchPollIntervalMs!));
    polls = 0;
    const intervals = 5;
    await new Promise((r) => setTimeout(r, intervals * FAST.watchPollIntervalMs!));
    const counted = polls;
    assert.ok(counted >= 2 * (intervals - 2) && counted <= 2 * (intervals + 1), `two queries an interval (one per machine filter) for seven streams: ${counted} in ${intervals} intervals`);
    await h.engine.startWorkflow({ machineId: 'probe', workflowId: id, input: { label: id } });
    await drive(h.engine, id, 2);
    for (const items of await Promise.all(streams)) assert.deepEqual(versionsBy(entriesOf(items)).get(id), [1, 2, 3, 4]);
  });

  it('polls on schedule while messages keep coming: finds a lost transition, and the cursor moves on', async () => {
    // The watcher's bus carries a busy workflow's messages, never the quiet one's.
    const bus = new InMemoryEventBus();
    const deaf = createWorkflowEngine({ store: h.store, bus, machines: [probe], tools: h.tools, logger: silentLogger, options: { ...FAST, fleetWatchMarginMs: 50 } });
    const noisy = createWorkflowEngine({ store: h.store, bus, machines: [probe], tools: h.tools, logger: silentLogger, options: FAST });
    await noisy.startWorkflow({ machineId: 'probe', workflowId: 'noise', input: { label: 'noise' } });
    const opened = Date.now();
    const movedOn = (_: HistoryEntry[], items: Item[]) => items.some((i) => i.watermark.getTime() > opened);
    const watching = follow((signal) => deaf.watchWorkflows({}, signal), (entries, items) => finishedAll(['lost'])(entries) && movedOn(entries, items));
    let stop = false;
    const noise = (async () => {
      // A message every 20 ms, far more often than the 200 ms poll interval.
      while (!stop) {
        await noisy.sendEvent({ workflowId: 'noise', event: { type: 'probe.bump' } });
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    try {
      await new Promise((r) => setTimeout(r, 50));
      await h.engine.startWorkflow({ machineId: 'probe', workflowId: 'lost', input: { label: 'lost' } });
      await drive(h.engine, 'lost', 1);
      const items = await watching;
      assert.deepEqual(versionsBy(entriesOf(items)).get('lost'), [1, 2, 3]);
      assert.ok(versionsBy(entriesOf(items)).get('noise')!.length >= 3, 'messages came more often than polls');
      assert.ok(movedOn([], items), 'the watermark moved past the start');
    } finally {
      stop = true;
      await noise;
    }
  });

  it('sends a heartbeat with a cursor when nothing happens, and refuses bad requests', async () => {
    const items = await follow((signal) => h.engine.watchWorkflows({ machineId: 'none-such' }, signal), () => true);
    assert.equal(items[0]!.entry, undefined);
    assert.ok(items[0]!.cursor.length > 0, 'an item carries a cursor');
    const read = async (req: Parameters<WorkflowEngine['watchWorkflows']>[0]) => {
      for await (const _ of h.engine.watchWorkflows(req, new AbortController().signal)) break;
    };
    await assert.rejects(read({ cursor: 'garbage' }), code('invalid_argument', /cursor/));
    await assert.rejects(read({ cursor: items[0]!.cursor, since: new Date() }), code('invalid_argument', /not both/));
  });
});
