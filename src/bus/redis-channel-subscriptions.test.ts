import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TransitionMessage } from '../engine/ports/event-bus.js';
import { silentBusLogger } from './bus-logger.js';
import { RedisChannelSubscriptions, type PubSubConnection, type RawListener } from './redis-channel-subscriptions.js';
import { transition } from './test-support/messages.js';
import { decodeTransition } from './transition-codec.js';

/**
 * A connection whose commands the test settles by hand, to reach the states a
 * real server only shows by chance (a command failing because the connection
 * died under it). The real server is used in redis-event-bus*.test.ts.
 */
class ScriptedConnection implements PubSubConnection {
  readonly log: string[] = [];
  readonly pending: { command: string; resolve: () => void; reject: (error: Error) => void }[] = [];
  listener: RawListener | undefined;

  subscribe(channel: string, listener: RawListener): Promise<void> {
    this.listener = listener;
    return this.#command(`SUBSCRIBE ${channel}`);
  }
  unsubscribe(channel: string): Promise<void> {
    return this.#command(`UNSUBSCRIBE ${channel}`);
  }
  /** Settles the oldest pending command. */
  async settle(outcome: 'ok' | 'fail'): Promise<string> {
    await waitForCommand(this);
    const next = this.pending.shift()!;
    if (outcome === 'ok') next.resolve();
    else next.reject(new Error('Socket closed unexpectedly'));
    return next.command;
  }
  #command(command: string): Promise<void> {
    this.log.push(command);
    return new Promise((resolve, reject) => this.pending.push({ command, resolve, reject }));
  }
}

/** Commands are issued from a promise chain; let it run until one is pending. */
async function waitForCommand(connection: ScriptedConnection): Promise<void> {
  for (let i = 0; i < 100 && connection.pending.length === 0; i++) await Promise.resolve();
  assert.ok(connection.pending.length > 0, 'no command was issued');
}

async function drain(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
}

