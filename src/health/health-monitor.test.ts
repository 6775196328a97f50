import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BusStatus } from '../engine/ports/event-bus.js';
import { silentLogger } from '../telemetry/logger.js';
import { HealthMonitor } from './health-monitor.js';

function fakeBus() {
  let status: BusStatus = { ok: true, message: '' };
  const listeners = new Set<(s: BusStatus) => void>();
  return {
    kind: 'memory',
    status: () => status,
    onStatusChange: (l: (s: BusStatus) => void) => (listeners.add(l), () => listeners.delete(l)),
    set(next: BusStatus) {
      status = next;
      for (const l of listeners) l(next);
    },
  };
}

describe('HealthMonitor', () => {
  it('follows the store probe: NOT_SERVING while it fails, SERVING once it answers', async () => {
    let storeUp = true;
    const bus = fakeBus();
    const monitor = new HealthMonitor({ probeStore: async () => { if (!storeUp) throw new Error('connection refused'); }, storeKind: 'pglite', bus, intervalMs: 60_000, logger: silentLogger });
    await monitor.start();
    assert.equal(monitor.status(''), 'SERVING');
    let changes = 0;
    monitor.onChange(() => changes++);
    storeUp = false;
    await monitor.probe();
    assert.equal(monitor.status('orchestrator'), 'NOT_SERVING');
    assert.equal(monitor.status('store'), 'NOT_SERVING');
    assert.equal(monitor.report().components.find((c) => c.name === 'store')?.message, 'connection refused');
    storeUp = true;
    await monitor.probe();
    assert.equal(monitor.status(''), 'SERVING');
    assert.equal(changes, 2);
    monitor.stop();
  });

  it('reports a bus outage as DEGRADED, and shutdown as NOT_SERVING', async () => {
    const bus = fakeBus();
    const monitor = new HealthMonitor({ probeStore: async () => {}, storeKind: 'postgres', bus, intervalMs: 60_000, logger: silentLogger });
    await monitor.start();
    bus.set({ ok: false, message: 'redis connection lost' });
    assert.equal(monitor.status(''), 'DEGRADED');
    assert.equal(monitor.status('bus'), 'NOT_SERVING');
    assert.equal(monitor.status('store'), 'SERVING');
    assert.equal(monitor.status('nope'), 'SERVICE_UNKNOWN');
    bus.set({ ok: true, message: '' });
    assert.equal(monitor.status(''), 'SERVING');
    monitor.shutDown();
    assert.equal(monitor.status(''), 'NOT_SERVING');
    monitor.stop();
  });
});
