import type { BusLogger } from './bus-logger.js';
import { InMemoryEventBus } from './in-memory-event-bus.js';
import { createRedisEventBus, type RedisEventBus, type RedisEventBusOptions } from './redis-event-bus.js';

export interface CreateEventBusOptions extends Omit<RedisEventBusOptions, 'url'> {
  /** Redis connection string; unset means the in-process bus (one replica only). */
  redisUrl?: string | undefined;
  logger: BusLogger;
}

/**
 * The bus the configuration asks for: Redis pub/sub when `redisUrl` is set
 * (connected before this resolves; throws EventBusStartupError when Redis
 * stays unreachable for `startupTimeoutMs`), otherwise the in-process bus.
 * Both implement EventBus; `kind` tells them apart, and both count
 * `droppedPublishes` for metrics.
 */
export async function createEventBus(options: CreateEventBusOptions): Promise<InMemoryEventBus | RedisEventBus> {
  const { redisUrl, ...rest } = options;
  if (redisUrl === undefined || redisUrl === '') {
    options.logger.info('event bus: in-process (REDIS_URL unset; fan-out reaches this replica only)');
    return new InMemoryEventBus({ logger: options.logger });
  }
  return createRedisEventBus({ ...rest, url: redisUrl });
}