describe('RedisChannelSubscriptions', () => {
  it('issues one SUBSCRIBE for many listeners and one UNSUBSCRIBE after the last', async () => {
    const connection = new ScriptedConnection();
    const subscriptions = new RedisChannelSubscriptions(connection, silentBusLogger);
    const first = subscriptions.add('c', decodeTransition, () => {});
    const second = subscriptions.add('c', decodeTransition, () => {});
    assert.equal(await connection.settle('ok'), 'SUBSCRIBE c');
    await Promise.all([first.ready, second.ready]);
    await first.remove();
    await drain();
    assert.deepEqual(connection.pending, []);
    const removed = second.remove();
    assert.equal(await connection.settle('ok'), 'UNSUBSCRIBE c');
    await removed;
    assert.deepEqual(connection.log, ['SUBSCRIBE c', 'UNSUBSCRIBE c']);
    assert.equal(subscriptions.channelCount, 0);
  });

  it('retries a SUBSCRIBE that failed when resync() runs after a reconnect', async () => {
    const connection = new ScriptedConnection();
    const subscriptions = new RedisChannelSubscriptions(connection, silentBusLogger);
    const received: TransitionMessage[] = [];
    const { ready } = subscriptions.add('c', decodeTransition, (m) => received.push(m));
    await connection.settle('fail');
    await ready; // settles, does not reject
    subscriptions.resync();
    assert.equal(await connection.settle('ok'), 'SUBSCRIBE c');
    await drain();
    subscriptions.resync(); // in step now: nothing to send
    await drain();
    assert.deepEqual(connection.log, ['SUBSCRIBE c', 'SUBSCRIBE c']);
    connection.listener?.(JSON.stringify(transition('wf', 1)), 'c');
    assert.equal(received.length, 1);
  });

  it('retries an UNSUBSCRIBE that failed, unless a listener came back meanwhile', async () => {
    const connection = new ScriptedConnection();
    const subscriptions = new RedisChannelSubscriptions(connection, silentBusLogger);
    const first = subscriptions.add('c', decodeTransition, () => {});
    await connection.settle('ok');
    const removed = first.remove();
    await connection.settle('fail');
    await removed;
    assert.equal(subscriptions.channelCount, 1, 'still subscribed in Redis as far as we know');
    subscriptions.resync();
    assert.equal(await connection.settle('ok'), 'UNSUBSCRIBE c');
    await drain();
    assert.equal(subscriptions.channelCount, 0);

    const again = subscriptions.add('c', decodeTransition, () => {});
    await connection.settle('ok');
    await again.ready;
    const gone = again.remove();
    await connection.settle('fail');
    await gone;
    subscriptions.add('c', decodeTransition, () => {}); // a listener is back before the reconnect: stay subscribed
    subscriptions.resync();
    await drain();
    assert.deepEqual(connection.pending, []);
    assert.equal(connection.log.at(-1), 'UNSUBSCRIBE c');
  });

  it('runs commands for one channel one at a time, in call order', async () => {
    const connection = new ScriptedConnection();
    const subscriptions = new RedisChannelSubscriptions(connection, silentBusLogger);
    const first = subscriptions.add('c', decodeTransition, () => {});
    await waitForCommand(connection);
    const removed = first.remove(); // while the SUBSCRIBE is in flight
    await drain();
    assert.deepEqual(connection.pending.map((p) => p.command), ['SUBSCRIBE c'], 'UNSUBSCRIBE waits for the SUBSCRIBE');
    await connection.settle('ok');
    assert.equal(await connection.settle('ok'), 'UNSUBSCRIBE c');
    await removed;
    assert.equal(subscriptions.channelCount, 0);

    // A listener that arrives before a pending removal is due cancels it.
    const a = subscriptions.add('c', decodeTransition, () => {});
    await waitForCommand(connection);
    const aGone = a.remove();
    const b = subscriptions.add('c', decodeTransition, () => {});
    await connection.settle('ok');
    await Promise.all([aGone, b.ready]);
    await drain();
    assert.deepEqual(connection.log, ['SUBSCRIBE c', 'UNSUBSCRIBE c', 'SUBSCRIBE c']);
    assert.equal(subscriptions.channelCount, 1);
  });

  it('delivers parsed messages to active listeners only, and counts malformed ones', async () => {
    const connection = new ScriptedConnection();
    const subscriptions = new RedisChannelSubscriptions(connection, silentBusLogger);
    const a: number[] = [];
    const b: number[] = [];
    const first = subscriptions.add('c', decodeTransition, (m) => a.push(m.version));
    subscriptions.add('c', decodeTransition, (m) => b.push(m.version));
    await connection.settle('ok');
    connection.listener?.(JSON.stringify(transition('wf', 1)), 'c');
    connection.listener?.('{"broken"', 'c');
    connection.listener?.(JSON.stringify(transition('wf', 9)), 'unknown-channel');
    void first.remove();
    connection.listener?.(JSON.stringify(transition('wf', 2)), 'c');
    assert.deepEqual(a, [1]);
    assert.deepEqual(b, [1, 2]);
    assert.equal(subscriptions.malformedMessages, 1);
  });

  it('drops the echo of each message delivered locally once, in whatever order echoes come', async () => {
    const connection = new ScriptedConnection();
    const subscriptions = new RedisChannelSubscriptions(connection, silentBusLogger);
    const got: number[] = [];
    const sub = subscriptions.add('c', decodeTransition, (m: TransitionMessage) => got.push(m.version));
    await connection.settle('ok');
    await sub.ready;
    const [one, two, three] = [1, 2, 3].map((v) => JSON.stringify(transition('wf', v)));
    subscriptions.deliverLocally('c', one!, true);
    subscriptions.deliverLocally('c', two!, true);
    await drain();
    assert.deepEqual(got, [1, 2], 'delivered locally at once');
    connection.listener?.(two!, 'c'); // echoes may come in another order
    connection.listener?.(three!, 'c'); // another replica's message: delivered
    connection.listener?.(one!, 'c');
    connection.listener?.(one!, 'c'); // a second copy was not expected: delivered
    assert.deepEqual(got, [1, 2, 3, 1]);
    subscriptions.deliverLocally('c', one!, false); // no echo expected: Redis's copy is delivered
    connection.listener?.(one!, 'c');
    await drain();
    assert.deepEqual(got, [1, 2, 3, 1, 1, 1]);
  });
});
