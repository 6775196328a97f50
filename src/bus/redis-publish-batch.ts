import { ErrorReply } from 'redis';
import { settleWithin, type Settlement } from './settle-within.js';

/** What the batch needs of a node-redis client. */
export interface PublishingClient {
  eval(script: string, options: { arguments: string[] }): Promise<unknown>;
  publish(channel: string, message: string): Promise<unknown>;
}

/** How a batch ended for every message in it; `failure` is the error when it did not reach Redis. */
export interface BatchOutcome {
  outcome: Settlement;
  failure?: unknown;
}

/** How the script's own error starts: a PUBLISH in it was refused (see PUBLISH_PAIRS_SCRIPT). */
const PUBLISH_REFUSED = 'PUBLISH to ';

/**
 * Publishes each (channel, message) pair of ARGV in order, in one command. A refused PUBLISH (an
 * ACL) ends it with an error that names the command and channel, which Redis's own message for a
 * script does not.
 */
export const PUBLISH_PAIRS_SCRIPT = `for i = 1, #ARGV, 2 do
  local r = redis.pcall('PUBLISH', ARGV[i], ARGV[i + 1])
  if type(r) == 'table' and r.err then return redis.error_reply('${PUBLISH_REFUSED}' .. ARGV[i] .. ' refused: ' .. r.err) end
end
return #ARGV / 2`;

/**
 * Largest number of pairs in one script call: a script holds Redis for its whole run (~1 ms for
 * 256 messages of 500 bytes to one subscriber), so a burst goes out as several calls.
 */
export const MAX_PAIRS_PER_CALL = 256;

/**
 * The PUBLISHes of one event-loop turn, sent to Redis as one EVAL of a script that publishes
 * them in order: node-redis's cost per command (its queue entry, promise, encoding and reply) is
 * paid once per turn. In a timer burst (64 firings a commit, 128 PUBLISHes) the server used
 * 55-59% of a core against 64-69% with a command per message (six pairs); at 8 publishes a turn
 * the difference is within the noise (bench/JOURNAL.md, Session 21). Subscribers see the same
 * messages on the same channels in the same order as with one PUBLISH each.
 *
 * The batch is sent from `process.nextTick`: after the synchronous fan-out that fills it, and
 * before node-redis's own immediate that writes its queue, so batching adds no turn.
 *
 * Where Redis answers the EVAL itself with an error (an ACL without `eval`, a proxy without
 * scripts), the refused calls and every later batch go out as plain PUBLISHes, pipelined, and
 * `onScriptsRefused` is called once. (Redis 7 runs the script on a read-only replica and past
 * `maxmemory`, as it does PUBLISH.)
 */
export class RedisPublishBatch {
  readonly #client: PublishingClient;
  readonly #timeoutMs: number;
  readonly #onScriptsRefused: (error: unknown) => void;
  #pairs: string[] = [];
  #settle: ((outcome: BatchOutcome) => void) | undefined;
  #sent: Promise<BatchOutcome> | undefined;
  #scripts = true;

  constructor(client: PublishingClient, options: { timeoutMs: number; onScriptsRefused: (error: unknown) => void }) {
    this.#client = client;
    this.#timeoutMs = options.timeoutMs;
    this.#onScriptsRefused = options.onScriptsRefused;
  }

  /** Queues `message` on each channel; settles when this turn's batch did (bounded by the timeout). */
  add(channels: string[], message: string): Promise<BatchOutcome> {
    for (const channel of channels) this.#pairs.push(channel, message);
    if (this.#sent === undefined) {
      this.#sent = new Promise((resolve) => (this.#settle = resolve));
      process.nextTick(() => this.#flush());
    }
    return this.#sent;
  }

  #flush(): void {
    const pairs = this.#pairs;
    const settle = this.#settle!;
    this.#pairs = [];
    this.#sent = this.#settle = undefined;
    let failure: unknown = 'timed out';
    const sent = this.#send(pairs).catch((error: unknown) => {
      failure = error;
      throw error;
    });
    void settleWithin(sent, this.#timeoutMs).then((outcome) => settle(outcome === 'fulfilled' ? { outcome } : { outcome, failure }));
  }

  async #send(pairs: string[]): Promise<void> {
    let plain = pairs;
    let failure: { error: unknown } | undefined;
    if (this.#scripts) {
      const calls = chunks(pairs, MAX_PAIRS_PER_CALL * 2);
      const results = await Promise.allSettled(calls.map((args) => this.#client.eval(PUBLISH_PAIRS_SCRIPT, { arguments: args })));
      plain = [];
      results.forEach((result, i) => {
        if (result.status === 'fulfilled') return;
        // Redis refused the EVAL itself, so nothing of that call was published: it goes again as
        // PUBLISHes. An outage or a PUBLISH the script was not allowed fails the batch.
        if (!refusesScripts(result.reason)) {
          failure ??= { error: result.reason };
          return;
        }
        plain.push(...calls[i]!);
        if (!this.#scripts) return;
        this.#scripts = false;
        this.#onScriptsRefused(result.reason);
      });
    }
    const published: Promise<unknown>[] = [];
    for (let i = 0; i < plain.length; i += 2) published.push(this.#client.publish(plain[i]!, plain[i + 1]!));
    await Promise.all(published);
    if (failure) throw failure.error;
  }
}

/** An error Redis answered for the EVAL (not an outage), other than the script's refused PUBLISH. */
function refusesScripts(error: unknown): boolean {
  return error instanceof ErrorReply && !error.message.startsWith(PUBLISH_REFUSED);
}

function chunks(items: string[], size: number): string[][] {
  if (items.length <= size) return [items];
  const out: string[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
