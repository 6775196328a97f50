import type { WorkflowStore } from './ports/workflow-store.js';
import { PollSchedule, type PollScheduleDeps } from './poll-schedule.js';

/** Most workflow ids in one version query. */
const CHUNK = 1_000;

interface Watcher {
  readonly workflowId: string;
  /** The next version the watcher has not yielded yet. */
  next(): number;
  /** Called when the store holds that version (or no longer holds the workflow). */
  stale(): void;
  /** Called when a poll failed: the watch ends with the error, as its own read would have. */
  fail(error: unknown): void;
}

/** When it polls: PollScheduleDeps (every interval, every second while the bus is down, at once when it goes down or comes back). */
export interface WatchPollerDeps extends PollScheduleDeps {
  store: Pick<WorkflowStore, 'workflowVersions'>;
  /** A failed poll (its watchers were failed with the error). */
  onError(error: unknown): void;
}

/**
 * The safety net of every single-workflow watch of one engine (workflow-watch.ts). Bus messages
 * can be lost (a replica killed between its commit and its publish, a Redis outage), so watchers
 * must look at the store now and then. One query a poll for every watched workflow (their
 * current versions, up to 1,000 ids a query) instead of a history read per watcher: 5,000 idle
 * streams polling one by one cost ~1,000 queries a second and a fifth of a core while nothing
 * happened (bench/JOURNAL.md, Session 25). A watcher is told only when its workflow has moved to
 * a version it has not yielded (or is gone), and then reads the history itself; a failed poll
 * fails its watchers (the database is unreachable from here: their clients resume elsewhere, as
 * when a watcher's own read failed before). It polls while anyone watches, whether or not the
 * engine was started, as watches are served either way.
 */
export class WatchPoller {
  readonly #schedule: PollSchedule<Watcher>;

  constructor(private readonly deps: WatchPollerDeps) {
    this.#schedule = new PollSchedule(deps, (watchers) => this.#poll(watchers));
  }

  /** Watches `workflowId` (see Watcher); returns the function that stops it. */
  add(workflowId: string, next: () => number, callbacks: { stale(): void; fail(error: unknown): void }): () => void {
    return this.#schedule.add({ workflowId, next, stale: callbacks.stale, fail: callbacks.fail });
  }

  async #poll(watchers: ReadonlySet<Watcher>): Promise<void> {
    try {
      const byWorkflow = new Map<string, Watcher[]>();
      for (const watcher of watchers) {
        const same = byWorkflow.get(watcher.workflowId);
        if (same) same.push(watcher);
        else byWorkflow.set(watcher.workflowId, [watcher]);
      }
      const ids = [...byWorkflow.keys()];
      for (let i = 0; i < ids.length; i += CHUNK) {
        const chunk = ids.slice(i, i + CHUNK);
        const versions = await this.deps.store.workflowVersions(chunk);
        for (const id of chunk) {
          const version = versions.get(id);
          for (const watcher of byWorkflow.get(id)!) {
            if (watchers.has(watcher) && (version === undefined || version >= watcher.next())) watcher.stale();
          }
        }
      }
    } catch (error) {
      for (const watcher of [...watchers]) watcher.fail(error);
      this.deps.onError(error);
    }
  }
}
