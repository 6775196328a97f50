import type { Clock } from './clock.js';
import type { ChangedWorkflow, WorkflowStore } from './ports/workflow-store.js';
import { PollSchedule, type PollScheduleDeps } from './poll-schedule.js';

/** Rows of one `listChangedSince` page. */
export const CHANGED_PAGE = 200;

/** What one poll found for a stream: every workflow with history rows in [from, start]. */
export interface FleetPollResult {
  /** The stream's window start the rows were read for. */
  from: number;
  /** When the poll began (taken before the query): the window's end. */
  start: number;
  changed: ChangedWorkflow[];
}

/** One WatchWorkflows stream, as the poller sees it. */
export interface FleetPollMember {
  readonly machineId: string | undefined;
  /** Where the stream's next poll starts; undefined while it cannot take one (it has one pending, or polls itself). */
  from(): number | undefined;
  deliver(result: FleetPollResult): void;
  /** A poll for it failed: the stream ends with the error, as its own poll's failure would end it. */
  fail(error: unknown): void;
}

/** When it polls: PollScheduleDeps. */
export interface FleetPollerDeps extends PollScheduleDeps {
  store: Pick<WorkflowStore, 'listChangedSince'>;
  clock: Clock;
  /** A failed poll (its streams were failed with the error). */
  onError(error: unknown): void;
}

/**
 * The periodic polls of every WatchWorkflows stream of one engine, on one schedule. A stream
 * polls the store for workflows with history since its previous poll (minus a margin) to find
 * transitions whose bus messages were lost; polled one by one, N dashboards made N queries an
 * interval, each reading every history row of the window. Here streams whose next window starts
 * at the same moment and filter the same machine share one query (all its pages), and after
 * one shared poll every stream older than the margin has the same window start: one query an
 * interval per machine filter in use. Exact windows, not one wide window for all: a stream's
 * first version of a workflow it has not seen must be the first in its own window.
 *
 * Polls run on a PollSchedule: every `pollIntervalMs` whether or not messages arrive (a stream
 * that waited for a quiet interval never polled on a busy bus, so a lost message went unnoticed
 * and its watermark stood still), every second while the bus is down, and at once when the bus
 * goes down or comes back. A stream's first poll (its replay) and the one after its inbox
 * overflowed are its own (fleet-watch.ts).
 */
export class FleetPoller {
  readonly #schedule: PollSchedule<FleetPollMember>;

  constructor(private readonly deps: FleetPollerDeps) {
    this.#schedule = new PollSchedule(deps, (streams) => this.#poll(streams));
  }

  /** Adds a stream to the schedule; returns the function that removes it. */
  add(member: FleetPollMember): () => void {
    return this.#schedule.add(member);
  }

  async #poll(streams: ReadonlySet<FleetPollMember>): Promise<void> {
    const start = this.deps.clock.now().getTime();
    const groups = new Map<string, { from: number; machineId: string | undefined; members: FleetPollMember[] }>();
    for (const member of streams) {
      const from = member.from();
      if (from === undefined) continue;
      const key = member.machineId === undefined ? `${from}` : `${from}:${member.machineId}`;
      const group = groups.get(key);
      if (group) group.members.push(member);
      else groups.set(key, { from, machineId: member.machineId, members: [member] });
    }
    // After a failure the rest are failed with it, not queried: the database is unreachable.
    let failure: { error: unknown } | undefined;
    for (const { from, machineId, members } of groups.values()) {
      try {
        if (failure) throw failure.error;
        const changed = await listChanged(this.deps.store, from, machineId);
        for (const member of members) if (streams.has(member)) member.deliver({ from, start, changed });
      } catch (error) {
        failure ??= { error };
        for (const member of members) if (streams.has(member)) member.fail(error);
      }
    }
    if (failure) this.deps.onError(failure.error);
  }
}

/** Every workflow with history rows at or after `from` (of one machine, if given), page by page. */
export async function* changedSince(store: FleetPollerDeps['store'], from: number, machineId: string | undefined): AsyncGenerator<ChangedWorkflow[]> {
  let afterId: string | undefined;
  for (;;) {
    const page = await store.listChangedSince({ since: new Date(from), limit: CHANGED_PAGE, ...(machineId !== undefined ? { machineId } : {}), ...(afterId !== undefined ? { afterId } : {}) });
    yield page;
    if (page.length < CHANGED_PAGE) return;
    afterId = page.at(-1)!.workflowId;
  }
}

async function listChanged(store: FleetPollerDeps['store'], from: number, machineId: string | undefined): Promise<ChangedWorkflow[]> {
  const all: ChangedWorkflow[] = [];
  for await (const page of changedSince(store, from, machineId)) all.push(...page);
  return all;
}
