import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { createClient } from 'redis';
import type { TransitionMessage } from '../engine/ports/event-bus.js';
import { EventBusStartupError } from './event-bus-errors.js';
import { createRedisEventBus, RedisEventBus, type RedisEventBusOptions } from './redis-event-bus.js';
import { CapturingLogger } from './test-support/capturing-logger.js';
import { transition } from './test-support/messages.js';
import { freePort, RedisServerProcess, redisServerBinary } from './test-support/redis-server-process.js';
import { Inbox, waitForStatus } from './test-support/wait.js';
import { waitUntil } from '../engine/test-support/wait-until.js';

// Short delays so that outages and retries happen within a test's time.
const fast: Omit<RedisEventBusOptions, 'url' | 'logger'> = {
  reconnectBaseMs: 20,
  reconnectMaxMs: 200,
  commandTimeoutMs: 500,
  startupTimeoutMs: 5_000,
};

/** Every log line as the JSON logger would write it, to check that no stack trace leaks. */
function noStacks(logger: CapturingLogger): void {
  for (const entry of logger.entries) {
    const line = JSON.stringify(entry);
    assert.doesNotMatch(line, /\n\s+at |\\n\s+at /, `stack trace in log line ${line}`);
  }
}

describe('RedisEventBus faults (own redis-server)', { skip: redisServerBinary ? false : 'redis-server is not installed' }, () => {
  const servers: RedisServerProcess[] = [];
  const buses: RedisEventBus[] = [];
  after(async () => {
    // Runs on failure too: close the clients, then kill every server this file started.
    await Promise.allSettled(buses.map((bus) => bus.close()));
    await Promise.allSettled(servers.map((server) => server.kill()));
  });

  const launch = async (port?: number) => {
    const server = port === undefined ? await RedisServerProcess.launch() : RedisServerProcess.onPort(port);
    servers.push(server);
    if (!server.isRunning) await server.start();
    return server;
  };
  const bus = async (url: string, logger: CapturingLogger, prefix: string) => {
    const created = await createRedisEventBus({ ...fast, url, logger, prefix });
    buses.push(created);
    return created;
  };

  it('survives a Redis crash: not ok while down, publish neither throws nor hangs, subscriptions come back', async () => {
    const server = await launch();
    const prefix = `test-${randomUUID()}`;
    const logA = new CapturingLogger();
    const logB = new CapturingLogger();
    const a = await bus(server.url, logA, prefix);
    const b = await bus(server.url, logB, prefix);
    const wf = randomUUID();
    const mine = new Inbox<TransitionMessage>();
    const all = new Inbox<TransitionMessage>();
    await b.subscribe(wf, mine.push);
    await b.subscribeAll(all.push);
    await a.publish(transition(wf, 1));
    await mine.waitFor(1);

    const changes: boolean[] = [];
    a.onStatusChange((status) => changes.push(status.ok));
    await server.kill();
    const [downA, downB] = await Promise.all([waitForStatus(a, false), waitForStatus(b, false)]);
    assert.match(downA.message, /redis connection lost/);
    assert.match(downB.message, /redis connection lost/);

    // publish while down: resolves within the command timeout (at once when the publisher
    // connection has noticed the loss already), never throws, and is counted as dropped.
    const started = performance.now();
    await a.publish(transition(wf, 2));
    const took = performance.now() - started;
    assert.ok(took < fast.commandTimeoutMs! + 100, `publish took ${took} ms while down`);
    assert.equal(a.droppedPublishes, 1);

    // subscribe while down, to a channel already subscribed and to a new one:
    // does not hang, and works once Redis is back.
    const late = new Inbox<TransitionMessage>();
    const wf2 = randomUUID();
    const fresh = new Inbox<TransitionMessage>();
    const subscribing = performance.now();
    await b.subscribe(wf, late.push);
    await b.subscribe(wf2, fresh.push);
    assert.ok(performance.now() - subscribing < 100, 'subscribe while down must not wait for Redis');

    // Let both retry several times, to show that the loss is logged once, not per attempt.
    await waitUntil(() => a.reconnectAttempts >= 3 && b.reconnectAttempts >= 3, 'reconnect attempts');
    await server.start();
    await Promise.all([waitForStatus(a, true, 10_000), waitForStatus(b, true, 10_000)]);

    // The subscription made before the crash was restored (node-redis re-subscribes on reconnect),
    // and the one made while down was sent on reconnect.
    await a.publish(transition(wf, 3));
    assert.deepEqual((await mine.waitFor(2)).map((m) => m.version), [1, 3]);
    assert.deepEqual((await late.waitFor(1)).map((m) => m.version), [3]);
    await a.publish(transition(wf2, 1));
    assert.deepEqual((await fresh.waitFor(1)).map((m) => m.version), [1]);
    assert.deepEqual((await all.waitFor(3)).map((m) => `${m.workflowId === wf ? 'wf' : 'wf2'}@${m.version}`), ['wf@1', 'wf@3', 'wf2@1']);

    assert.deepEqual(changes, [false, true]);
    for (const logger of [logA, logB]) {
      assert.equal(logger.matching('redis connection lost').length, 1, 'lost is logged once');
      assert.equal(logger.matching('redis connection restored').length, 1, 'restored is logged once');
      assert.equal(logger.entries.filter((e) => e.level === 'warn' || e.level === 'error').length, 1);
    }
    assert.equal(logA.matching('redis connection restored')[0]?.fields.droppedPublishes, 1);
    noStacks(logA);
    noStacks(logB);
  });

  it('sends one SUBSCRIBE per channel however many local listeners it has', async () => {
    const server = await launch();
    const admin = createClient({ url: server.url });
    admin.on('error', () => {});
    await admin.connect();
    try {
      const subscribeCalls = async () => {
        const info = await admin.info('commandstats');
        return Number(/cmdstat_subscribe:calls=(\d+)/.exec(info)?.[1] ?? 0);
      };
      const b = await bus(server.url, new CapturingLogger(), 'p');
      const wf = randomUUID();
      const stops = await Promise.all([1, 2, 3].map(() => b.subscribe(wf, () => {})));
      stops.push(await b.subscribe(wf, () => {}));
      assert.equal(await subscribeCalls(), 1);
      assert.equal(b.subscribedChannels, 1);
      for (const stop of stops) await stop();
      assert.equal(b.subscribedChannels, 0);
      const reply = await admin.pubSubNumSub(`p:wf:${wf}`);
      assert.equal(Number(reply[`p:wf:${wf}`]), 0);
    } finally {
      admin.destroy();
    }
  });

  it('drops and counts publishes that Redis refuses, logging once per run of failures', async () => {
    const server = await launch();
    const admin = createClient({ url: server.url });
    admin.on('error', () => {});
    await admin.connect();
    try {
      const logger = new CapturingLogger();
      const a = await bus(server.url, logger, 'p');
      const b = await bus(server.url, new CapturingLogger(), 'p');
      const all = new Inbox<TransitionMessage>();
      await b.subscribeAll(all.push);
      await admin.sendCommand(['ACL', 'SETUSER', 'default', '-publish']);
      await a.publish(transition('wf', 1));
      await a.publish(transition('wf', 2));
      assert.equal(a.droppedPublishes, 2);
      const warnings = logger.matching('publish to redis failed');
      assert.equal(warnings.length, 1);
      assert.match(String(warnings[0]?.fields.error), /PUBLISH to p:wf:wf refused|NOPERM/);
      assert.deepEqual(a.status(), { ok: true, message: '' }, 'the connection itself is fine');

      await admin.sendCommand(['ACL', 'SETUSER', 'default', '+publish']);
      await a.publish(transition('wf', 3));
      assert.deepEqual((await all.waitFor(1)).map((m) => m.version), [3]);
      noStacks(logger);
    } finally {
      admin.destroy();
    }
  });

  it('stops retrying when closed during start-up', async () => {
    const logger = new CapturingLogger();
    const pending = new RedisEventBus({ ...fast, url: `redis://127.0.0.1:${await freePort()}`, logger, startupTimeoutMs: 30_000 });
    const starting = pending.start();
    await logger.next('redis not reachable, retrying');
    const started = performance.now();
    await pending.close();
    await assert.rejects(starting, (e: unknown) => e instanceof EventBusStartupError && /closed during start-up/.test(e.message));
    assert.ok(performance.now() - started < 1_000, 'gave up within a second');
  });

  it('closes promptly while Redis is down', async () => {
    const server = await launch();
    const b = await bus(server.url, new CapturingLogger(), 'p');
    await b.subscribeAll(() => {});
    await server.kill();
    await waitForStatus(b, false);
    const started = performance.now();
    await b.close();
    assert.ok(performance.now() - started < 1_000, `close took ${performance.now() - started} ms`);
    assert.deepEqual(b.status(), { ok: false, message: 'closed' });
  });

  it('keeps retrying at start-up until Redis comes up', async () => {
    const port = await freePort();
    const logger = new CapturingLogger();
    const starting = createRedisEventBus({ ...fast, url: `redis://127.0.0.1:${port}`, logger, prefix: 'p', startupTimeoutMs: 20_000 });
    starting.then((b) => buses.push(b), () => {});
    await logger.next('redis not reachable, retrying');
    await launch(port);
    const b = await starting;
    assert.deepEqual(b.status(), { ok: true, message: '' });
    assert.equal(logger.matching('redis connection lost').length, 0);
    noStacks(logger);
  });

  it('fails start-up with a clear error after the start-up timeout when nothing listens', async () => {
    const port = await freePort();
    const logger = new CapturingLogger();
    const started = performance.now();
    const error = await createRedisEventBus({
      ...fast,
      url: `redis://user:secret@127.0.0.1:${port}`,
      logger,
      startupTimeoutMs: 1_000,
    }).then(
      () => assert.fail('start-up succeeded'),
      (e: unknown) => e,
    );
    const elapsed = performance.now() - started;
    assert.ok(error instanceof EventBusStartupError, String(error));
    assert.match(error.message, new RegExp(`could not connect to redis at redis://127\\.0\\.0\\.1:${port} within 1000 ms: .*ECONNREFUSED`));
    assert.doesNotMatch(error.message, /secret/);
    assert.ok(elapsed >= 900 && elapsed < 3_000, `failed after ${elapsed} ms`);
    const attempts = logger.matching('redis not reachable, retrying');
    assert.ok(attempts.length >= 3, `${attempts.length} warn lines`);
    for (const line of attempts) {
      assert.match(String(line.fields.error), /ECONNREFUSED/);
      assert.doesNotMatch(JSON.stringify(line), /secret/);
    }
    noStacks(logger);
  });
});
