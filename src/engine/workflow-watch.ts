import type { EventBus, TransitionMessage } from './ports/event-bus.js';
import type { WorkflowStore } from './ports/workflow-store.js';
import { WorkflowNotFoundError } from './errors.js';
import { storeFailure } from './store-failures.js';
import { toHistoryEntry } from './history-entry.js';
import { entryOfMessage } from './transition-message.js';
import { Wakeup } from './wakeup.js';
import type { WatchPoller } from './watch-poller.js';
import type { HistoryEntry } from './workflow-types.js';
import { FINAL_STATUSES } from './workflow-types.js';

const PAGE = 200;
/** Messages held for versions not yielded yet; past this the watcher re-reads the history instead. */
const MAX_HELD = 1_000;

/**
 * The transitions of one instance from `fromVersion` on, with no gaps and no duplicates, ending
 * after the entry with a final status. It subscribes to the bus before reading anything, so no
 * transition can slip between the replay and the live part. Live, a message that carries its
 * history entry and is the next version is yielded as it is (no store read); a gap (a lost or
 * reordered message), a message without its entry (too big for the bus) or too many held
 * messages make it read the history from the next version. Without messages it reads the history
 * when `poller` finds the workflow at a version not yielded yet (lost messages). Throws
 * `signal.reason` (an AbortError) when aborted, WorkflowNotFoundError when the instance does not
 * exist, and StoreUnavailableError when a read or the poller's poll failed.
 */
export async function* watchWorkflow(
  deps: { store: WorkflowStore; bus: EventBus; poller: WatchPoller },
  workflowId: string,
  fromVersion: number,
  signal: AbortSignal,
): AsyncGenerator<HistoryEntry, void, undefined> {
  signal.throwIfAborted();
  let next = Math.max(1, Math.floor(fromVersion));
  const held = new HeldMessages();
  const wakeup = new Wakeup(signal);
  const unsubscribe = await deps.bus.subscribe(workflowId, (message) => {
    if (message.version < next) return; // already yielded: a duplicate or a late message
    held.add(message);
    wakeup.wake();
  });
  let stale = false;
  let failure: { error: unknown } | undefined;
  const unpoll = deps.poller.add(workflowId, () => next, {
    stale: () => {
      stale = true;
      wakeup.wake();
    },
    fail: (error) => {
      failure = { error };
      wakeup.wake();
    },
  });
  try {
    const record = await deps.store.loadWorkflow(workflowId);
    if (!record) throw new WorkflowNotFoundError(workflowId);
    // Nothing at or after fromVersion will ever come.
    if (FINAL_STATUSES.has(record.status) && record.version < next) return;
    let read = true;
    for (;;) {
      signal.throwIfAborted();
      if (failure) throw failure.error;
      if (read) {
        read = false;
        const page = await deps.store.listHistory(workflowId, next, PAGE);
        for (const row of page) {
          yield toHistoryEntry(row);
          next = row.version + 1;
          if (FINAL_STATUSES.has(row.status)) return;
        }
        if (page.length === PAGE) read = true;
        continue;
      }
      const live = held.take(next);
      if (live) {
        yield live;
        next = live.version + 1;
        if (FINAL_STATUSES.has(live.status)) return;
        continue;
      }
      if (held.needsRead(next) || stale) {
        stale = false;
        read = true;
        continue;
      }
      // Woken by a message (look again) or by the poller (stale: read).
      await wakeup.wait();
    }
  } catch (error) {
    throw storeFailure(error);
  } finally {
    wakeup.close();
    unpoll();
    await unsubscribe();
  }
}

/**
 * Bus messages of one workflow not yielded yet, by version: usually none or one, as messages
 * come in order and are taken at once. An array, not a Map: a Map that gains and loses a
 * version per transition keeps rebuilding its hash table, and V8 kept the entries the replaced
 * tables held alive through scavenges (see instance-cache.ts).
 */
class HeldMessages {
  #held: { version: number; entry: HistoryEntry | undefined }[] = [];
  #overflow = false;

  add(message: TransitionMessage): void {
    if (this.#held.length >= MAX_HELD) {
      this.#held = [];
      this.#overflow = true;
    }
    const entry = entryOfMessage(message);
    const same = this.#held.find((held) => held.version === message.version);
    if (same) same.entry = entry;
    else this.#held.push({ version: message.version, entry });
  }

  /** The entry of version `next` when a message brought it; forgets older versions. */
  take(next: number): HistoryEntry | undefined {
    if (this.#held.length === 0) return undefined;
    let taken: HistoryEntry | undefined;
    this.#held = this.#held.filter((held) => {
      if (held.version < next) return false;
      if (held.version !== next || !held.entry) return true;
      taken = held.entry;
      return false;
    });
    return taken;
  }

  /** Whether the store must be read: a message beyond `next` (a gap), one without its entry, or an overflow. */
  needsRead(next: number): boolean {
    if (this.#overflow) {
      this.#overflow = false;
      return true;
    }
    return this.#held.some((held) => held.version >= next);
  }
}
