import { context, INVALID_SPAN_CONTEXT, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Attributes, Context, Span, TextMapGetter } from '@opentelemetry/api';

/**
 * Tracing helpers over `@opentelemetry/api` only. Without an SDK registered (OTEL_* unset) every
 * span is a no-op and nothing is propagated; main.ts registers the SDK before the app loads.
 */
export const tracer = trace.getTracer('orchestrator');

let sdkRegistered = false;

/**
 * Called by whoever registers a trace SDK (tracing-sdk.ts; the tests' in-memory one). Until then
 * every span would be a no-op and no context is kept or propagated, so the helpers below skip
 * creating spans and contexts altogether: the RPC, transition, commit and bus spans cost a few
 * percent of the server's CPU per transition for nothing.
 */
export function markTracingRegistered(): void {
  sdkRegistered = true;
}

/** Whether a trace SDK is registered (spans are recorded and contexts propagated). */
export function tracingOn(): boolean {
  return sdkRegistered;
}

/** What `work` gets while tracing is off: the API's own non-recording span. */
const idleSpan: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  /** The parent; default the active context. */
  parent?: Context;
}

/** A started span under `options.parent` (default: the active context), and the context it is active in. */
export function startChildSpan(name: string, options: SpanOptions): { span: Span; active: Context } {
  const parent = options.parent ?? context.active();
  const span = tracer.startSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, ...(options.attributes ? { attributes: options.attributes } : {}) }, parent);
  return { span, active: trace.setSpan(parent, span) };
}

/**
 * Runs `work` inside a new active span, ending it when `work` settles. A rejection is recorded on
 * the span (status error, exception event) and rethrown unchanged; `isFault` may say that an
 * expected rejection (a refused input) is not an error of this span.
 */
export async function inSpan<T>(name: string, options: SpanOptions, work: (span: Span) => Promise<T>, isFault: (error: unknown) => boolean = () => true): Promise<T> {
  if (!sdkRegistered) return work(idleSpan);
  const { span, active } = startChildSpan(name, options);
  try {
    return await context.with(active, () => work(span));
  } catch (error) {
    if (isFault(error)) markFailed(span, error);
    throw error;
  } finally {
    span.end();
  }
}

/** `inSpan` for synchronous work (listeners that must run before the caller continues). */
export function inSpanSync<T>(name: string, options: SpanOptions, work: (span: Span) => T): T {
  if (!sdkRegistered) return work(idleSpan);
  const { span, active } = startChildSpan(name, options);
  try {
    return context.with(active, () => work(span));
  } catch (error) {
    markFailed(span, error);
    throw error;
  } finally {
    span.end();
  }
}

/** Status error with the error's message, and the exception as an event. */
export function markFailed(span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
}

/** The W3C `traceparent` of the active span, or undefined (no SDK, or nothing sampled to carry). */
export function currentTraceparent(): string | undefined {
  if (!sdkRegistered) return undefined;
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent;
}

/** The context a `traceparent` (and `tracestate`) names, below the root; the root when absent or invalid. */
export function contextFromTraceparent(traceparent: string | undefined, tracestate?: string): Context {
  if (!traceparent || !sdkRegistered) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, tracestate ? { traceparent, tracestate } : { traceparent });
}

const headersGetter: TextMapGetter<Headers> = {
  get: (carrier, key) => carrier.get(key) ?? undefined,
  keys: (carrier) => [...carrier.keys()],
};

/** The caller's context from incoming request headers (`traceparent`, `tracestate`). */
export function contextFromHeaders(headers: Headers): Context {
  return propagation.extract(ROOT_CONTEXT, headers, headersGetter);
}

/** Adds `traceparent` (and `tracestate`) of the active span to outgoing HTTP headers; a no-op without one. */
export function injectTraceHeaders(headers: Record<string, string>): Record<string, string> {
  propagation.inject(context.active(), headers);
  return headers;
}

export { SpanKind, context as traceContext };
