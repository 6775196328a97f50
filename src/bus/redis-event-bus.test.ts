import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createClient } from 'redis';
import type { TransitionMessage, WorkMessage } from '../engine/ports/event-bus.js';
import { silentBusLogger } from './bus-logger.js';
import { EventBusClosedError } from './event-bus-errors.js';
import { createRedisEventBus, type RedisEventBus } from './redis-event-bus.js';
import { CapturingLogger } from './test-support/capturing-logger.js';
import { transition } from './test-support/messages.js';
import { Inbox } from './test-support/wait.js';

const redisUrl = process.env.REDIS_URL;

describe('RedisEventBus (REDIS_URL)', { skip: redisUrl ? false : 'REDIS_URL is not set' }, () => {
  const url = redisUrl ?? '';
  // A prefix per run, so parallel runs and other test files on the same server do not see each other.
  const prefix = `test-${randomUUID()}`;
  const logger = new CapturingLogger();
  let a: RedisEventBus; // two buses, like two replicas
  let b: RedisEventBus;
  let admin: ReturnType<typeof createClient>;

  const numsub = async (channel: string): Promise<number> => {
    const reply = await admin.pubSubNumSub(channel);
    return Number(reply[channel] ?? 0);
  };

  before(async () => {
    a = await createRedisEventBus({ url, logger, prefix });
    b = await createRedisEventBus({ url, logger, prefix });
    admin = createClient({ url });
    admin.on('error', () => {});
    await admin.connect();
  });

  after(async () => {
    await Promise.all([a?.close(), b?.close()]);
    admin?.destroy();
  });

  it('is ok once connected, and names its channels with the prefix', async () => {
    assert.equal(a.kind, 'redis');
    assert.deepEqual(a.status(), { ok: true, message: '' });
    const unsubscribe = await b.subscribe('named', () => {});
    assert.equal(await numsub(`${prefix}:wf:named`), 1);
    await unsubscribe();
    assert.equal(await numsub(`${prefix}:wf:named`), 0);
  });

  it("delivers a replica's own publish to its subscribers once, without waiting for Redis, and to the others once", async () => {
    const wf = randomUUID();
    const own = new Inbox<TransitionMessage>();
    const ownAll = new Inbox<TransitionMessage>();
    const other = new Inbox<TransitionMessage>();
    const stops = [await a.subscribe(wf, own.push), await a.subscribeAll(ownAll.push), await b.subscribe(wf, other.push)];
    const first = transition(wf, 1);
    const publishing = a.publish(first);
    await Promise.resolve(); // a microtask later, before any reply from Redis
    assert.deepEqual(own.items, [first]);
    await publishing;
    await a.publish(transition(wf, 2));
    await other.waitFor(2);
    await own.waitFor(2);
    await new Promise((resolve) => setTimeout(resolve, 50)); // the echoes from Redis, if any, arrived
    assert.deepEqual(own.items.map((m) => m.version), [1, 2], 'no echo delivered');
    assert.deepEqual(ownAll.items.filter((m) => m.workflowId === wf).map((m) => m.version), [1, 2]);
    assert.deepEqual(other.items.map((m) => m.version), [1, 2]);
    for (const stop of stops) await stop();
  });

  it('delivers work announcements to every replica on the work channel only', async () => {
    const work = new Inbox<WorkMessage>();
    const all = new Inbox<TransitionMessage>();
    const stops = [await b.subscribeWork(work.push), await b.subscribeAll(all.push)];
    assert.equal(await numsub(`${prefix}:work`), 1);
    const message: WorkMessage = { kind: 'timer', from: 'replica-a', dueAt: new Date(1000).toISOString() };
    await a.publishWork(message);
    assert.deepEqual(await work.waitFor(1), [message]);
    await a.publish(transition(randomUUID(), 1));
    await all.waitFor(1);
    assert.equal(work.items.length, 1, 'transitions do not reach work subscribers');
    for (const stop of stops) await stop();
  });

  it("delivers one replica's publish to the other's workflow and firehose subscribers", async () => {
    const wf = randomUUID();
    const mine = new Inbox<TransitionMessage>();
    const other = new Inbox<TransitionMessage>();
    const all = new Inbox<TransitionMessage>();
    const stops = [await b.subscribe(wf, mine.push), await b.subscribe(randomUUID(), other.push), await b.subscribeAll(all.push)];
    const message = transition(wf, 1, { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' });
    await a.publish(message);
    assert.deepEqual((await mine.waitFor(1))[0], message);
    assert.deepEqual((await all.waitFor(1))[0], message);
    // The firehose saw it, and it came after the workflow channel's copy: the other workflow got nothing.
    assert.equal(other.items.length, 0);
    for (const stop of stops) await stop();
  });

  it('delivers to subscribers on the publishing replica too', async () => {
    const wf = randomUUID();
    const inbox = new Inbox<TransitionMessage>();
    const stop = await a.subscribe(wf, inbox.push);
    await a.publish(transition(wf, 1));
    await inbox.waitFor(1);
    await stop();
  });

  it('keeps publish order per subscriber, also for publishes not awaited', async () => {
    const wf = randomUUID();
    const inbox = new Inbox<TransitionMessage>();
    const all = new Inbox<TransitionMessage>();
    const stops = [await b.subscribe(wf, inbox.push), await b.subscribeAll(all.push)];
    const versions = Array.from({ length: 500 }, (_, i) => i + 1);
    await Promise.all(versions.map((v) => a.publish(transition(wf, v))));
    assert.deepEqual((await inbox.waitFor(500, 10_000)).map((m) => m.version), versions);
    const fromAll = (await all.waitFor(500, 10_000)).filter((m) => m.workflowId === wf).map((m) => m.version);
    assert.deepEqual(fromAll, versions);
    for (const stop of stops) await stop();
  });

  it('shares one Redis subscription per channel among local listeners', async () => {
    const wf = randomUUID();
    const channel = `${prefix}:wf:${wf}`;
    const before = b.subscribedChannels;
    const inboxes = [new Inbox<TransitionMessage>(), new Inbox<TransitionMessage>(), new Inbox<TransitionMessage>()];
    // Concurrently, as three watchers of one workflow would.
    const stops = await Promise.all(inboxes.map((inbox) => b.subscribe(wf, inbox.push)));
    assert.equal(await numsub(channel), 1, 'one SUBSCRIBE for three listeners');
    assert.equal(b.subscribedChannels, before + 1);

    await a.publish(transition(wf, 1));
    for (const inbox of inboxes) await inbox.waitFor(1);

    await stops[0]!();
    await stops[1]!();
    assert.equal(await numsub(channel), 1, 'still subscribed while a listener is left');
    await a.publish(transition(wf, 2));
    await inboxes[2]!.waitFor(2);

    await stops[2]!();
    assert.equal(await numsub(channel), 0, 'UNSUBSCRIBE when the last listener left');
    assert.equal(b.subscribedChannels, before);

    // Subscribing again after the channel was dropped works.
    const again = new Inbox<TransitionMessage>();
    const stop = await b.subscribe(wf, again.push);
    assert.equal(await numsub(channel), 1);
    await a.publish(transition(wf, 3));
    assert.deepEqual((await again.waitFor(1)).map((m) => m.version), [3]);
    await stop();
  });

  it('delivers nothing to a listener after its unsubscribe resolved', async () => {
    const wf = randomUUID();
    const gone = new Inbox<TransitionMessage>();
    const stays = new Inbox<TransitionMessage>();
    const all = new Inbox<TransitionMessage>();
    const unsubscribe = await b.subscribe(wf, gone.push);
    const stops = [await b.subscribe(wf, stays.push), await b.subscribeAll(all.push)];
    await a.publish(transition(wf, 1));
    await gone.waitFor(1);
    await unsubscribe();
    await unsubscribe(); // idempotent
    await a.publish(transition(wf, 2));
    await a.publish(transition(wf, 3));
    // Both arrive on one connection in publish order: once the firehose has 3, 2 was delivered (or not) already.
    await all.waitFor(3);
    await stays.waitFor(3);
    assert.deepEqual(gone.items.map((m) => m.version), [1]);
    for (const stop of stops) await stop();
  });

  it('goes on delivering when a listener throws, and drops malformed messages', async () => {
    const wf = randomUUID();
    const inbox = new Inbox<TransitionMessage>();
    const stops = [
      await b.subscribe(wf, () => {
        throw new Error('listener bug');
      }),
      await b.subscribe(wf, inbox.push),
    ];
    await admin.publish(`${prefix}:wf:${wf}`, 'not json');
    await admin.publish(`${prefix}:wf:${wf}`, JSON.stringify({ workflowId: wf }));
    await a.publish(transition(wf, 1));
    await a.publish(transition(wf, 2));
    assert.deepEqual((await inbox.waitFor(2)).map((m) => m.version), [1, 2]);
    assert.equal(b.malformedMessages, 2);
    assert.ok(logger.matching('event bus subscriber failed').some((e) => e.fields.error === 'listener bug'), 'the failing listener is logged with its error');
    assert.deepEqual(b.status(), { ok: true, message: '' });
    for (const stop of stops) await stop();
  });

  it('rejects a message that is not a transition', async () => {
    await assert.rejects(a.publish({ workflowId: 'x' } as TransitionMessage), TypeError);
  });

  it('closes idempotently: status not ok, publishes dropped, subscriptions refused', async () => {
    const bus = await createRedisEventBus({ url, logger: silentBusLogger, prefix });
    const statuses: boolean[] = [];
    bus.onStatusChange((status) => statuses.push(status.ok));
    const stop = await bus.subscribeAll(() => {});
    await Promise.all([bus.close(), bus.close()]);
    await bus.close();
    await stop(); // after close: resolves, does nothing
    assert.deepEqual(bus.status(), { ok: false, message: 'closed' });
    assert.deepEqual(statuses, [false]);
    await bus.publish(transition('wf', 1));
    assert.equal(bus.droppedPublishes, 1);
    await assert.rejects(bus.subscribe('wf', () => {}), EventBusClosedError);
  });
});
