import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CallRegistry } from './call-registry.js';

/** A call that records the reason it was aborted with. */
const call = (name: string, aborted: string[]) => ({ abort: (reason: unknown) => void aborted.push(`${name}:${String(reason)}`) });

describe('CallRegistry', () => {
  it('aborts, at shutdown, exactly the calls that did not leave, whatever order they left in', () => {
    const shutdown = new AbortController();
    const registry = new CallRegistry(shutdown.signal);
    const aborted: string[] = [];
    const entries = ['a', 'b', 'c', 'd', 'e'].map((name) => registry.add(call(name, aborted)));
    registry.delete(entries[1]!); // from the middle: the last one takes its place
    registry.delete(entries[4]!); // the last one now
    registry.delete(entries[1]!); // twice: nothing more leaves
    registry.delete(entries[0]!);
    shutdown.abort('stopping');
    assert.deepEqual(aborted.sort(), ['c:stopping', 'd:stopping']);
  });

  it('takes calls again after every one left', () => {
    const shutdown = new AbortController();
    const registry = new CallRegistry(shutdown.signal);
    const aborted: string[] = [];
    registry.delete(registry.add(call('a', aborted)));
    registry.add(call('b', aborted));
    shutdown.abort('stopping');
    assert.deepEqual(aborted, ['b:stopping']);
  });
});
