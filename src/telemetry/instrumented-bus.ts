import type { EventBus, TransitionMessage } from '../engine/ports/event-bus.js';
import type { Metrics } from './metrics.js';
import { contextFromTraceparent, currentTraceparent, inSpanSync, SpanKind } from './tracing.js';

type Listener = (message: TransitionMessage) => void;

/**
 * The bus with telemetry, as a Proxy (methods added to the port later pass through):
 * - `publish` stamps the message with the active trace context (`traceparent`) unless it has
 *   one, and counts published messages, failed publishes and publishes the bus dropped;
 * - `subscribe` / `subscribeAll` count every delivered message and run the listener in a
 *   consumer span whose parent is the message's `traceparent`;
 * - every change of the bus status to down counts as an error.
 * A bus that exposes `droppedPublishes` (both of ours do) has its drops counted after each publish.
 */
export function instrumentBus<B extends EventBus>(bus: B, metrics: Metrics): B {
  const published = metrics.busPublished.series({});
  const delivered = metrics.busReceived.series({});
  let droppedSeen = dropped(bus);
  const countDrops = () => {
    const now = dropped(bus);
    if (now > droppedSeen) metrics.busErrors.inc(now - droppedSeen);
    droppedSeen = Math.max(droppedSeen, now);
  };
  bus.onStatusChange((status) => {
    if (!status.ok) metrics.busErrors.inc();
  });
  const publish = async (message: TransitionMessage) => {
    const traceparent = message.traceparent ?? currentTraceparent();
    published.inc();
    try {
      await bus.publish(traceparent ? { ...message, traceparent } : message);
    } catch (error) {
      metrics.busErrors.inc();
      throw error;
    } finally {
      countDrops();
    }
  };
  const received = (listener: Listener): Listener => (message) => {
    delivered.inc();
    const parent = contextFromTraceparent(message.traceparent);
    inSpanSync('orchestrator.bus.receive', { kind: SpanKind.CONSUMER, parent, attributes: { 'messaging.system': bus.kind, 'orchestrator.workflow_id': message.workflowId } }, () => listener(message));
  };
  const overrides: Partial<EventBus> = {
    publish,
    subscribe: (workflowId, listener) => bus.subscribe(workflowId, received(listener)),
    subscribeAll: (listener) => bus.subscribeAll(received(listener)),
  };
  return new Proxy(bus, {
    get(target, property, receiver) {
      if (typeof property === 'string' && property in overrides) return overrides[property as keyof EventBus];
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

function dropped(bus: EventBus): number {
  const value = (bus as { droppedPublishes?: unknown }).droppedPublishes;
  return typeof value === 'number' ? value : 0;
}
