import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import type { TransitionMessage } from '../engine/ports/event-bus.js';
import { createEventBus } from './create-event-bus.js';
import { EventBusStartupError } from './event-bus-errors.js';
import { InMemoryEventBus } from './in-memory-event-bus.js';
import { RedisEventBus } from './redis-event-bus.js';
import { CapturingLogger } from './test-support/capturing-logger.js';
import { transition } from './test-support/messages.js';
import { freePort } from './test-support/redis-server-process.js';
import { Inbox } from './test-support/wait.js';

const redisUrl = process.env.REDIS_URL;

describe('createEventBus', () => {
  it('builds the in-process bus when no Redis URL is given', async () => {
    for (const url of [undefined, '']) {
      const bus = await createEventBus({ redisUrl: url, logger: new CapturingLogger() });
      assert.ok(bus instanceof InMemoryEventBus, 'no REDIS_URL: the in-process bus');
      assert.equal(bus.kind, 'memory');
      await bus.close();
    }
  });

  it('builds a connected Redis bus when a Redis URL is given', { skip: redisUrl ? false : 'REDIS_URL is not set' }, async () => {
    const bus = await createEventBus({ redisUrl, logger: new CapturingLogger(), prefix: `test-${randomUUID()}` });
    try {
      assert.ok(bus instanceof RedisEventBus, 'REDIS_URL set: the Redis bus');
      assert.equal(bus.kind, 'redis');
      assert.equal(bus.status().ok, true);
      const inbox = new Inbox<TransitionMessage>();
      await bus.subscribeAll(inbox.push);
      await bus.publish(transition('wf', 1));
      await inbox.waitFor(1);
    } finally {
      await bus.close();
    }
  });

  it('passes the start-up timeout on to the Redis bus', async () => {
    const redisUrl = `redis://127.0.0.1:${await freePort()}`;
    await assert.rejects(
      createEventBus({ redisUrl, logger: new CapturingLogger(), startupTimeoutMs: 200, reconnectBaseMs: 20 }),
      EventBusStartupError,
    );
  });
});
