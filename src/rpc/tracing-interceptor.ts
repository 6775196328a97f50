import { Code, type Interceptor } from '@connectrpc/connect';
import { context, SpanKind } from '@opentelemetry/api';
import { contextFromHeaders, markFailed, startChildSpan, tracingOn } from '../telemetry/tracing.js';
import { observeCall } from './observe-call.js';
import { codeLabel, rpcCall } from './rpc-call.js';

/** Codes that are the server's fault (OpenTelemetry's RPC conventions for server spans). */
const SERVER_FAULTS: ReadonlySet<Code> = new Set([Code.Unknown, Code.DeadlineExceeded, Code.Unimplemented, Code.Internal, Code.Unavailable, Code.DataLoss]);

/**
 * A server span per RPC (Node's HTTP instrumentation does not see the http2 server), a child of
 * the caller's `traceparent` when it sent one, and the active span while the handler runs, so
 * engine, store, bus and tool spans nest under it. Unary spans end with the reply; stream spans
 * when the stream ends. Place it outermost. Without a trace SDK it passes calls straight through.
 */
export function tracingInterceptor(): Interceptor {
  return (next) => (req) => (tracingOn() ? traced(next, req) : next(req));
}

type Next = Parameters<Interceptor>[0];

function traced(next: Next, req: Parameters<Next>[0]): ReturnType<Next> {
  const call = rpcCall(req);
  const { span, active } = startChildSpan(`${call.service}/${call.method}`, {
    kind: SpanKind.SERVER,
    parent: contextFromHeaders(req.header),
    attributes: { 'rpc.system': call.protocol === 'connect' ? 'connect_rpc' : 'grpc', 'rpc.service': call.service, 'rpc.method': call.method, 'orchestrator.protocol': call.protocol },
  });
  const end = (code: Code | undefined, error?: unknown) => {
    span.setAttribute('rpc.connect_rpc.error_code', codeLabel(code));
    if (code !== undefined && SERVER_FAULTS.has(code)) markFailed(span, error ?? new Error(codeLabel(code)));
    span.end();
  };
  return observeCall(next, req, end, (step) => context.with(active, step));
}
