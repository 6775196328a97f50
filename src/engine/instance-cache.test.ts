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

  it('evicts, after a pass that cleared every mark, an entry unused since before a used one (second chance)', () => {
    const cache = new InstanceCache(3);
    cache.set('a', instance(1));
    cache.set('b', instance(1));
    cache.set('c', instance(1));
    cache.set('d', instance(1)); // full, all new: a pass clears every mark and a, the oldest, goes
    assert.equal(cache.get('a'), undefined, 'a goes');
    cache.get('b'); // b is now the oldest, but was just read
    cache.set('e', instance(1));
    assert.ok(cache.get('b'), 'b was used, so it stays');
    assert.equal(cache.get('c'), undefined, 'c is the oldest unused entry, so it goes');
    assert.ok(cache.get('d') && cache.get('e'), 'd and e stay');
  });

  it('keeps new entries over entries only used before them', () => {
    const cache = new InstanceCache(4);
    cache.set('old1', instance(1));
    cache.set('old2', instance(1));
    cache.set('old1', instance(2)); // both were used, then nothing more
    cache.set('old2', instance(2));
    for (const id of ['n1', 'n2', 'n3', 'n4']) cache.set(id, instance(1));
    assert.equal(cache.get('old1'), undefined, 'old1 goes');
    assert.equal(cache.get('old2'), undefined, 'old2 goes');
    for (const id of ['n1', 'n2', 'n3', 'n4']) assert.ok(cache.get(id), `${id} stays`);
  });

  it('counts a replaced instance as a use', () => {
    const cache = new InstanceCache(3);
    for (const id of ['a', 'b', 'c', 'd']) cache.set(id, instance(1)); // a goes, the marks are cleared
    cache.set('b', instance(2)); // a transition of b
    cache.set('e', instance(1));
    assert.equal(cache.get('b')?.record.version, 2, 'b was replaced, so it stays');
    assert.equal(cache.get('c'), undefined, 'c goes');
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
