import { InvalidInputError, LimitExceededError } from './errors.js';
import type { JsonObject } from './json.js';
import { isJsonObject, jsonBytes, jsonProblem } from './json.js';
import { isClientEvent } from './machine-registry.js';

const ID = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;

/** Ids clients choose (workflow ids): 1-128 of letters, digits and . _ : @ -, not starting with a symbol. */
export function checkId(field: string, value: string): void {
  if (!ID.test(value)) throw new InvalidInputError(`${field} must be 1-128 letters, digits or . _ : @ -`, [{ field, description: 'bad format' }]);
}

/** Free-form keys (request ids, event ids): 1-256 characters. */
export function checkKey(field: string, value: string): void {
  if (value.length === 0 || value.length > 256) throw new InvalidInputError(`${field} must be 1-256 characters`, [{ field, description: 'bad length' }]);
}

export function checkPositiveInt(field: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) throw new InvalidInputError(`${field} must be a positive integer`, [{ field, description: 'not a positive integer' }]);
}

/** A JSON object within `limit` bytes; `what` names it in messages. */
export function checkJsonObject(field: string, value: unknown, limit: number): asserts value is JsonObject {
  if (!isJsonObject(value)) throw new InvalidInputError(`${field} must be a JSON object`, [{ field, description: 'not an object' }]);
  const problem = jsonProblem(value, field);
  if (problem) throw new InvalidInputError(`${field} is not JSON: ${problem}`, [{ field, description: problem }]);
  const bytes = jsonBytes(value);
  if (bytes > limit) throw new LimitExceededError(field, bytes, limit);
}

/** The machine event for a client event: `{ ...payload, type }`. */
export function clientEvent(event: { type: string; payload?: JsonObject }, maxBytes: number): JsonObject & { type: string } {
  const { type } = event;
  if (typeof type !== 'string' || type.length === 0 || type.length > 200) {
    throw new InvalidInputError('event.type must be 1-200 characters', [{ field: 'event.type', description: 'bad length' }]);
  }
  if (!isClientEvent(type)) {
    throw new InvalidInputError(`event type '${type}' is reserved for the engine`, [{ field: 'event.type', description: 'xstate.* events come from tools and timers only' }]);
  }
  const payload = event.payload ?? {};
  checkJsonObject('event.payload', payload, maxBytes);
  if ('type' in payload) throw new InvalidInputError("event.payload must not have a 'type' field", [{ field: 'event.payload.type', description: 'reserved' }]);
  const machineEvent = { ...payload, type };
  const bytes = jsonBytes(machineEvent);
  if (bytes > maxBytes) throw new LimitExceededError('event', bytes, maxBytes);
  return machineEvent;
}

export function pageSize(field: string, value: number | undefined, fallback: number, max: number): number {
  if (value === undefined || value === 0) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) throw new InvalidInputError(`${field} must be a positive integer`, [{ field, description: 'not a positive integer' }]);
  return Math.min(value, max);
}
