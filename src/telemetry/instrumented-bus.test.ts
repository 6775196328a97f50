import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SpanKind } from '@opentelemetry/api';
import { InMemoryEventBus } from '../bus/in-memory-event-bus.js';
import type { TransitionMessage } from '../engine/ports/event-bus.js';
import { instrumentBus } from './instrumented-bus.js';
import { Metrics } from './metrics.js';
import { registerInMemoryTracing } from './test-support/in-memory-tracing.js';
import { inSpan } from './tracing.js';

const exporter = registerInMemoryTracing();

const message: TransitionMessage = { workflowId: 'w-1', version: 2, machineId: 'm', machineVersion: 1, status: 'active', state: 'a', eventType: 'go', at: new Date(0).toISOString() };

async function received(bus: ReturnType<typeof instrumentBus<InMemoryEventBus>>, publish: () => Promise<void>): Promise<TransitionMessage> {
  const delivered = new Promise<TransitionMessage>((resolve) => void bus.subscribe('w-1', resolve));
  await publish();
  return delivered;
}

describe('instrumentBus', () => {
  it('stamps published messages with the active trace, and delivers them in a consumer span under it', async () => {
    const metrics = new Metrics({ version: 't', commit: 't' });
    const bus = instrumentBus(new InMemoryEventBus(), metrics);
    let publisher = '';
    const got = await received(bus, () => inSpan('transition', {}, async (span) => {
      publisher = span.spanContext().spanId;
      await bus.publish(message);
    }));
    const [, traceId, parentId] = (got.traceparent ?? '').split('-');
    assert.equal(parentId, publisher);
    const receive = exporter.getFinishedSpans().find((s) => s.name === 'orchestrator.bus.receive');
    assert.ok(receive, 'a receive span was recorded');
    assert.equal(receive.kind, SpanKind.CONSUMER);
    assert.equal(receive.spanContext().traceId, traceId);
    assert.equal(receive.parentSpanContext?.spanId, publisher);
    assert.match(await metrics.registry.getSingleMetricAsString('orchestrator_bus_messages_published_total'), /^orchestrator_bus_messages_published_total 1$/m);
    assert.match(await metrics.registry.getSingleMetricAsString('orchestrator_bus_messages_received_total'), /^orchestrator_bus_messages_received_total 1$/m);
    await bus.close();
  });

  it('leaves a message without trace context when nothing is traced, and keeps one it already has', async () => {
    const bus = instrumentBus(new InMemoryEventBus(), new Metrics({ version: 't', commit: 't' }));
    assert.equal((await received(bus, () => bus.publish(message))).traceparent, undefined);
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    assert.equal((await received(bus, () => inSpan('other', {}, () => bus.publish({ ...message, traceparent })))).traceparent, traceparent);
    await bus.close();
  });

  it('counts a publish that fails as a bus error', async () => {
    const metrics = new Metrics({ version: 't', commit: 't' });
    const raw = new InMemoryEventBus();
    const bus = instrumentBus(raw, metrics);
    await assert.rejects(bus.publish({ ...message, version: Number.NaN }));
    assert.match(await metrics.registry.getSingleMetricAsString('orchestrator_bus_errors_total'), /^orchestrator_bus_errors_total 1$/m);
    await raw.close();
    await bus.publish(message); // dropped after close: counted by the bus, picked up here
    assert.match(await metrics.registry.getSingleMetricAsString('orchestrator_bus_errors_total'), /^orchestrator_bus_errors_total 2$/m);
  });
});
