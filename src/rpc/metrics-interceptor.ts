import { Code, type Interceptor } from '@connectrpc/connect';
import type { Metrics } from '../telemetry/metrics.js';
import { codeLabel, codeOf, httpStatusLabel, rpcCall, type RpcCall } from './rpc-call.js';

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
    const watch = req.stream && call.method.startsWith('Watch') && call.service.startsWith('orchestrator.');
    const started = performance.now();
    metrics.rpcInFlight.inc({ service: call.service, method: call.method });
    if (watch) metrics.watchStreams.inc();
    const end = (code: Code | undefined) => {
      record(metrics, call, code, req.stream ? undefined : (performance.now() - started) / 1000);
      metrics.rpcInFlight.dec({ service: call.service, method: call.method });
      if (watch) metrics.watchStreams.dec();
    };
    let res;
    try {
      res = await next(req);
    } catch (error) {
      end(codeOf(error));
      throw error;
    }
    if (!res.stream) {
      end(undefined);
      return res;
    }
    return { ...res, message: observeStream(res.message, end) };
  };
}

function record(metrics: Metrics, call: RpcCall, code: Code | undefined, seconds: number | undefined): void {
  const status = httpStatusLabel(code);
  metrics.rpcRequests.inc({ ...call, code: codeLabel(code) });
  metrics.httpRequests.inc({ service: SERVICE, method: call.method, status });
  if (seconds === undefined) return;
  metrics.rpcDuration.observe(call, seconds);
  metrics.httpDuration.observe({ service: SERVICE, method: call.method, status }, seconds);
}

/**
 * Passes a server stream through and calls `end` once, however it ends: completed (ok), failed
 * (its code), or closed by the consumer (`canceled`), also when closed before the first message,
 * which a generator's `finally` would not see.
 */
function observeStream<T>(messages: AsyncIterable<T>, end: (code: Code | undefined) => void): AsyncIterable<T> {
  let ended = false;
  const finish = (code: Code | undefined) => {
    if (ended) return;
    ended = true;
    end(code);
  };
  return {
    [Symbol.asyncIterator](): AsyncIterator<T> {
      const inner = messages[Symbol.asyncIterator]();
      return {
        async next() {
          try {
            const result = await inner.next();
            if (result.done) finish(undefined);
            return result;
          } catch (error) {
            finish(codeOf(error));
            throw error;
          }
        },
        async return(value?: unknown) {
          finish(Code.Canceled);
          return (await inner.return?.(value)) ?? { done: true, value: undefined };
        },
        async throw(error?: unknown) {
          finish(codeOf(error));
          if (inner.throw) return inner.throw(error);
          throw error;
        },
      };
    },
  };
}
