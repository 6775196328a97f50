import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Clock } from './clock.js';
import { systemClock } from './clock.js';
import type { EngineObserver } from './ports/engine-observer.js';
import { noopEngineObserver } from './ports/engine-observer.js';

/** The logging the engine needs; telemetry's Logger satisfies it. */
export interface EngineLogger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** Size limits, in bytes of UTF-8 JSON. Over a limit, a request is refused and nothing is written. */
export interface EngineLimits {
  /** A client event (type and payload), and a tool result. */
  maxEventBytes: number;
  /** A start input. */
  maxInputBytes: number;
  /** The machine context after any transition. */
  maxContextBytes: number;
}

export interface WorkflowEngineOptions {
  /** Names this engine in task and timer leases; unique per process. Default host:pid:random. */
  instanceId?: string;
  clock?: Clock;
  limits?: Partial<EngineLimits>;
  /** How long a claimed task is ours without renewal; renewed every third of it. Default 30 s. */
  taskLeaseMs?: number;
  /** How often pending and orphaned tasks are claimed. Default 1 s. */
  taskPollIntervalMs?: number;
  /** Tool calls running at once on this engine. Default 64. */
  maxConcurrentTasks?: number;
  /** How often due timers are looked for (besides an exact wake-up for the next one). Default 1 s. */
  timerPollIntervalMs?: number;
  /** How long a replica may take to fire a timer it claimed before another may. Default 30 s. */
  timerLeaseMs?: number;
  /**
   * How far ahead of their due time timers are claimed and held in memory (at most 20,000), so a
   * burst fires at its due moment without claiming first. A replica that dies holding them
   * delays them by up to this plus `timerLeaseMs`; one that stops hands them back. 0: claim
   * only due timers. Default 1 s.
   */
  timerLookaheadMs?: number;
  /** How often watched workflows are looked up in the store for transitions their bus messages missed (lost messages). Default 5 s. */
  watchPollIntervalMs?: number;
  /**
   * How far back a WatchWorkflows poll looks before the previous one: covers commits in flight
   * and clock skew between replicas. Also how much a resumed WatchWorkflows may repeat. Default 5 s.
   */
  fleetWatchMarginMs?: number;
  /** Instances whose restored snapshot is kept in memory. Default 10 000. */
  cacheSize?: number;
  /**
   * Called synchronously after every committed transition (start, event, tool result, timer,
   * cancel), before it is published and before its effects start. A fault-injection point for
   * crash tests (`FAULT_KILL_AFTER_COMMIT`); it must not throw. Default: nothing.
   */
  afterCommit?: () => void;
  /** Told about transitions, starts, ends, timers, tasks and conflicts; runs spans. Default: nothing. */
  observer?: EngineObserver;
}

export type ResolvedEngineOptions = Required<Omit<WorkflowEngineOptions, 'limits'>> & { limits: EngineLimits };

export const DEFAULT_LIMITS: EngineLimits = Object.freeze({
  maxEventBytes: 256 * 1024,
  maxInputBytes: 256 * 1024,
  maxContextBytes: 1024 * 1024,
});

export function resolveEngineOptions(options: WorkflowEngineOptions = {}): ResolvedEngineOptions {
  return {
    instanceId: options.instanceId ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`,
    clock: options.clock ?? systemClock,
    limits: { ...DEFAULT_LIMITS, ...options.limits },
    taskLeaseMs: options.taskLeaseMs ?? 30_000,
    taskPollIntervalMs: options.taskPollIntervalMs ?? 1_000,
    maxConcurrentTasks: options.maxConcurrentTasks ?? 64,
    timerPollIntervalMs: options.timerPollIntervalMs ?? 1_000,
    timerLeaseMs: options.timerLeaseMs ?? 30_000,
    timerLookaheadMs: options.timerLookaheadMs ?? 1_000,
    watchPollIntervalMs: options.watchPollIntervalMs ?? 5_000,
    fleetWatchMarginMs: options.fleetWatchMarginMs ?? 5_000,
    cacheSize: options.cacheSize ?? 10_000,
    afterCommit: options.afterCommit ?? (() => {}),
    observer: options.observer ?? noopEngineObserver,
  };
}
