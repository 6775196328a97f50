import type { BusStatus } from '../engine/ports/event-bus.js';
import type { Logger } from '../telemetry/logger.js';

export type ServingStatus = 'SERVING' | 'NOT_SERVING' | 'DEGRADED' | 'SERVICE_UNKNOWN';

export interface ComponentStatus {
  name: string;
  kind: string;
  status: ServingStatus;
  message: string;
}

export interface HealthReport {
  status: ServingStatus;
  components: ComponentStatus[];
}

export interface HealthMonitorOptions {
  /** Resolves when the store answers, throws when it does not. */
  probeStore: () => Promise<void>;
  storeKind: string;
  bus: { kind: string; status(): BusStatus; onStatusChange(listener: (s: BusStatus) => void): () => void };
  intervalMs: number;
  logger: Logger;
}

/** Names a client may ask about; "" and "orchestrator" mean the whole service. */
const serviceNames = new Set(['', 'orchestrator']);

/**
 * The service's health, from what it can actually reach. The store decides
 * whether the service serves (no store, no durable transition); the bus only
 * degrades it, since Redis is for fan-out and never the source of truth.
 * Shutting down overrides everything with NOT_SERVING so load balancers drain.
 */
export class HealthMonitor {
  #store: ComponentStatus;
  #bus: ComponentStatus;
  #shuttingDown = false;
  #listeners = new Set<() => void>();
  #timer: NodeJS.Timeout | undefined;
  #unsubscribeBus: (() => void) | undefined;
  #probing = false;

  constructor(private readonly options: HealthMonitorOptions) {
    this.#store = { name: 'store', kind: options.storeKind, status: 'SERVICE_UNKNOWN', message: 'not probed yet' };
    this.#bus = busComponent(options.bus.kind, options.bus.status());
  }

  /** Probes the store once now, then every `intervalMs`, and follows the bus status. */
  async start(): Promise<void> {
    this.#unsubscribeBus = this.options.bus.onStatusChange((s) => this.#set('bus', busComponent(this.options.bus.kind, s)));
    await this.probe();
    this.#timer = setInterval(() => void this.probe(), this.options.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#unsubscribeBus?.();
  }

  /** From now on the whole service reports NOT_SERVING. */
  shutDown(): void {
    this.#shuttingDown = true;
    this.#emit();
  }

  async probe(): Promise<void> {
    if (this.#probing) return;
    this.#probing = true;
    try {
      await this.options.probeStore();
      this.#set('store', { ...this.#store, status: 'SERVING', message: '' });
    } catch (err) {
      this.#set('store', { ...this.#store, status: 'NOT_SERVING', message: (err as Error).message || String(err) });
    } finally {
      this.#probing = false;
    }
  }

  /** Status of the whole service ("" or "orchestrator") or of one component. */
  status(service: string): ServingStatus {
    if (serviceNames.has(service)) return this.report().status;
    const component = this.report().components.find((c) => c.name === service);
    return component?.status ?? 'SERVICE_UNKNOWN';
  }

  report(): HealthReport {
    const components = [this.#store, this.#bus];
    let status: ServingStatus = 'SERVING';
    if (this.#shuttingDown || this.#store.status !== 'SERVING') status = 'NOT_SERVING';
    else if (this.#bus.status !== 'SERVING') status = 'DEGRADED';
    return { status, components: components.map((c) => ({ ...c })) };
  }

  /** Calls `listener` after every change of any status; returns an unsubscribe function. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #set(which: 'store' | 'bus', next: ComponentStatus): void {
    const current = which === 'store' ? this.#store : this.#bus;
    if (current.status === next.status && current.message === next.message) return;
    if (current.status !== next.status) {
      const log = next.status === 'SERVING' ? this.options.logger.info : this.options.logger.warn;
      log(`${which} is ${next.status.toLowerCase().replace('_', ' ')}`, { component: which, reason: next.message || undefined });
    }
    if (which === 'store') this.#store = next;
    else this.#bus = next;
    this.#emit();
  }

  #emit(): void {
    for (const listener of this.#listeners) listener();
  }
}

function busComponent(kind: string, s: BusStatus): ComponentStatus {
  return { name: 'bus', kind, status: s.ok ? 'SERVING' : 'NOT_SERVING', message: s.ok ? '' : s.message };
}
