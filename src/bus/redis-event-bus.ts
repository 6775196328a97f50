import { createClient } from 'redis';
import type { BusStatus, EventBus, TransitionMessage, Unsubscribe, WorkMessage } from '../engine/ports/event-bus.js';
import { describeError, type BusLogger } from './bus-logger.js';
import { EventBusClosedError, EventBusStartupError } from './event-bus-errors.js';
import { redisAddress } from './redis-address.js';
import { RedisChannelSubscriptions, type Decoder } from './redis-channel-subscriptions.js';
import { RedisPublishBatch } from './redis-publish-batch.js';
import { settleWithin } from './settle-within.js';
import { decodeTransition, decodeWork, encodeTransition, encodeWork } from './transition-codec.js';

export interface RedisEventBusOptions {
  /** `redis[s]://[[user][:password]@]host[:port][/db]`; credentials never appear in logs or errors. */
  url: string;
  logger: BusLogger;
  /** Channel prefix: `<prefix>:wf:<workflowId>`, `<prefix>:firehose` and `<prefix>:work`. Default 'orchestrator'. */
  prefix?: string;
  /** How long start-up keeps retrying an unreachable server before it throws, in ms. Default 60 000. */
  startupTimeoutMs?: number;
  /** Bound on one TCP connect attempt, in ms. Default 5 000. */
  connectTimeoutMs?: number;
  /** First reconnect delay; doubles per failed attempt up to `reconnectMaxMs`. Default 100. */
  reconnectBaseMs?: number;
  /** Largest reconnect delay, in ms. Default 5 000. */
  reconnectMaxMs?: number;
  /** Longest a caller waits in publish(), subscribe() or an unsubscribe, in ms. Default 1 000. */
  commandTimeoutMs?: number;
}

type Role = 'publisher' | 'subscriber';
type Client = ReturnType<typeof newClient>;

/** createClient with its default type parameters, so the client type can be named. */
function newClient(options: NonNullable<Parameters<typeof createClient>[0]>) {
  return createClient(options);
}

/**
 * The event bus over Redis pub/sub, shared by every replica.
 *
 * Two connections: one publishes, one only subscribes, so that a flood of
 * incoming messages never delays a publish and a reconnect of one does not
 * replay the other's state. Channels: `<prefix>:wf:<workflowId>` and
 * `<prefix>:firehose`; payloads are the JSON of a TransitionMessage. Every
 * publish goes to both; the publishes of one event-loop turn go out as one
 * command (RedisPublishBatch) on one connection, so each subscriber sees one
 * publisher's messages in publish order. Subscribers in the publishing process get the
 * message at once, without the Redis round trip, and its echo from Redis is dropped (so they
 * also hear their own replica's transitions while Redis is down). Work announcements (WorkMessage)
 * go to `<prefix>:work` only, so replicas wake for claimable work without
 * taking the firehose.
 *
 * Outages: after start-up the clients reconnect forever with capped
 * exponential backoff. The loss and the recovery are logged once each and
 * reported through `status()` / `onStatusChange`. While the publisher is down,
 * `publish()` never throws: it resolves at once once the client has noticed
 * the loss (within `commandTimeoutMs` before that) and the message is dropped
 * and counted (`droppedPublishes`): the store is the source of truth and watchers fill
 * gaps from the history by version. Subscriptions are kept locally and come
 * back after a reconnect; messages published meanwhile are lost.
 */
export class RedisEventBus implements EventBus {
  readonly kind = 'redis' as const;
  readonly prefix: string;
  readonly #logger: BusLogger;
  readonly #address: string;
  readonly #startupTimeoutMs: number;
  readonly #reconnectBaseMs: number;
  readonly #reconnectMaxMs: number;
  readonly #commandTimeoutMs: number;
  readonly #publisher: Client;
  readonly #subscriber: Client;
  readonly #subscriptions: RedisChannelSubscriptions;
  readonly #batch: RedisPublishBatch;
  readonly #statusListeners = new Set<(status: BusStatus) => void>();
  #phase: 'new' | 'starting' | 'running' | 'closed' = 'new';
  #status: BusStatus = { ok: false, message: 'not started' };
  #startedAt = 0;
  #downSince = Date.now();
  #droppedAtDown = 0;
  #dropped = 0;
  #reconnectAttempts = 0;
  #publishFailing = false;
  #lastStartupError: unknown;
  #closing: Promise<void> | undefined;

