/**
 * The logging the buses need. The service's telemetry `Logger` satisfies it;
 * it is declared here so that bus/ does not import telemetry/ (adapters do not
 * import each other).
 */
export interface BusLogger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** A logger that drops everything. */
export const silentBusLogger: BusLogger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};

/**
 * One line of text for an error, without its stack. Node reports a refused
 * connection to a name with several addresses as an AggregateError whose own
 * message is empty, so fall back to its code and first inner error.
 */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (error.message) return error.message;
  const code = (error as { code?: unknown }).code;
  const inner = error instanceof AggregateError ? error.errors[0] : undefined;
  if (inner instanceof Error && inner.message) return inner.message;
  return typeof code === 'string' ? code : error.name;
}
