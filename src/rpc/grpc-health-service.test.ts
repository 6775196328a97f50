import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient, createHandlerContext, createRouterTransport } from '@connectrpc/connect';
import {
  Health,
  HealthCheckRequestSchema,
  HealthCheckResponse_ServingStatus as Status,
} from '../../gen/grpc/health/v1/health_pb.js';
import { grpcHealthRoutes, grpcHealthService, type GrpcServingStatus, type HealthSource } from './grpc-health-service.js';

/** A HealthSource whose statuses the test sets; counts subscriptions. */
class FakeHealth implements HealthSource {
  readonly statuses = new Map<string, GrpcServingStatus>([['', 'SERVING'], ['store', 'SERVING']]);
  readonly listeners = new Set<() => void>();
  private unsubscribed: (() => void) | undefined;

  status(service: string): GrpcServingStatus {
    return this.statuses.get(service) ?? 'SERVICE_UNKNOWN';
  }
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
      this.unsubscribed?.();
    };
  }
  services(): readonly string[] {
    return [...this.statuses.keys()];
  }
  set(service: string, status: GrpcServingStatus | undefined): void {
    if (status) this.statuses.set(service, status);
    else this.statuses.delete(service);
    this.listeners.forEach((l) => l());
  }
  /** Resolves when the last listener unsubscribes, or rejects after `ms`. */
  allUnsubscribed(ms = 2000): Promise<void> {
    if (this.listeners.size === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('listener still subscribed')), ms);
      this.unsubscribed = () => {
        if (this.listeners.size > 0) return;
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

const clientFor = (health: HealthSource) => createClient(Health, createRouterTransport(grpcHealthRoutes(health)));

describe('grpcHealthService', () => {
  it('Check returns the status of the server and of a known service', async () => {
    const health = new FakeHealth();
    health.statuses.set('store', 'NOT_SERVING');
    const client = clientFor(health);
    assert.equal((await client.check({ service: '' })).status, Status.SERVING);
    assert.equal((await client.check({ service: 'store' })).status, Status.NOT_SERVING);
  });

  it('Check fails with not_found for an unknown service', async () => {
    const client = clientFor(new FakeHealth());
    await assert.rejects(client.check({ service: 'nope' }), (err) => ConnectError.from(err).code === Code.NotFound);
  });

  it('List reports every known service, skipping unknown ones', async () => {
    const health = new FakeHealth();
    health.statuses.set('bus', 'NOT_SERVING');
    const { statuses } = await clientFor(health).list({});
    assert.deepEqual(
      Object.fromEntries(Object.entries(statuses).map(([name, r]) => [name, r.status])),
      { '': Status.SERVING, store: Status.SERVING, bus: Status.NOT_SERVING },
    );
  });

  it('List fails with resource_exhausted beyond 100 services', async () => {
    const health = new FakeHealth();
    for (let i = 0; i < 100; i++) health.statuses.set(`s${i}`, 'SERVING');
    await assert.rejects(clientFor(health).list({}), (err) => ConnectError.from(err).code === Code.ResourceExhausted);
  });

  it('Watch sends the current status, then only real changes, and unsubscribes when the client leaves', async () => {
    const health = new FakeHealth();
    const abort = new AbortController();
    const stream = clientFor(health).watch({ service: 'store' }, { signal: abort.signal })[Symbol.asyncIterator]();

    assert.equal((await stream.next()).value?.status, Status.SERVING);
    health.set('store', 'NOT_SERVING');
    assert.equal((await stream.next()).value?.status, Status.NOT_SERVING);
    // A notification without a change sends nothing: the next message is the real change.
    health.set('store', 'NOT_SERVING');
    health.set('store', 'SERVING');
    assert.equal((await stream.next()).value?.status, Status.SERVING);
    // Unknown is reported, and the watch goes on (upstream semantics).
    health.set('store', undefined);
    assert.equal((await stream.next()).value?.status, Status.SERVICE_UNKNOWN);
    health.set('store', 'SERVING');
    assert.equal((await stream.next()).value?.status, Status.SERVING);

    const gone = health.allUnsubscribed();
    abort.abort();
    await assert.rejects(stream.next(), (err) => ConnectError.from(err).code === Code.Canceled);
    await gone;
  });

  it('Watch ends by throwing the abort reason, never by returning (which would be OK)', async () => {
    const health = new FakeHealth();
    const ctx = createHandlerContext({
      service: Health,
      method: Health.method.watch,
      protocolName: 'test',
      requestMethod: 'POST',
      url: 'http://localhost/grpc.health.v1.Health/Watch',
    });
    const watch = grpcHealthService(health).watch;
    assert.ok(watch, 'the service has a watch handler');
    const stream = watch(create(HealthCheckRequestSchema, { service: '' }), ctx)[Symbol.asyncIterator]();
    assert.equal((await stream.next()).value?.status, Status.SERVING);
    const pending = stream.next();
    const reason = new ConnectError('shutting down', Code.Unavailable);
    ctx.abort(reason);
    await assert.rejects(pending, (err) => err === reason);
    assert.equal(health.listeners.size, 0);
  });
});
