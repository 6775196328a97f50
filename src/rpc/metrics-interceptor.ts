import { Code, type Interceptor } from '@connectrpc/connect';
import type { Metrics } from '../telemetry/metrics.js';
import { codeLabel, httpStatusLabel, rpcCall, type RpcCall } from './rpc-call.js';
import { observeCall } from './observe-call.js';
import { markObserved, type RecordRejected } from './rejected-requests.js';

/** The seed's `service` label on the http_* metrics names this service, not the RPC service. */
const SERVICE = 'orchestrator';

/**
 * Counts every RPC by service, method, protocol and code, times unary calls, and keeps the
 * in-flight gauge (streams stay in flight until they end). Place it outside the error mapping so
 * it sees the code the client gets. A stream the client abandons ends as `canceled`.
 */
export function metricsInterceptor(metrics: Metrics): Interceptor {
  return (next) => async (req) => {
    const call = rpcCall(req);
    markObserved(req.contextValues); // the HTTP handler does not count it again
    const watch = req.stream && call.method.startsWith('Watch') && call.service.startsWith('orchestrator.');
    const started = performance.now();
    metrics.rpcInFlight.inc({ service: call.service, method: call.method });
    if (watch) metrics.watchStreams.inc();
    const end = (code: Code | undefined) => {
      record(metrics, call, code, req.stream ? undefined : (performance.now() - started) / 1000);
      metrics.rpcInFlight.dec({ service: call.service, method: call.method });
      if (watch) metrics.watchStreams.dec();
    };
    return observeCall(next, req, end);
  };
}

/**
 * Counts a request Connect refused before the interceptor (bad body, size limit, content type,
 * unknown procedure): counted like a call, not timed (it never reached a handler).
 */
export function rejectedRequestRecorder(metrics: Metrics): RecordRejected {
  return (call, code) => record(metrics, call, code, undefined);
}

function record(metrics: Metrics, call: RpcCall, code: Code | undefined, seconds: number | undefined): void {
  const status = httpStatusLabel(code);
  metrics.rpcRequests.inc({ ...call, code: codeLabel(code) });
  metrics.httpRequests.inc({ service: SERVICE, method: call.method, status });
  if (seconds === undefined) return;
  metrics.rpcDuration.observe(call, seconds);
  metrics.httpDuration.observe({ service: SERVICE, method: call.method, status }, seconds);
}
