import assert from 'node:assert/strict';
import { EngineError } from '../../../src/engine/errors.js';

/** An assert.rejects validator: an EngineError with `expected` code (and message). */
export function code(expected: string, message?: RegExp) {
  return (error: unknown): true => {
    assert.ok(error instanceof EngineError, `expected an EngineError, got ${String(error)}`);
    assert.equal(error.code, expected, error.message);
    if (message) assert.match(error.message, message);
    return true;
  };
}
