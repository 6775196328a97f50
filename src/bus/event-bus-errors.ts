/**
 * Start-up could not reach the bus's backend within the start-up timeout.
 * The message names the address (never the credentials) and the last cause.
 */
export class EventBusStartupError extends Error {
  override readonly name = 'EventBusStartupError';
}

/** `subscribe`/`subscribeAll` was called after `close()`: a shutdown-order bug. */
export class EventBusClosedError extends Error {
  override readonly name = 'EventBusClosedError';
  constructor() {
    super('the event bus is closed');
  }
}
