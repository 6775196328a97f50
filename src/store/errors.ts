/**
 * Errors of the store plumbing that the engine's family (engine/errors.ts) does not cover.
 * An unreachable database is the engine's `StoreUnavailableError` (code `unavailable`), so the
 * RPC layer maps it once; this file adds start-up failures that never reach a client.
 */

/** A migration failed; `migration` names it (undefined when the failure came before any migration ran). */
export class MigrationError extends Error {
  override readonly name = 'MigrationError';
  readonly code = 'migration_failed';
  constructor(
    message: string,
    readonly migration: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The message of any thrown value, without a stack: what logs and error messages quote. */
export function reasonOf(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) {
    // pg reports "connect ECONNREFUSED" for each address it tried (IPv4 and IPv6) as an AggregateError
    // with an empty message; the first inner error says what happened.
    return reasonOf(error.errors[0]);
  }
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' && !error.message.includes(code) ? `${error.message} (${code})` : error.message;
  }
  return String(error);
}
