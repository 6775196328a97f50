/**
 * The engine's error family. Every error the engine's public API throws on purpose is an
 * `EngineError` with a stable `code`; `rpc/` maps the code 1:1 to a Connect code in one place.
 * Anything else that escapes is a bug and maps to `internal`. Tool failures are not errors
 * here: they reach machines as `xstate.error.actor.<id>` events.
 */
export type EngineErrorCode =
  | 'invalid_argument'
  | 'not_found'
  | 'already_exists'
  | 'failed_precondition'
  | 'aborted'
  | 'unavailable'
  | 'deadline_exceeded'
  | 'resource_exhausted'
  | 'internal';

export class EngineError extends Error {
  override readonly name: string = 'EngineError';
  constructor(
    readonly code: EngineErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** One wrong field of a request: `field` is a path such as `input.goal` or `event.payload.by`. */
export interface FieldViolation {
  field: string;
  description: string;
}

/** Input, event or request fields are invalid; `details.violations` lists them. */
export class InvalidInputError extends EngineError {
  override readonly name = 'InvalidInputError';
  constructor(message: string, readonly violations: FieldViolation[] = []) {
    super('invalid_argument', message, { violations });
  }
}

export class WorkflowNotFoundError extends EngineError {
  override readonly name = 'WorkflowNotFoundError';
  constructor(workflowId: string, detail = '') {
    super('not_found', `workflow ${workflowId} not found${detail}`, { workflowId });
  }
}

export class MachineNotFoundError extends EngineError {
  override readonly name = 'MachineNotFoundError';
  constructor(machineId: string, version?: number) {
    super('not_found', `machine ${machineId}${version === undefined ? '' : ` version ${version}`} not found`, { machineId, version });
  }
}

/** A workflow id, or a start request id with a different input, is already taken. */
export class DuplicateWorkflowError extends EngineError {
  override readonly name = 'DuplicateWorkflowError';
  constructor(message: string, details: Record<string, unknown>) {
    super('already_exists', message, details);
  }
}

/** The current state has no transition for the event; `details.acceptedEvents` lists those it has. */
export class EventNotAcceptedError extends EngineError {
  override readonly name = 'EventNotAcceptedError';
  constructor(eventType: string, state: unknown, readonly acceptedEvents: string[]) {
    super('failed_precondition', `event '${eventType}' is not accepted in state ${JSON.stringify(state)}; accepted: ${acceptedEvents.join(', ') || 'none'}`, {
      eventType,
      state,
      acceptedEvents,
    });
  }
}

/** The workflow reached a final status (done, error, cancelled) and takes no more events. */
export class WorkflowFinishedError extends EngineError {
  override readonly name = 'WorkflowFinishedError';
  constructor(workflowId: string, status: string) {
    super('failed_precondition', `workflow ${workflowId} is ${status} and takes no more events`, { workflowId, status });
  }
}

/** The instance moved on: `expectedVersion` did not match, or retries ran out under contention. */
export class VersionConflictError extends EngineError {
  override readonly name = 'VersionConflictError';
  constructor(message: string, details: Record<string, unknown>) {
    super('aborted', message, details);
  }
}

/** The database (or another dependency the engine cannot work without) is unreachable. */
export class StoreUnavailableError extends EngineError {
  override readonly name = 'StoreUnavailableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('unavailable', message, undefined, options);
  }
}

/** A payload, input or context is larger than the configured limit; nothing was written. */
export class LimitExceededError extends EngineError {
  override readonly name = 'LimitExceededError';
  constructor(what: string, bytes: number, limit: number) {
    super('resource_exhausted', `${what} is ${bytes} bytes, over the limit of ${limit}`, { what, bytes, limit });
  }
}

/**
 * A machine definition is inconsistent: bad registration, a released version changed in place,
 * an unknown tool, or an action the engine cannot make durable. A bug in the service, not in
 * the request: `internal`. At start-up it stops the service.
 */
export class MachineDefinitionError extends EngineError {
  override readonly name = 'MachineDefinitionError';
  constructor(message: string, details?: Record<string, unknown>) {
    super('internal', message, details);
  }
}

/** The engine is stopped (or not started) and refuses work. */
export class EngineStoppedError extends EngineError {
  override readonly name = 'EngineStoppedError';
  constructor() {
    super('unavailable', 'the workflow engine is stopped');
  }
}
