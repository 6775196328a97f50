import type { BusStatus, EventBus } from '../ports/event-bus.js';

/** The status half of a bus, set by the test: `set(ok)` tells every listener. */
export function statusBus(ok = true): Pick<EventBus, 'status' | 'onStatusChange'> & { set(ok: boolean): void; listeners(): number } {
  let status: BusStatus = { ok, message: ok ? 'up' : 'down' };
  const listeners = new Set<(s: BusStatus) => void>();
  return {
    status: () => status,
    onStatusChange: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    set(up) {
      status = { ok: up, message: up ? 'up' : 'down' };
      for (const listener of [...listeners]) listener(status);
    },
    listeners: () => listeners.size,
  };
}
