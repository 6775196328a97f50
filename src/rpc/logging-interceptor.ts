import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import type { Logger } from '../telemetry/logger.js';

/**
 * One log line per RPC: debug when it succeeds or fails with a client-side code,
 * error (with the cause) when the server failed. The client only ever sees
 * "internal error" for the latter; the log is where the cause lives.
 */
export function loggingInterceptor(logger: Logger): Interceptor {
  const debug = logger.enabled('debug');
  return (next) => async (req) => {
    const started = performance.now();
    const fields = () => ({ procedure: req.url.slice(req.url.lastIndexOf('/', req.url.lastIndexOf('/') - 1)), stream: req.stream });
    try {
      const res = await next(req);
      if (debug) logger.debug('rpc', { ...fields(), code: 'ok', ms: elapsed(started) });
      return res;
    } catch (err) {
      const code = err instanceof ConnectError ? err.code : Code.Internal;
      const line = { ...fields(), code: Code[code], ms: elapsed(started), err: err instanceof ConnectError ? err.rawMessage : err };
      if (serverFault.has(code)) logger.error('rpc failed', { ...line, cause: (err as { cause?: unknown }).cause });
      else logger.debug('rpc', line);
      throw err;
    }
  };
}

const serverFault = new Set([Code.Internal, Code.Unknown, Code.DataLoss]);

function elapsed(since: number): number {
  return Math.round((performance.now() - since) * 100) / 100;
}
