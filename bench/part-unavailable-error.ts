/**
 * A part cannot run against this server or configuration (an RPC not served yet, no suitable
 * machine shipped, no Postgres for the ceiling). The harness reports it as `unavailable` with
 * the message and goes on with the other parts; any other error fails the part.
 */
export class PartUnavailableError extends Error {
  override readonly name = 'PartUnavailableError';
}
