import { Code, type Interceptor } from '@connectrpc/connect';
import type { CounterSeries, GaugeSeries, HistogramSeries } from '../telemetry/labelled-series.js';
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
  const series = new CallSeries(metrics);
  return (next) => async (req) => {
    const method = series.of(rpcCall(req));
    markObserved(req.contextValues); // the HTTP handler does not count it again
    const watch = req.stream && method.watch;
    const started = performance.now();
    method.inFlight.inc();
    if (watch) metrics.watchStreams.inc();
    const end = (code: Code | undefined) => {
      method.record(code, req.stream ? undefined : (performance.now() - started) / 1000);
      method.inFlight.dec();
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
  const series = new CallSeries(metrics);
  return (call, code) => series.of(call).record(code, undefined);
}

/** The series of one method over one protocol, looked up once (see labelled-series.ts). */
class MethodSeries {
  readonly inFlight: GaugeSeries;
  readonly watch: boolean;
  // Durations are looked up at the first timed call: a stream has none, and an empty histogram
  // would still render its buckets.
  #duration: HistogramSeries | undefined;
  readonly #byCode = new Map<Code | undefined, { rpc: CounterSeries; http: CounterSeries; httpDuration?: HistogramSeries }>();

  constructor(
    private readonly metrics: Metrics,
    private readonly call: RpcCall,
  ) {
    this.inFlight = metrics.rpcInFlight.series({ service: call.service, method: call.method });
    this.watch = call.method.startsWith('Watch') && call.service.startsWith('orchestrator.');
  }

  record(code: Code | undefined, seconds: number | undefined): void {
    let byCode = this.#byCode.get(code);
    if (!byCode) {
      const { metrics, call } = this;
      byCode = {
        rpc: metrics.rpcRequests.series({ ...call, code: codeLabel(code) }),
        http: metrics.httpRequests.series({ service: SERVICE, method: call.method, status: httpStatusLabel(code) }),
      };
      this.#byCode.set(code, byCode);
    }
    byCode.rpc.inc();
    byCode.http.inc();
    if (seconds === undefined) return;
    const { metrics, call } = this;
    (this.#duration ??= metrics.rpcDuration.series(call)).observe(seconds);
    (byCode.httpDuration ??= metrics.httpDuration.series({ service: SERVICE, method: call.method, status: httpStatusLabel(code) })).observe(seconds);
  }
}

class CallSeries {
  readonly #methods = new Map<string, MethodSeries>();
  constructor(private readonly metrics: Metrics) {}

  of(call: RpcCall): MethodSeries {
    const key = `${call.service}/${call.method} ${call.protocol}`;
    let method = this.#methods.get(key);
    if (!method) this.#methods.set(key, (method = new MethodSeries(this.metrics, call)));
    return method;
  }
}
