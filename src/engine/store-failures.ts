import { EngineError, StoreUnavailableError } from './errors.js';

/**
 * Whether the database is unreachable or refusing work (connection errors, Postgres classes 08
 * connection, 53 resources, 57 operator intervention, 58 system, a query that got no answer in
 * time), as opposed to a bug.
 */
export function isDatabaseError(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && (/^(08|53|57|58)/.test(code) || /^E[A-Z]+$/.test(code) || code === 'store_unavailable')) return true;
  return typeof message === 'string' && /connection terminated|timeout exceeded when trying to connect|database is closed|query read timeout/i.test(message);
}

/** Engine errors pass; a database failure becomes StoreUnavailableError (`unavailable`); anything else passes. */
export function storeFailure(error: unknown): unknown {
  if (error instanceof EngineError || !isDatabaseError(error)) return error;
  return new StoreUnavailableError(`the database failed: ${(error as Error).message}`, { cause: error });
}
