import type { Clock } from './clock.js';
import { InvalidInputError } from './errors.js';
import { toHistoryEntry } from './history-entry.js';
import type { EventBus, TransitionMessage } from './ports/event-bus.js';
import type { ChangedWorkflow, WorkflowStore } from './ports/workflow-store.js';
import { changedSince, type FleetPollResult, type FleetPoller } from './fleet-poller.js';
import { decodePageToken, encodePageToken } from './page-token.js';
import { entryOfMessage } from './transition-message.js';
import { storeFailure } from './store-failures.js';
import { Wakeup } from './wakeup.js';
import type { HistoryEntry, WorkflowStatus } from './workflow-types.js';
import { FINAL_STATUSES } from './workflow-types.js';

/** Which transitions a fleet watch follows. */
export interface FleetWatchQuery {
  /** Only workflows of this machine. */
  machineId?: string;
  /** Only transitions that leave the workflow in one of these statuses (empty: all). */
  statuses?: WorkflowStatus[];
  /** Replay transitions committed at or after this time first; unset: from now. */
  since?: Date;
}

/** One item of a fleet watch: a transition, or a heartbeat (no entry) after a quiet poll. */
export interface FleetWatchItem {
  entry?: HistoryEntry;
  machineId?: string;
  machineVersion?: number;
  /**
   * A time before which every matching transition has been delivered on this stream (or lies
   * before its start): resuming with `since` = watermark misses nothing, and repeats at most
   * the transitions of the last poll window (see `marginMs`).
   */
  watermark: Date;
  /** The watermark as an opaque resume cursor (see `decodeWatchCursor`). */
  cursor: string;
}

export interface FleetWatchDeps {
  store: WorkflowStore;
  bus: EventBus;
  clock: Clock;
  /** The engine's shared schedule of periodic polls (fleet-poller.ts). */
  poller: FleetPoller;
  /**
   * How far before the previous poll the next one looks again: covers commits that were in
   * flight (their time is taken before they commit) and clock skew between replicas.
   */
  marginMs: number;
}

/** History rows read at a time when a gap is filled. */
const HISTORY_PAGE = 200;
/** Messages waiting while the consumer is busy; past this they are dropped and the store is polled. */
const MAX_INBOX = 10_000;

interface Tracked {
  /** The next version to deliver. */
  next: number;
  machineId: string;
  machineVersion: number;
  /** Commit time of its final transition, once it finished (then it can be forgotten). */
  finishedAt?: number;
}

/**
 * The transitions of every workflow matching `query`, live, on any replica: for each workflow,
 * every version committed at or after the start (`since`, or now) exactly once and in version
 * order; nothing is ordered across workflows.
 *
 * Live transitions come from the bus firehose, subscribed before anything is read. A message
 * that is the next version of its workflow and carries its entry is delivered as it is; a gap, a
 * message without its entry or a workflow first seen mid-history is filled from the history by
 * version. The store is also polled for workflows with history rows since the previous poll
 * minus `marginMs`: at once by the stream itself (which replays `since`), then on the engine's
 * shared schedule (fleet-poller.ts: every few seconds, every second while the bus is down, and
 * when it goes down or comes back), which covers lost messages and a Redis outage. Per-workflow
 * progress is kept in memory; finished workflows are forgotten once no poll can see them again.
 */
