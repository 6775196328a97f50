import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { createClient } from 'redis';
import type { TransitionMessage, WorkMessage } from '../engine/ports/event-bus.js';
import { MAX_PAIRS_PER_CALL } from './redis-publish-batch.js';
import { createRedisEventBus, type RedisEventBus } from './redis-event-bus.js';
import { CapturingLogger } from './test-support/capturing-logger.js';
import { transition } from './test-support/messages.js';
import { RedisServerProcess, redisServerBinary } from './test-support/redis-server-process.js';
import { Inbox } from './test-support/wait.js';

// An own redis-server: the tests count the commands it ran, and change its ACL.
describe('RedisEventBus publish batches (own redis-server)', { skip: redisServerBinary ? false : 'redis-server is not installed' }, () => {
  let server: RedisServerProcess;
  let admin: ReturnType<typeof createClient>;
  const buses: RedisEventBus[] = [];

  before(async () => {
    server = await RedisServerProcess.launch();
    admin = createClient({ url: server.url });
    admin.on('error', () => {});
    await admin.connect();
  });
  after(async () => {
    await Promise.allSettled(buses.map((bus) => bus.close()));
    admin?.destroy();
    await server?.kill();
  });
  beforeEach(async () => {
    await admin.sendCommand(['ACL', 'SETUSER', 'default', '+@all']);
  });

  const bus = async (logger = new CapturingLogger()) => {
    const created = await createRedisEventBus({ url: server.url, logger, prefix: 'b', commandTimeoutMs: 1_000 });
    buses.push(created);
    return created;
  };
  /** Calls of each command since the last reset, from INFO commandstats (a script's PUBLISHes included). */
  const calls = async (): Promise<Record<string, number>> => {
    const info = String(await admin.sendCommand(['INFO', 'commandstats']));
    return Object.fromEntries([...info.matchAll(/cmdstat_(\w+):calls=(\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
  };
  const resetStats = () => admin.sendCommand(['CONFIG', 'RESETSTAT']);

  it("sends one turn's publishes as one command, and every subscriber gets them in order", async () => {
    const publisher = await bus();
    const other = await bus();
    const all = new Inbox<TransitionMessage>();
    const one = new Inbox<TransitionMessage>();
    const work = new Inbox<WorkMessage>();
    await other.subscribeAll(all.push);
    await other.subscribe('wf-3', one.push);
    await other.subscribeWork(work.push);
    await resetStats();

    const sent = [];
    for (let v = 1; v <= 10; v++) sent.push(publisher.publish(transition(`wf-${v}`, v)));
    const announcement: WorkMessage = { kind: 'task', from: 'replica-a' };
    sent.push(publisher.publishWork(announcement));
    await Promise.all(sent);

    const stats = await calls();
    assert.equal(stats.eval, 1, 'one EVAL for the turn');
    assert.equal(stats.publish, 21, 'its PUBLISHes: two a transition, one for the work');
    assert.deepEqual((await all.waitFor(10)).map((m) => m.version), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.deepEqual((await one.waitFor(1)).map((m) => m.workflowId), ['wf-3']);
    assert.deepEqual(await work.waitFor(1), [announcement]);
    assert.equal(publisher.droppedPublishes, 0);
  });

  it('splits a large turn into calls of at most MAX_PAIRS_PER_CALL pairs, in order', async () => {
    const publisher = await bus();
    const other = await bus();
    const all = new Inbox<TransitionMessage>();
    await other.subscribeAll(all.push);
    await resetStats();
    const count = MAX_PAIRS_PER_CALL + 10; // two pairs each: three calls
    await Promise.all(Array.from({ length: count }, (_, i) => publisher.publish(transition('big', i + 1))));
    assert.equal((await calls()).eval, 3);
    assert.deepEqual((await all.waitFor(count)).map((m) => m.version), Array.from({ length: count }, (_, i) => i + 1));
  });

  it('publishes one command per message where EVAL is refused, and says so once', async () => {
    const logger = new CapturingLogger();
    const publisher = await bus(logger);
    const other = await bus();
    const all = new Inbox<TransitionMessage>();
    await other.subscribeAll(all.push);
    await admin.sendCommand(['ACL', 'SETUSER', 'default', '-eval']);
    await Promise.all([publisher.publish(transition('wf', 1)), publisher.publish(transition('wf', 2))]);
    await publisher.publish(transition('wf', 3));
    assert.deepEqual((await all.waitFor(3)).map((m) => m.version), [1, 2, 3], 'none lost in the switch');
    assert.equal(publisher.droppedPublishes, 0);
    const notes = logger.matching('redis refuses EVAL');
    assert.equal(notes.length, 1);
    assert.match(String(notes[0]?.fields.error), /NOPERM.*'eval'/);
    assert.deepEqual(publisher.status(), { ok: true, message: '' });
  });
});
