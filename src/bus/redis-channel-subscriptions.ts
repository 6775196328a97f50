import { describeError, type BusLogger } from './bus-logger.js';
import { deliverSafely } from './deliver-safely.js';

/** Receives one raw message of a Redis channel. */
export type RawListener = (message: string, channel: string) => void;

/** The two pub/sub commands of a dedicated subscriber connection. */
export interface PubSubConnection {
  subscribe(channel: string, listener: RawListener): Promise<void>;
  unsubscribe(channel: string, listener: RawListener): Promise<void>;
}

/** Locally delivered messages whose Redis echo is awaited; more means Redis is dropping them. */
const MAX_ECHOES = 10_000;

/** Parses one raw message of a channel; undefined for a message that is not of the channel's kind. */
export type Decoder<T> = (text: string) => T | undefined;

/** One local subscribe() call; `active` is cleared when it is removed. */
interface Local {
  readonly onMessage: (message: unknown) => void;
  active: boolean;
}

interface Channel {
  readonly locals: Set<Local>;
  /** Every listener of a channel gets the same kind of message: the first one's decoder is used. */
  readonly decode: Decoder<unknown>;
  /** Whether our SUBSCRIBE for this channel was confirmed and not undone. */
  subscribed: boolean;
  /** Redis commands for one channel run one at a time, in call order. */
  chain: Promise<void>;
  /**
   * Texts delivered locally whose copy from Redis is still to come (and to drop). An array per
   * channel, not one Map by text: a Map that gains and loses a key per message keeps rebuilding
   * its hash table, and V8 kept the texts the replaced tables held alive through scavenges
   * (see engine/instance-cache.ts). Usually empty or one: the echo comes a round trip later.
   */
  readonly echoes: string[];
}

/**
 * Local listeners of Redis channels, sharing ONE Redis subscription per
 * channel however many local listeners it has (reference counting): the first
 * listener of a channel sends SUBSCRIBE, the last one to leave sends
 * UNSUBSCRIBE.
 *
 * The wanted state (channels with listeners) is kept here and reconciled with
 * Redis one command at a time per channel. A command that fails (the
 * connection died under it) leaves the channel out of step; `resync()` after
 * the next reconnect fixes it. node-redis re-sends SUBSCRIBE for the channels
 * it had confirmed by itself on reconnect, before it reports 'ready'.
 *
 * Incoming messages are parsed once per channel message and given to each
 * active listener in arrival order; a malformed message is dropped and counted,
 * a throwing listener is logged and skipped.
 */
export class RedisChannelSubscriptions {
  readonly #connection: PubSubConnection;
  readonly #logger: BusLogger;
  readonly #channels = new Map<string, Channel>();
  /** The channels' pending echoes together (bounded by MAX_ECHOES). */
  #pendingEchoes = 0;
  #closed = false;
  #malformed = 0;

  constructor(connection: PubSubConnection, logger: BusLogger) {
    this.#connection = connection;
    this.#logger = logger;
  }

  /**
   * Adds a listener of `channel`. `ready` settles (never rejects) when Redis
   * confirmed the subscription or the attempt failed; `remove` takes the
   * listener out at once (nothing is delivered to it afterwards) and settles
   * when Redis confirmed the UNSUBSCRIBE that the last listener causes.
   */
  add<T>(channel: string, decode: Decoder<T>, onMessage: (message: T) => void): { ready: Promise<void>; remove: () => Promise<void> } {
    let entry = this.#channels.get(channel);
    if (!entry) {
      entry = { locals: new Set(), decode, subscribed: false, chain: Promise.resolve(), echoes: [] };
      this.#channels.set(channel, entry);
    }
    const local: Local = { onMessage: onMessage as (message: unknown) => void, active: true };
    entry.locals.add(local);
    const owner = entry;
    let removed: Promise<void> | undefined;
    return {
      ready: this.#sync(channel, entry),
      remove: () => {
        if (!removed) {
          local.active = false;
          owner.locals.delete(local);
          removed = this.#sync(channel, owner);
        }
        return removed;
      },
    };
  }

