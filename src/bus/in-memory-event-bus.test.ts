import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TransitionMessage, WorkMessage } from '../engine/ports/event-bus.js';
import { EventBusClosedError } from './event-bus-errors.js';
import { InMemoryEventBus } from './in-memory-event-bus.js';
import { MAX_ENTRY_MESSAGE_BYTES } from './transition-codec.js';
import { CapturingLogger } from './test-support/capturing-logger.js';
import { transition } from './test-support/messages.js';
import { Inbox } from './test-support/wait.js';
import { waitUntil } from '../engine/test-support/wait-until.js';

describe('InMemoryEventBus', () => {
  it('delivers to the workflow subscribers and the firehose, not to other workflows', async () => {
    const bus = new InMemoryEventBus();
    const a = new Inbox<TransitionMessage>();
    const b = new Inbox<TransitionMessage>();
    const all = new Inbox<TransitionMessage>();
    await bus.subscribe('wf-a', a.push);
    await bus.subscribe('wf-b', b.push);
    await bus.subscribeAll(all.push);

    await bus.publish(transition('wf-a', 1));
    await bus.publish(transition('wf-b', 1));
    await bus.publish(transition('wf-a', 2));

    assert.deepEqual((await a.waitFor(2)).map((m) => m.version), [1, 2]);
    assert.deepEqual((await b.waitFor(1)).map((m) => m.workflowId), ['wf-b']);
    assert.deepEqual((await all.waitFor(3)).map((m) => `${m.workflowId}@${m.version}`), ['wf-a@1', 'wf-b@1', 'wf-a@2']);
    assert.equal(a.items.length, 2);
    await bus.close();
  });

  it('never runs a subscriber on the publisher stack', async () => {
    const bus = new InMemoryEventBus();
    let delivered = false;
    await bus.subscribe('wf', () => {
      delivered = true;
    });
    const published = bus.publish(transition('wf', 1));
    assert.equal(delivered, false, 'delivered synchronously inside publish()');
    await published;
    const inbox = new Inbox<TransitionMessage>();
    await bus.subscribe('wf', inbox.push);
    await bus.publish(transition('wf', 2));
    await inbox.waitFor(1);
    assert.equal(delivered, true);
    await bus.close();
  });

  it('keeps publish order per subscriber, also for publishes not awaited', async () => {
    const bus = new InMemoryEventBus();
    const inbox = new Inbox<TransitionMessage>();
    const all = new Inbox<TransitionMessage>();
    await bus.subscribe('wf', inbox.push);
    await bus.subscribeAll(all.push);
    const versions = Array.from({ length: 500 }, (_, i) => i + 1);
    await Promise.all(versions.map((v) => bus.publish(transition('wf', v))));
    assert.deepEqual((await inbox.waitFor(500)).map((m) => m.version), versions);
    assert.deepEqual((await all.waitFor(500)).map((m) => m.version), versions);
    await bus.close();
  });

  it('goes on delivering to the others when a subscriber throws or rejects', async () => {
    const logger = new CapturingLogger();
    const bus = new InMemoryEventBus({ logger });
    const inbox = new Inbox<TransitionMessage>();
    await bus.subscribe('wf', () => {
      throw new Error('boom');
    });
    await bus.subscribe('wf', async () => {
      throw new Error('async boom');
    });
    await bus.subscribe('wf', inbox.push);
    await bus.publish(transition('wf', 1));
    await bus.publish(transition('wf', 2));
    assert.deepEqual((await inbox.waitFor(2)).map((m) => m.version), [1, 2]);
    const failures = () => logger.matching('event bus subscriber failed').map((e) => e.fields.error);
    await waitUntil(() => failures().length === 4, 'four failure log lines');
    assert.deepEqual(new Set(failures()), new Set(['boom', 'async boom']));
    await bus.close();
  });

  it('stops delivering once unsubscribed, even messages already in flight', async () => {
    const bus = new InMemoryEventBus();
    const gone = new Inbox<TransitionMessage>();
    const stays = new Inbox<TransitionMessage>();
    const unsubscribe = await bus.subscribe('wf', gone.push);
    await bus.subscribe('wf', stays.push);
    const inFlight = bus.publish(transition('wf', 1)); // queued, not yet delivered
    await unsubscribe();
    await inFlight;
    await bus.publish(transition('wf', 2));
    await stays.waitFor(2);
    assert.equal(gone.items.length, 0);
    await unsubscribe(); // idempotent
    assert.equal(bus.subscribedWorkflows, 1);
  });

  it('forgets a workflow when its last subscriber leaves', async () => {
    const bus = new InMemoryEventBus();
    const first = await bus.subscribe('wf', () => {});
    const second = await bus.subscribe('wf', () => {});
    assert.equal(bus.subscribedWorkflows, 1);
    await first();
    assert.equal(bus.subscribedWorkflows, 1);
    await second();
    assert.equal(bus.subscribedWorkflows, 0);
  });

  it('gives subscribers a JSON copy, and rejects a message that is not JSON-safe', async () => {
    const bus = new InMemoryEventBus();
    const inbox = new Inbox<TransitionMessage>();
    await bus.subscribe('wf', inbox.push);
    const message = transition('wf', 1, { state: { nested: { at: new Date(0) } } });
    await bus.publish(message);
    (message.state as { nested: unknown }).nested = 'changed by the publisher';
    const [received] = await inbox.waitFor(1);
    assert.deepEqual(received?.state, { nested: { at: '1970-01-01T00:00:00.000Z' } });

    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await assert.rejects(bus.publish(transition('wf', 2, { state: cyclic })), TypeError);
    await assert.rejects(bus.publish({ workflowId: 'wf' } as TransitionMessage), TypeError);
    await bus.close();
  });

  it('is always ok, and after close drops publishes and refuses subscriptions', async () => {
    const bus = new InMemoryEventBus();
    assert.deepEqual(bus.status(), { ok: true, message: '' });
    const stop = bus.onStatusChange(() => assert.fail('status never changes'));
    const inbox = new Inbox<TransitionMessage>();
    await bus.subscribeAll(inbox.push);
    const pending = bus.publish(transition('wf', 1));
    await bus.close();
    await pending;
    await bus.close(); // idempotent
    await bus.publish(transition('wf', 2));
    assert.equal(bus.droppedPublishes, 1);
    await assert.rejects(bus.subscribe('wf', () => {}), EventBusClosedError);
    await assert.rejects(bus.subscribeAll(() => {}), EventBusClosedError);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(inbox.items.length, 0, 'nothing is delivered after close');
    assert.deepEqual(bus.status(), { ok: true, message: '' });
    stop();
  });

  it('carries a history entry while the message is small, and drops it from a bigger one', async () => {
    const bus = new InMemoryEventBus();
    const all = new Inbox<TransitionMessage>();
    await bus.subscribeAll(all.push);
    const entry = { event: { type: 'test.event', n: 1 }, eventId: 'e1', fromState: 'a', context: { small: true } };
    await bus.publish(transition('wf', 2, { entry, previousAt: new Date(0).toISOString() }));
    await bus.publish(transition('wf', 3, { entry: { ...entry, context: { big: 'x'.repeat(MAX_ENTRY_MESSAGE_BYTES) } } }));
    const [small, big] = await all.waitFor(2);
    assert.deepEqual(small!.entry, entry);
    assert.equal(small!.previousAt, new Date(0).toISOString());
    assert.equal(big!.entry, undefined);
    assert.equal(big!.version, 3);
  });

  it('delivers work announcements on their own channel, not to transition subscribers', async () => {
    const bus = new InMemoryEventBus();
    const work = new Inbox<WorkMessage>();
    const all = new Inbox<TransitionMessage>();
    await bus.subscribeAll(all.push);
    const stop = await bus.subscribeWork(work.push);
    const messages: WorkMessage[] = [{ kind: 'task', from: 'a' }, { kind: 'timer', from: 'a', dueAt: new Date(5).toISOString() }];
    for (const message of messages) await bus.publishWork(message);
    assert.deepEqual(await work.waitFor(2), messages);
    await stop();
    await bus.publishWork({ kind: 'task', from: 'b' });
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(work.items.length, 2);
    assert.equal(all.items.length, 0);
    await assert.rejects(bus.publishWork({ kind: 'timer', from: 'a', dueAt: 'never' } as WorkMessage), TypeError);
  });
});
