import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { measureStreamHeap } from '../bench/stream-heap.js';

/** `bench/stream-heap.ts` on a few streams: the server's heap probe answers and the numbers add up (no size is asserted). */
describe('bench/stream-heap.ts', () => {
  it('reads the server heap around opening idle WatchWorkflow streams', { timeout: 120_000 }, async () => {
    const result = await measureStreamHeap({ databaseUrl: process.env.DATABASE_URL, streams: 100 });
    assert.equal(result.streams, 100);
    assert.ok(result.heapMbWithout > 0, `the server reported its heap (${result.heapMbWithout} MiB)`);
    assert.ok(result.heapMbWith > result.heapMbWithout, `100 open streams hold heap (${result.heapMbWithout} -> ${result.heapMbWith} MiB)`);
    assert.ok(result.bytesPerStream > 0, `a stream holds heap (${result.bytesPerStream} bytes)`);
  });
});
