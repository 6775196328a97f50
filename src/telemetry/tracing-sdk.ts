import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, ConsoleSpanExporter, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { SpanExporter } from '@opentelemetry/sdk-trace-node';
import { markTracingRegistered } from './tracing.js';

/** The trace exporter the configuration chose (see `Config.tracesExporter`). */
export type TracesExporter = 'otlp' | 'console';

export interface TracingSdk {
  /** Exports what is buffered, then stops. Never throws. */
  shutdown(): Promise<void>;
}

/**
 * Registers the OpenTelemetry trace SDK globally: AsyncLocalStorage context, W3C trace context
 * and baggage propagation, a batch span processor, and the exporter. Everything else comes from
 * the standard variables the SDK reads itself: OTEL_EXPORTER_OTLP_ENDPOINT /
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT and _HEADERS, OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES,
 * OTEL_TRACES_SAMPLER(_ARG), OTEL_BSP_*. Call it before the application modules load.
 */
export function startTracingSdk(exporter: TracesExporter, build: { version: string }): TracingSdk {
  // SDK attributes, then ours, then OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES (later wins).
  const resource = defaultResource()
    .merge(resourceFromAttributes({ 'service.name': 'orchestrator', 'service.version': build.version }))
    .merge(detectResources({ detectors: [envDetector] }));
  const spanExporter: SpanExporter = exporter === 'otlp' ? new OTLPTraceExporter() : new ConsoleSpanExporter();
  const provider = new NodeTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(spanExporter)] });
  provider.register();
  markTracingRegistered();
  return {
    shutdown: () => provider.shutdown().catch(() => {}),
  };
}
