import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InstanceCache } from './instance-cache.js';
import type { WorkflowInstance } from './workflow-instance.js';

/** A stand-in instance: the cache only stores and returns it. */
const instance = (version: number) => ({ record: { version } }) as unknown as WorkflowInstance;

describe('InstanceCache', () => {
  it('returns what was set last for an id, nothing after a delete', () => {
    const cache = new InstanceCache(10);
    assert.equal(cache.get('a'), undefined);
    const first = instance(1);
    const second = instance(2);
    cache.set('a', first);
    assert.equal(cache.get('a'), first);
    cache.set('a', second);
    assert.equal(cache.get('a'), second);
    assert.equal(cache.size, 1);
    cache.delete('a');
    assert.equal(cache.get('a'), undefined);
    assert.equal(cache.size, 0);
  });

  it('never holds more than its capacity', () => {
    const cache = new InstanceCache(3);
    for (let i = 0; i < 50; i++) {
      cache.set(`w${i}`, instance(i));
      if (i % 3 === 0) cache.get(`w${i - 1}`);
      assert.ok(cache.size <= 3, `size ${cache.size} after ${i + 1} sets`);
    }
    assert.equal(cache.size, 3);
    // The newest is always kept: it is the one just set.
    assert.equal(cache.get('w49')?.record.version, 49);
  });

  it('holds nothing with no capacity', () => {
    const cache = new InstanceCache(0);
    cache.set('a', instance(1));
    assert.equal(cache.get('a'), undefined);
    assert.equal(cache.size, 0);
  });

  it('evicts an entry unused since the last pass before a used one (second chance)', () => {
    const cache = new InstanceCache(3);
    cache.set('a', instance(1));
    cache.set('b', instance(1));
    cache.set('c', instance(1));
    cache.get('a'); // a is the oldest but was just read
    cache.set('d', instance(1));
    assert.ok(cache.get('a'), 'a was used, so it stays');
    assert.equal(cache.get('b'), undefined, 'b is the oldest unused entry, so it goes');
    assert.ok(cache.get('c') && cache.get('d'), 'c and d stay');
  });

  it('counts a replaced instance as a use', () => {
    const cache = new InstanceCache(2);
    cache.set('a', instance(1));
    cache.set('b', instance(1));
    cache.set('a', instance(2)); // a transition of a
    cache.set('c', instance(1));
    assert.equal(cache.get('a')?.record.version, 2, 'a was replaced, so it stays');
    assert.equal(cache.get('b'), undefined, 'b goes');
  });

  it('evicts the oldest when every entry was used', () => {
    const cache = new InstanceCache(2);
    cache.set('a', instance(1));
    cache.set('b', instance(1));
    cache.get('a');
    cache.get('b');
    cache.set('c', instance(1));
    // One pass clears both marks; the first unmarked one then is the oldest, a.
    assert.equal(cache.get('a'), undefined, 'a goes');
    assert.ok(cache.get('b') && cache.get('c'), 'b and c stay');
  });
});
