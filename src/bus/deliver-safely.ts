import { describeError, type BusLogger } from './bus-logger.js';

/**
 * Calls one subscriber. A subscriber that throws (or returns a promise that
 * rejects) is logged and skipped: it must not stop delivery to the others,
 * crash the process with an unhandled rejection, nor (for Redis) reach the
 * client's reply parser, which would reset the connection.
 */
export function deliverSafely<T>(onMessage: (message: T) => void, message: T, logger: BusLogger): void {
  const { workflowId, version, kind } = message as { workflowId?: unknown; version?: unknown; kind?: unknown };
  const report = (error: unknown) => logger.warn('event bus subscriber failed', { workflowId, version, kind, error: describeError(error) });
  try {
    // Typed as void, but an async function is assignable to it.
    const result: unknown = onMessage(message);
    if (result instanceof Promise) result.catch(report);
  } catch (error) {
    report(error);
  }
}
