// Loaded into the server (`--expose-gc --import <this file>`) by stream-heap.ts: on SIGUSR2 it
// collects garbage twice and appends the heap in use (bytes) as a line to BENCH_HEAP_FILE, so the
// harness reads the live heap from outside without an inspector. Plain JavaScript because it
// loads before tsx is registered.
import { appendFileSync } from 'node:fs';

const file = process.env.BENCH_HEAP_FILE;
if (file && typeof globalThis.gc === 'function') {
  process.on('SIGUSR2', () => {
    globalThis.gc();
    globalThis.gc();
    appendFileSync(file, `${process.memoryUsage().heapUsed}\n`);
  });
}