  constructor(options: RedisEventBusOptions) {
    this.prefix = options.prefix ?? 'orchestrator';
    if (!/^[A-Za-z0-9_.:-]+$/.test(this.prefix)) throw new TypeError(`invalid event bus prefix '${this.prefix}'`);
    this.#logger = options.logger;
    this.#address = redisAddress(options.url);
    this.#startupTimeoutMs = options.startupTimeoutMs ?? 60_000;
    this.#reconnectBaseMs = options.reconnectBaseMs ?? 100;
    this.#reconnectMaxMs = options.reconnectMaxMs ?? 5_000;
    this.#commandTimeoutMs = options.commandTimeoutMs ?? 1_000;
    const connectTimeout = options.connectTimeoutMs ?? 5_000;
    // The publisher fails commands at once while reconnecting (no offline
    // queue), so publish() never waits for a server that is down. The
    // subscriber keeps its offline queue: a SUBSCRIBE issued while down is
    // sent when the connection is back.
    this.#publisher = this.#createClient(options.url, 'publisher', connectTimeout, true);
    this.#subscriber = this.#createClient(options.url, 'subscriber', connectTimeout, false);
    this.#batch = new RedisPublishBatch(this.#publisher, {
      timeoutMs: this.#commandTimeoutMs,
      onScriptsRefused: (error) =>
        this.#logger.info('redis refuses EVAL; publishing one command per message', { address: this.#address, error: describeError(error) }),
    });
    this.#subscriptions = new RedisChannelSubscriptions(
      {
        subscribe: (channel, listener) => this.#subscriber.subscribe(channel, listener),
        unsubscribe: (channel, listener) => this.#subscriber.unsubscribe(channel, listener),
      },
      this.#logger,
    );
  }

  /**
   * Connects both clients, retrying (a warn line per failed attempt) until
   * `startupTimeoutMs`; then throws EventBusStartupError and leaves nothing
   * open. Call once.
   */
  async start(): Promise<void> {
    if (this.#phase !== 'new') throw new Error('RedisEventBus.start() may be called once');
    this.#phase = 'starting';
    this.#startedAt = Date.now();
    let timer: NodeJS.Timeout | undefined;
    // A connect attempt can hang (a black-holed address) past the deadline; the timer ends it.
    const deadline = new Promise<never>((_, reject) => {
      if (this.#startupTimeoutMs > 0) {
        timer = setTimeout(() => reject(new Error('start-up timeout')), this.#startupTimeoutMs);
      }
    });
    try {
      // One after the other, so an unreachable server gives one warn line per attempt, not two.
      await Promise.race([this.#publisher.connect(), deadline]);
      await Promise.race([this.#subscriber.connect(), deadline]);
    } catch (error) {
      this.#phase = 'closed';
      this.#publisher.destroy();
      this.#subscriber.destroy();
      if (this.#closing) throw new EventBusStartupError('the event bus was closed during start-up', { cause: error });
      const cause = this.#lastStartupError ?? error;
      throw new EventBusStartupError(
        `could not connect to redis at ${this.#address} within ${this.#startupTimeoutMs} ms: ${describeError(cause)}`,
        { cause },
      );
    } finally {
      clearTimeout(timer);
    }
    this.#phase = 'running';
    this.#logger.info('event bus connected to redis', { address: this.#address, prefix: this.prefix });
    if (this.#publisher.isReady && this.#subscriber.isReady) this.#setStatus({ ok: true, message: '' });
    else this.#markDown(this.#publisher.isReady ? 'subscriber' : 'publisher', undefined); // lost again already
  }

  async publish(message: TransitionMessage): Promise<void> {
    const channels = [this.#workflowChannel(message.workflowId), this.#firehoseChannel()];
    const text = encodeTransition(message);
    // This replica's own watchers get it now, also while Redis is down; the others through Redis.
    const echo = this.#phase === 'running' && this.#publisher.isReady && this.#isUp();
    for (const channel of channels) this.#subscriptions.deliverLocally(channel, text, echo);
    return this.#publish(channels, text);
  }

  async publishWork(message: WorkMessage): Promise<void> {
    return this.#publish([this.#workChannel()], encodeWork(message));
  }

  async #publish(channels: string[], text: string): Promise<void> {
    if (this.#phase !== 'running' || !this.#publisher.isReady) {
      this.#dropped++;
      return;
    }
    const { outcome, failure } = await this.#batch.add(channels, text);
    if (outcome === 'fulfilled') {
      this.#publishFailing = false;
      return;
    }
    this.#dropped++;
    // An outage is logged once by the status change. A failure while the
    // connection looks fine (an ACL refusing PUBLISH, a stalled server) is
    // logged once per run of failures, never per message.
    if (this.#status.ok && !this.#publishFailing) {
      this.#logger.warn('publish to redis failed; dropping messages until one succeeds', {
        address: this.#address,
        outcome,
        error: describeError(failure),
      });
    }
    this.#publishFailing = true;
  }

  subscribe(workflowId: string, onMessage: (message: TransitionMessage) => void): Promise<Unsubscribe> {
    return this.#listen(this.#workflowChannel(workflowId), decodeTransition, onMessage);
  }

  subscribeAll(onMessage: (message: TransitionMessage) => void): Promise<Unsubscribe> {
    return this.#listen(this.#firehoseChannel(), decodeTransition, onMessage);
  }

  subscribeWork(onMessage: (message: WorkMessage) => void): Promise<Unsubscribe> {
    return this.#listen(this.#workChannel(), decodeWork, onMessage);
  }

  status(): BusStatus {
    return this.#status;
  }

  onStatusChange(listener: (status: BusStatus) => void): () => void {
    this.#statusListeners.add(listener);
    return () => this.#statusListeners.delete(listener);
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  /** Publishes that did not reach Redis (the bus was down, or the command failed or timed out). */
  get droppedPublishes(): number {
    return this.#dropped;
  }

  /** Failed reconnect attempts since start-up (both connections). */
  get reconnectAttempts(): number {
    return this.#reconnectAttempts;
  }

  /** Redis channels this bus holds a subscription for (one per channel, however many listeners). */
  get subscribedChannels(): number {
    return this.#subscriptions.channelCount;
  }

  /** Messages on our channels that were not transitions (dropped). */
  get malformedMessages(): number {
    return this.#subscriptions.malformedMessages;
  }

  async #listen<T>(channel: string, decode: Decoder<T>, onMessage: (message: T) => void): Promise<Unsubscribe> {
    if (this.#phase === 'closed') throw new EventBusClosedError();
    const { ready, remove } = this.#subscriptions.add(channel, decode, onMessage);
    // While up, wait (bounded) for Redis to confirm, so that a caller who
    // subscribes and then reads the history misses nothing in between. While
    // down, do not wait: the SUBSCRIBE goes out on reconnect.
    if (this.#isUp()) await settleWithin(ready, this.#commandTimeoutMs);
    return async () => {
      const removed = remove();
      if (this.#isUp()) await settleWithin(removed, this.#commandTimeoutMs);
    };
  }

  #isUp(): boolean {
    return this.#status.ok && this.#subscriber.isReady;
  }

  #workflowChannel(workflowId: string): string {
    return `${this.prefix}:wf:${workflowId}`;
  }

  #firehoseChannel(): string {
    return `${this.prefix}:firehose`;
  }

  #workChannel(): string {
    return `${this.prefix}:work`;
  }

  #createClient(url: string, role: Role, connectTimeout: number, disableOfflineQueue: boolean): Client {
    const client = newClient({
      url,
      // No client `name`: CLIENT SETNAME in the handshake fails the connection where ACLs forbid it.
      disableOfflineQueue,
      // No per-command timeout (the client's default is 5 s, an AbortSignal.timeout per command:
      // ~2% of the server's CPU at two PUBLISHes per transition): every caller here bounds its
      // own wait (settleWithin), and a command stalled on a live connection is answered or
      // failed with the connection.
      commandOptions: { timeout: 0 },
      socket: { connectTimeout, reconnectStrategy: (retries, cause) => this.#retryDelay(role, retries, cause) },
    });
    // Without an 'error' listener an EventEmitter error kills the process;
    // the client emits one for every lost connection and failed attempt.
    client.on('error', (error: unknown) => this.#onConnectionEvent(role, error));
    client.on('ready', () => this.#onConnectionEvent(role, undefined));
    return client;
  }

  /** The client's reconnectStrategy: how long to wait before the next attempt. Must not throw. */
  #retryDelay(role: Role, retries: number, cause: Error): number | false {
    const exponential = this.#reconnectBaseMs * 2 ** Math.min(retries, 30);
    // Jitter spreads the replicas' reconnects after a Redis restart.
    const delay = Math.round(Math.min(this.#reconnectMaxMs, exponential) * (0.8 + Math.random() * 0.4));
    if (this.#phase === 'starting') {
      this.#lastStartupError = cause;
      const remaining = this.#startedAt + this.#startupTimeoutMs - Date.now();
      if (remaining <= 0) return false;
      this.#logger.warn('redis not reachable, retrying', {
        address: this.#address,
        connection: role,
        attempt: retries + 1,
        retryInMs: Math.min(delay, remaining),
        error: describeError(cause),
      });
      return Math.min(delay, remaining);
    }
    this.#reconnectAttempts++;
    return delay;
  }

  #onConnectionEvent(role: Role, error: unknown): void {
    if (this.#phase !== 'running') return; // start-up logs per attempt; close is quiet
    const up = this.#publisher.isReady && this.#subscriber.isReady;
    if (up && !this.#status.ok) this.#markUp();
    else if (!up && this.#status.ok) this.#markDown(role, error);
    // Every failed reconnect attempt emits an error too: those stay at debug.
    else if (error !== undefined) this.#logger.debug('redis client error', { connection: role, error: describeError(error) });
  }

  /** Both connections are ready again: log once, restore what failed mid-flight, notify. */
  #markUp(): void {
    this.#logger.info('redis connection restored', {
      address: this.#address,
      downMs: Date.now() - this.#downSince,
      droppedPublishes: this.#dropped - this.#droppedAtDown,
    });
    // node-redis re-sent its confirmed SUBSCRIBEs before 'ready'; this fixes any that failed mid-flight.
    this.#subscriptions.resync();
    this.#setStatus({ ok: true, message: '' });
  }

  /** A connection was lost: log once for the whole outage, notify. */
  #markDown(role: Role, error: unknown): void {
    this.#downSince = Date.now();
    this.#droppedAtDown = this.#dropped;
    const why = error === undefined ? 'not ready' : describeError(error);
    this.#logger.warn('redis connection lost; reconnecting, publishes are dropped until it is back', {
      address: this.#address,
      connection: role,
      error: why,
    });
    this.#setStatus({ ok: false, message: `redis connection lost (${role}): ${why}` });
  }

  #setStatus(status: BusStatus): void {
    this.#status = Object.freeze(status);
    for (const listener of [...this.#statusListeners]) {
      try {
        listener(this.#status);
      } catch (error) {
        this.#logger.warn('event bus status listener threw', { error: describeError(error) });
      }
    }
  }

  async #close(): Promise<void> {
    const wasRunning = this.#phase === 'running';
    this.#phase = 'closed';
    this.#subscriptions.close();
    if (wasRunning) {
      await Promise.all([closeClient(this.#publisher, this.#commandTimeoutMs), closeClient(this.#subscriber, this.#commandTimeoutMs)]);
    } else {
      // Closed before or during start(): that connect() then rejects and start() throws.
      this.#publisher.destroy();
      this.#subscriber.destroy();
    }
    this.#setStatus({ ok: false, message: 'closed' });
  }
}

/** Creates a RedisEventBus and connects it; see RedisEventBus.start for failures. */
export async function createRedisEventBus(options: RedisEventBusOptions): Promise<RedisEventBus> {
  const bus = new RedisEventBus(options);
  await bus.start();
  return bus;
}

/** Lets pending publishes drain for a moment, then drops the connection whatever its state. */
async function closeClient(client: Client, boundMs: number): Promise<void> {
  if (client.isReady) await settleWithin(client.close(), boundMs);
  client.destroy();
}