  /** Brings every channel in step with Redis again (call after a reconnect). */
  resync(): void {
    for (const [channel, entry] of this.#channels) void this.#sync(channel, entry);
  }

  /** Drops every listener without talking to Redis (the connection is closing). */
  close(): void {
    this.#closed = true;
    for (const entry of this.#channels.values()) {
      for (const local of entry.locals) local.active = false;
      entry.locals.clear();
    }
    this.#channels.clear();
    this.#pendingEchoes = 0;
  }

  /** Channels this side holds (or is still giving up) a Redis subscription for. */
  get channelCount(): number {
    return this.#channels.size;
  }

  /** Messages on our channels that were not of the channel's kind (dropped). */
  get malformedMessages(): number {
    return this.#malformed;
  }

  /** The single Redis listener of every channel; it must never throw into the client. */
  /**
   * Delivers a message this process is publishing on `channel` to its own listeners now (a
   * microtask each), instead of after the round trip through Redis (node-redis writes on the
   * next turn of the event loop, and the reply comes on a later one: several ms on a busy
   * process). With `expectEcho`, the copy Redis sends back is then dropped, once. Pending echoes
   * are bounded (MAX_ECHOES): past that they are forgotten and an echo is delivered again
   * (subscribers that care dedupe by version).
   */
  deliverLocally(channel: string, text: string, expectEcho: boolean): void {
    const entry = this.#channels.get(channel);
    if (!entry || entry.locals.size === 0) return;
    const message = entry.decode(text);
    if (message === undefined) return;
    if (expectEcho) {
      if (this.#pendingEchoes >= MAX_ECHOES) this.#forgetEchoes();
      entry.echoes.push(text);
      this.#pendingEchoes++;
    }
    for (const local of [...entry.locals]) {
      queueMicrotask(() => {
        if (local.active) deliverSafely(local.onMessage, message, this.#logger);
      });
    }
  }

  readonly #onMessage: RawListener = (text, channel) => {
    const entry = this.#channels.get(channel);
    if (!entry || entry.locals.size === 0) return;
    if (entry.echoes.length > 0) {
      const at = entry.echoes.indexOf(text);
      if (at >= 0) {
        entry.echoes.splice(at, 1);
        this.#pendingEchoes--;
        return;
      }
    }
    const message = entry.decode(text);
    if (message === undefined) {
      if (this.#malformed++ === 0) this.#logger.warn('dropping a message that is not a transition', { channel });
      return;
    }
    for (const local of [...entry.locals]) {
      if (local.active) deliverSafely(local.onMessage, message, this.#logger);
    }
  };

  /** Redis is dropping our messages: their echoes will not come; each is delivered again if it does. */
  #forgetEchoes(): void {
    for (const entry of this.#channels.values()) entry.echoes.length = 0;
    this.#pendingEchoes = 0;
  }

  #sync(channel: string, entry: Channel): Promise<void> {
    entry.chain = entry.chain.then(() => this.#step(channel, entry));
    return entry.chain;
  }

  /** One reconciling step; never rejects, so the chain never breaks. */
  async #step(channel: string, entry: Channel): Promise<void> {
    if (this.#closed) return;
    const wanted = entry.locals.size > 0;
    try {
      if (wanted && !entry.subscribed) {
        await this.#connection.subscribe(channel, this.#onMessage);
        entry.subscribed = true;
      } else if (!wanted && entry.subscribed) {
        await this.#connection.unsubscribe(channel, this.#onMessage);
        entry.subscribed = false;
      }
    } catch (error) {
      this.#logger.debug('redis subscription change failed; retrying after reconnect', {
        channel,
        wanted,
        error: describeError(error),
      });
    }
    if (entry.locals.size === 0 && !entry.subscribed && this.#channels.get(channel) === entry) {
      this.#channels.delete(channel);
      this.#pendingEchoes -= entry.echoes.splice(0).length;
    }
  }
}