export async function* watchWorkflows(deps: FleetWatchDeps, query: FleetWatchQuery, signal: AbortSignal): AsyncGenerator<FleetWatchItem, void, undefined> {
  signal.throwIfAborted();
  const start = query.since ?? deps.clock.now();
  const startMs = start.getTime();
  const statuses = query.statuses?.length ? new Set(query.statuses) : undefined;
  const tracked = new Map<string, Tracked>();
  const wakeup = new Wakeup(signal);
  let inbox: TransitionMessage[] = [];
  let overflow = false;
  let pollNow = true;
  /** The stream runs a poll of its own (its first, or after an overflow). */
  let polling = false;
  /** A shared poll's result not yet gone through; its error when the poll failed. */
  let shared: FleetPollResult | undefined;
  let failed: { error: unknown } | undefined;
  /** Transitions at or after this are looked for by the next poll. */
  let pollFrom = startMs;
  let watermark = startMs;
  let delivered = false;

  const unsubscribe = await deps.bus.subscribeAll((message) => {
    if (query.machineId !== undefined && message.machineId !== query.machineId) return;
    if (inbox.length >= MAX_INBOX) {
      inbox = [];
      overflow = true;
    }
    inbox.push(message);
    wakeup.wake();
  });
  const leave = deps.poller.add({
    machineId: query.machineId,
    from: () => (shared || failed || polling || pollNow || overflow ? undefined : pollFrom),
    deliver: (result) => {
      shared = result;
      wakeup.wake();
    },
    fail: (error) => {
      failed = { error };
      wakeup.wake();
    },
  });

  /** Delivers versions of one workflow from `from` on, read from the history. */
  async function* fill(workflowId: string, from: number, machine: { machineId: string; machineVersion: number }): AsyncGenerator<FleetWatchItem> {
    let track = tracked.get(workflowId);
    if (!track) {
      track = { next: from, ...machine };
      tracked.set(workflowId, track);
    }
    for (;;) {
      const page = await deps.store.listHistory(workflowId, track.next, HISTORY_PAGE);
      for (const row of page) {
        if (row.version < track.next) continue;
        yield* emit(track, toHistoryEntry(row));
      }
      if (page.length < HISTORY_PAGE) return;
    }
  }

  function* emit(track: Tracked, entry: HistoryEntry): Generator<FleetWatchItem> {
    track.next = entry.version + 1;
    if (FINAL_STATUSES.has(entry.status)) track.finishedAt = entry.at.getTime();
    if (statuses && !statuses.has(entry.status)) return;
    delivered = true;
    yield { entry, machineId: track.machineId, machineVersion: track.machineVersion, ...at(watermark) };
  }

  /** The first version of an unseen workflow at or after the start; undefined when it has none. */
  async function firstSinceStart(workflowId: string): Promise<number | undefined> {
    const [changed] = await deps.store.listChangedSince({ since: start, workflowId, limit: 1 });
    return changed?.firstVersion;
  }

  async function* onMessage(message: TransitionMessage): AsyncGenerator<FleetWatchItem> {
    const machine = { machineId: message.machineId, machineVersion: message.machineVersion };
    const track = tracked.get(message.workflowId);
    if (track) {
      if (message.version < track.next) return; // delivered already
      const entry = message.version === track.next ? entryOfMessage(message) : undefined;
      if (entry) yield* emit(track, entry);
      else yield* fill(message.workflowId, track.next, machine);
      return;
    }
    // Unseen, and older than what polls still look at: a poll has delivered it (or it is before the start).
    if (Date.parse(message.at) < pollFrom) return;
    const entry = entryOfMessage(message);
    const firstInRange = message.version === 1 || (message.previousAt !== undefined && Date.parse(message.previousAt) < startMs);
    if (firstInRange && entry) {
      const fresh: Tracked = { next: message.version, ...machine };
      tracked.set(message.workflowId, fresh);
      yield* emit(fresh, entry);
      return;
    }
    const from = firstInRange ? message.version : await firstSinceStart(message.workflowId);
    if (from !== undefined) yield* fill(message.workflowId, from, machine);
  }

  /** Fills what `changed` (one poll's rows) shows this stream has not delivered. */
  async function* visit(changed: ChangedWorkflow[]): AsyncGenerator<FleetWatchItem> {
    for (const row of changed) {
      const track = tracked.get(row.workflowId);
      const machine = { machineId: row.machineId, machineVersion: row.machineVersion };
      // Unseen: its first version in this window is its first since the start (an earlier poll would have seen an earlier one).
      if (!track) yield* fill(row.workflowId, row.firstVersion, machine);
      else if (row.lastVersion >= track.next) yield* fill(row.workflowId, track.next, machine);
    }
  }

  /** After a poll that began at `pollStart`: the next window, the watermark, a heartbeat if quiet. */
  function* polled(pollStart: number): Generator<FleetWatchItem> {
    pollFrom = Math.max(pollFrom, pollStart - deps.marginMs);
    watermark = Math.max(watermark, pollFrom);
    // Finished workflows no poll can see again: a late message for one is older than pollFrom.
    for (const [id, track] of tracked) if (track.finishedAt !== undefined && track.finishedAt < pollFrom) tracked.delete(id);
    // A quiet stream still hears that it is alive and how far it got.
    if (!delivered) yield at(watermark);
    delivered = false;
  }

  /** A poll of the stream's own, page by page (a replay from `since` may be long). */
  async function* poll(): AsyncGenerator<FleetWatchItem> {
    const pollStart = deps.clock.now().getTime();
    for await (const page of changedSince(deps.store, pollFrom, query.machineId)) yield* visit(page);
    yield* polled(pollStart);
  }

  try {
    for (;;) {
      signal.throwIfAborted();
      if (failed) throw failed.error;
      if (pollNow || overflow) {
        pollNow = false;
        overflow = false;
        inbox = [];
        polling = true;
        try {
          yield* poll();
        } finally {
          polling = false;
        }
        continue;
      }
      if (shared) {
        const result = shared;
        shared = undefined;
        // Read for a window this stream has since polled itself (from a later start): nothing new.
        if (result.from !== pollFrom) continue;
        yield* visit(result.changed);
        yield* polled(result.start);
        continue;
      }
      if (inbox.length) {
        const batch = inbox;
        inbox = [];
        for (const message of batch) yield* onMessage(message);
        continue;
      }
      await wakeup.wait();
    }
  } catch (error) {
    throw storeFailure(error);
  } finally {
    wakeup.close();
    leave();
    await unsubscribe();
  }
}

const CURSOR_QUERY = 'watch-workflows';

function at(watermark: number): Pick<FleetWatchItem, 'watermark' | 'cursor'> {
  return { watermark: new Date(watermark), cursor: encodeWatchCursor(new Date(watermark)) };
}

/** The opaque resume cursor of a watermark. */
function encodeWatchCursor(watermark: Date): string {
  return encodePageToken({ t: watermark.getTime() }, CURSOR_QUERY);
}

/** The watermark of a cursor; `invalid_argument` for anything this service did not issue. */
export function decodeWatchCursor(cursor: string): Date {
  const { t } = decodePageToken<{ t: number }>(cursor, CURSOR_QUERY, { t: 'number' }, 'cursor');
  if (!Number.isSafeInteger(t) || t < 0) throw new InvalidInputError('cursor is not a token this service issued', [{ field: 'cursor', description: 'bad time' }]);
  return new Date(t);
}
