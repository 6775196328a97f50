import { create, toBinary } from '@bufbuild/protobuf';
import { WatchWorkflowRequestSchema } from '../gen/orchestrator/v1/orchestrator_pb.js';
import type { OrchestratorClient } from './bench-machines.js';
import { nestedUint32, type LeanGrpcConnection } from './lean-grpc.js';

/**
 * Follows one workflow from version 0: `onVersion` for every history entry delivered, `done` once
 * when the stream ends (with the error, if any); returns a function that cancels it.
 */
export type WatchSource = (workflowId: string, onVersion: (version: number) => void, done: (error: Error | undefined) => void) => () => void;

/** Watches through a connect-node client. */
export function connectWatchSource(client: OrchestratorClient): WatchSource {
  return (workflowId, onVersion, done) => {
    const controller = new AbortController();
    void (async () => {
      try {
        for await (const res of client.watchWorkflow({ workflowId, fromVersion: 0 }, { signal: controller.signal })) if (res.entry) onVersion(res.entry.version);
        done(undefined);
      } catch (error) {
        done(error as Error);
      }
    })();
    return () => controller.abort();
  };
}

/** Watches over a lean gRPC connection (see lean-grpc.ts): reads only each entry's version. */
export function leanWatchSource(connection: LeanGrpcConnection): WatchSource {
  return (workflowId, onVersion, done) =>
    connection.serverStream(
      '/orchestrator.v1.OrchestratorService/WatchWorkflow',
      toBinary(WatchWorkflowRequestSchema, create(WatchWorkflowRequestSchema, { workflowId, fromVersion: 0 })),
      (bytes) => {
        const version = nestedUint32(bytes, 1, 2); // WatchWorkflowResponse.entry.version
        if (version !== undefined) onVersion(version);
      },
      done,
    );
}

/**
 * One WatchWorkflow stream per watched workflow, timing how long after a send the stream
 * delivers the transition. The harness calls `expect(i, version)` right before sending an event
 * to workflow i; the stream message with that version records `now - sentAt`.
 *
 * A stream that ends or fails before `close` is counted in `failures` (its later transitions
 * show up as missed in `settle`), never retried: a benchmark must not hide a broken watcher.
 */
export class WatchFleet {
  readonly #cancels: (() => void)[] = [];
  #closed = false;
  readonly #pending: ({ version: number; sentAt: number } | undefined)[];
  #pendingCount = 0;
  #samples: number[] = [];
  #drained: (() => void) | undefined;
  failures = 0;
  firstFailure: string | undefined;

  private constructor(readonly size: number) {
    this.#pending = new Array(size).fill(undefined);
  }

  /**
   * Opens a stream per id and resolves once every stream delivered its first message (the
   * current transition, from_version 0), so no later transition can be missed. Rejects when
   * not all are open within `timeoutMs`, or when a stream fails while opening.
   */
  static async open(watch: WatchSource, ids: string[], timeoutMs: number): Promise<WatchFleet> {
    const fleet = new WatchFleet(ids.length);
    const opened = ids.map((id, i) => fleet.#follow(watch, id, i));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`not all ${ids.length} WatchWorkflow streams delivered their first message within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([Promise.all(opened), timeout]);
    } catch (error) {
      fleet.close();
      throw error;
    } finally {
      clearTimeout(timer);
    }
    return fleet;
  }

  #follow(watch: WatchSource, workflowId: string, i: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let open = false;
      const cancel = watch(
        workflowId,
        (version) => {
          if (!open) {
            open = true;
            resolve();
          }
          this.#arrived(i, version);
        },
        (error) => {
          if (this.#closed) return resolve();
          this.failures++;
          this.firstFailure ??= error?.message ?? `WatchWorkflow ${workflowId} ended`;
          if (!open) reject(error ?? new Error(`WatchWorkflow ${workflowId} ended`));
        },
      );
      this.#cancels.push(cancel);
    });
  }

  #arrived(i: number, version: number): void {
    const pending = this.#pending[i];
    if (!pending || version < pending.version) return; // the replayed first message, or an older one
    if (version === pending.version) this.#samples.push(performance.now() - pending.sentAt);
    this.#pending[i] = undefined;
    if (--this.#pendingCount === 0) this.#drained?.();
  }

  /** Workflow i is about to get the event that makes `version`. Ignored for unwatched workflows. */
  expect(i: number, version: number): void {
    if (i >= this.size) return;
    if (!this.#pending[i]) this.#pendingCount++;
    this.#pending[i] = { version, sentAt: performance.now() };
  }

  /** Send-to-notification times (ms) since the last reset. */
  latencies(): number[] {
    return this.#samples;
  }

  reset(): void {
    this.#samples = [];
  }

  /**
   * Waits until every expected transition arrived, for at most `timeoutMs`; returns how many
   * had not (and forgets them, so the next level starts clean).
   */
  async settle(timeoutMs: number): Promise<number> {
    if (this.#pendingCount > 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.#drained = resolve;
        timer = setTimeout(resolve, timeoutMs);
      });
      clearTimeout(timer);
      this.#drained = undefined;
    }
    const missed = this.#pendingCount;
    this.#pending.fill(undefined);
    this.#pendingCount = 0;
    return missed;
  }

  close(): void {
    this.#closed = true;
    for (const cancel of this.#cancels) cancel();
  }
}
