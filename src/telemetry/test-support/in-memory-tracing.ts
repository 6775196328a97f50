import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';
import { markTracingRegistered } from '../tracing.js';

/**
 * Registers the real trace SDK for this test process (AsyncLocalStorage context, W3C
 * propagation) with an in-memory exporter: spans are readable as soon as they end.
 * One per test file (node --test runs each file in its own process).
 */
export function registerInMemoryTracing(): InMemorySpanExporter {
  const exporter = new InMemorySpanExporter();
  new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }).register();
  markTracingRegistered();
  return exporter;
}
