import { createHash } from 'node:crypto';
import type { AnyStateMachine } from 'xstate';
import { stableStringify } from './json.js';

/**
 * A stable hash of what decides a machine's behaviour: its JSON definition (states,
 * transitions, invokes, delays by name, action and guard names), the names of its
 * implementations, and the registered version. Key order does not matter; equal
 * definitions hash equally in every process.
 *
 * Function bodies (inline guards, assign expressions) are not part of `toJSON()`, so an
 * in-place edit of such a body is not detected: treat any change of a released version as
 * a new version anyway.
 */
export function definitionHash(machine: AnyStateMachine, version: number): string {
  const impl = machine.implementations;
  const text = stableStringify({
    version,
    definition: JSON.parse(JSON.stringify(machine.toJSON())) as unknown,
    implementations: {
      actors: Object.keys(impl.actors).sort(),
      actions: Object.keys(impl.actions).sort(),
      guards: Object.keys(impl.guards).sort(),
      delays: Object.keys(impl.delays).sort(),
    },
  });
  return createHash('sha256').update(text).digest('hex');
}
