/**
 * The live heap an idle WatchWorkflow stream holds in the server: starts the compiled server
 * (`make build`, or `--dist` a copy saved by ab.ts) with a garbage-collecting heap probe
 * (heap-on-signal.mjs), starts `--streams` bench-counter workflows, reads the heap in use after
 * full collections, opens one gRPC WatchWorkflow stream per workflow (as the storage part does:
 * openIdleStreams), waits for their replays, and reads it again. Prints the difference a stream.
 * RSS (the storage part's number) moves with V8's generations; this does not. Not part of
 * `make bench`:
 *
 *   DATABASE_URL=... node --import tsx bench/stream-heap.ts --streams 4000 [--dist bench/out/ab/NAME]
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createClient } from '@connectrpc/connect';
import { OrchestratorService } from '../gen/orchestrator/v1/orchestrator_pb.js';
import { createBenchTransport } from './bench-clients.js';
import { benchCounter } from './bench-machines.js';
import { startBenchServer } from './bench-server.js';
import { openIdleStreams } from './idle-watchers.js';
import { startWorkflows } from './workflow-fleet.js';
import { SERVER_NODE_FLAGS } from '../tests/helpers/server-process.js';

export interface StreamHeap {
  streams: number;
  heapMbWithout: number;
  heapMbWith: number;
  /** (heap with the streams - heap without) / streams. */
  bytesPerStream: number;
}

/** See the file's comment. `compiled` runs dist/ (or `distDir`), else src/ through tsx. */
export async function measureStreamHeap(options: { databaseUrl: string | undefined; streams: number; compiled?: boolean; distDir?: string | undefined }): Promise<StreamHeap> {
  const { streams } = options;
  const dir = mkdtempSync(join(tmpdir(), 'stream-heap-'));
  const heapFile = join(dir, 'heap.log');
  const probe = fileURLToPath(new URL('./heap-on-signal.mjs', import.meta.url));
  const server = await startBenchServer({
    databaseUrl: options.databaseUrl,
    compiled: options.compiled ?? false,
    distDir: options.distDir,
    nodeFlags: [...SERVER_NODE_FLAGS, '--expose-gc', '--import', probe],
    env: { BENCH_HEAP_FILE: heapFile },
  });

  /** The server's heap in use after full collections, in bytes. */
  async function heapUsed(): Promise<number> {
    const lines = () => (existsSync(heapFile) ? readFileSync(heapFile, 'utf8').trim().split('\n') : []);
    const before = lines().length;
    process.kill(server.pid, 'SIGUSR2');
    for (let waited = 0; waited < 30_000; waited += 100) {
      await sleep(100);
      const now = lines();
      if (now.length > before) return Number(now.at(-1));
    }
    throw new Error('the server did not report its heap (is heap-on-signal.mjs loaded?)');
  }

  let streamsOpen: Awaited<ReturnType<typeof openIdleStreams>> | undefined;
  const transport = createBenchTransport('grpc', server.baseUrl, 8);
  try {
    const client = createClient(OrchestratorService, transport.transport);
    const { workflows } = await startWorkflows(client, benchCounter, streams, { concurrency: 32 });
    await sleep(2_000);
    const without = await heapUsed();
    streamsOpen = await openIdleStreams(server.baseUrl, workflows.map((w) => w.id));
    await sleep(3_000);
    const withStreams = await heapUsed();
    streamsOpen.check();
    return { streams, heapMbWithout: mb(without), heapMbWith: mb(withStreams), bytesPerStream: Math.round((withStreams - without) / streams) };
  } finally {
    streamsOpen?.close();
    transport.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({ options: { streams: { type: 'string', default: '4000' }, dist: { type: 'string' } } });
  const streams = Number(values.streams);
  if (!Number.isSafeInteger(streams) || streams < 1) throw new Error('--streams must be a positive integer');
  const result = await measureStreamHeap({ databaseUrl: process.env.DATABASE_URL, streams, compiled: true, distDir: values.dist });
  console.log(JSON.stringify(result));
  console.log(`${streams} idle WatchWorkflow streams: ${result.bytesPerStream} bytes of live heap a stream (${result.heapMbWithout} -> ${result.heapMbWith} MiB)`);
}
