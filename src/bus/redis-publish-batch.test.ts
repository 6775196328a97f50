import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { createClient, ErrorReply } from 'redis';
import type { TransitionMessage, WorkMessage } from '../engine/ports/event-bus.js';
import { MAX_PAIRS_PER_CALL, RedisPublishBatch, type PublishingClient } from './redis-publish-batch.js';
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

/** A client that records what it was asked to send and answers as told. */
class ScriptedClient implements PublishingClient {
  readonly sent: string[][] = [];
  constructor(private readonly evalOutcome: (call: number) => Error | undefined) {}
  eval(_script: string, options: { arguments: string[] }): Promise<unknown> {
    const error = this.evalOutcome(this.sent.filter((s) => s[0] === 'EVAL').length);
    this.sent.push(['EVAL', ...options.arguments]);
    return error ? Promise.reject(error) : Promise.resolve(options.arguments.length / 2);
  }
  publish(channel: string, message: string): Promise<unknown> {
    this.sent.push(['PUBLISH', channel, message]);
    return Promise.resolve(1);
  }
}

describe('RedisPublishBatch', () => {
  const refusals: unknown[] = [];
  const batch = (client: PublishingClient) => new RedisPublishBatch(client, { timeoutMs: 1_000, onScriptsRefused: (e) => refusals.push(e) });
  beforeEach(() => refusals.splice(0));

  it('settles every add of a turn with the one command that carried them', async () => {
    const client = new ScriptedClient(() => undefined);
    const b = batch(client);
    const outcomes = await Promise.all([b.add(['wf:1', 'firehose'], 'm1'), b.add(['work'], 'w1')]);
    assert.deepEqual(outcomes, [{ outcome: 'fulfilled' }, { outcome: 'fulfilled' }]);
    assert.deepEqual(client.sent, [['EVAL', 'wf:1', 'm1', 'firehose', 'm1', 'work', 'w1']]);
    await b.add(['wf:1'], 'm2');
    assert.equal(client.sent.length, 2, 'the next turn is a command of its own');
  });

  it('sends what Redis refused to run as a script as PUBLISHes, and stays with them', async () => {
    const client = new ScriptedClient(() => new ErrorReply("NOPERM User default has no permissions to run the 'eval' command"));
    const b = batch(client);
    assert.deepEqual(await b.add(['a', 'b'], 'm1'), { outcome: 'fulfilled' });
    await b.add(['a'], 'm2');
    assert.deepEqual(client.sent, [['EVAL', 'a', 'm1', 'b', 'm1'], ['PUBLISH', 'a', 'm1'], ['PUBLISH', 'b', 'm1'], ['PUBLISH', 'a', 'm2']]);
    assert.equal(refusals.length, 1);
  });

  it('resends only the calls Redis refused when a large turn is split', async () => {
    const client = new ScriptedClient((call) => (call === 1 ? new ErrorReply('BUSY Redis is busy running a script') : undefined));
    const b = batch(client);
    const messages = Array.from({ length: MAX_PAIRS_PER_CALL + 1 }, (_, i) => `m${i}`);
    const outcomes = await Promise.all(messages.map((m) => b.add(['c'], m)));
    assert.ok(outcomes.every((o) => o.outcome === 'fulfilled'), 'every message of the turn sent');
    const published = client.sent.filter((s) => s[0] === 'PUBLISH').map((s) => s[2]);
    assert.deepEqual(published, [messages.at(-1)], 'the second call alone, not the first again');
  });

  it('fails the turn, scripts kept, for an outage or a PUBLISH the script was not allowed', async () => {
    for (const error of [new Error('Socket closed unexpectedly'), new ErrorReply("PUBLISH to a refused: ERR The user executing the script can't run this command")]) {
      const client = new ScriptedClient(() => error);
      const b = batch(client);
      assert.deepEqual(await b.add(['a'], 'm1'), { outcome: 'rejected', failure: error });
      await b.add(['a'], 'm2');
      assert.deepEqual(client.sent.map((s) => s[0]), ['EVAL', 'EVAL'], 'nothing resent, still scripts');
    }
    assert.equal(refusals.length, 0);
  });
});
