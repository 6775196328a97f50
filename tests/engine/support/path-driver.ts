import assert from 'node:assert/strict';
import { adjacencyMapToArray, getAdjacencyMap, getShortestPaths, serializeSnapshot } from 'xstate/graph';
import { getNextTransitions } from 'xstate';
import type { AnyMachineSnapshot, AnyStateMachine, EventObject } from 'xstate';
import { sql } from 'kysely';
import type { JsonObject } from '../../../src/engine/json.js';
import type { Harness } from './engine-harness.js';
import { untilEntry } from './wait.js';

/**
 * Engine options for walking paths: tasks start at commit (no claim poll needed), timers are
 * made due by the driver and found by a poll; slower polls leave the one PGlite session free.
 */
export const PATH_OPTIONS = { taskPollIntervalMs: 1_000, timerPollIntervalMs: 50, watchPollIntervalMs: 1_000 };

export interface PathStep {
  event: EventObject & Record<string, unknown>;
  state: AnyMachineSnapshot;
}

export interface GraphOptions {
  input: Record<string, unknown>;
  /** Event payload variants (tool outputs and errors included); event types without one are sent as `{ type }`. */
  events: (state: AnyMachineSnapshot) => (EventObject & Record<string, unknown>)[];
  /** Leaves out events, e.g. to bound a counter that would make the graph infinite. */
  filterEvents?: (state: AnyMachineSnapshot, event: EventObject) => boolean;
}

/**
 * Every transition of the machine's graph as a path: the shortest path to its source state
 * plus the transition. Transitions that differ only in context (a counter, which branch set
 * a flag) are walked once, by the shortest path: the control flow is what the engine must
 * reproduce, and the context is compared at every step anyway. Events xstate raises by itself
 * (`xstate.done.state.*`) are not inputs, and a finished instance takes none.
 */
export function everyTransition(machine: AnyStateMachine, options: GraphOptions): { name: string; steps: PathStep[]; accepted: boolean }[] {
  // The events each state has a transition for (after and done.actor included), with payloads.
  const events = (state: AnyMachineSnapshot) => {
    if (state.status !== 'active') return [];
    const types = new Set(getNextTransitions(state).map((t) => t.eventType));
    return [...types]
      .filter((type) => type && type !== '*' && !type.startsWith('xstate.done.state.'))
      .flatMap((type) => {
        const variants = options.events(state).filter((e) => e.type === type);
        return variants.length ? variants : [{ type }];
      });
  };
  const traversal = { input: options.input, events, ...(options.filterEvents ? { filterEvents: options.filterEvents } : {}) } as never;
  const shortest = new Map(getShortestPaths(machine, traversal).map((p) => [serializeSnapshot(p.state as AnyMachineSnapshot), p.steps as unknown as PathStep[]]));
  const byFlow = new Map<string, { name: string; steps: PathStep[]; accepted: boolean }>();
  for (const { state, event, nextState } of adjacencyMapToArray(getAdjacencyMap(machine, traversal))) {
    const from = state as AnyMachineSnapshot;
    const to = nextState as AnyMachineSnapshot;
    const prefix = shortest.get(serializeSnapshot(from));
    assert.ok(prefix, 'every state in the adjacency map has a shortest path');
    const e = event as PathStep['event'];
    const name = `${JSON.stringify(from.value)} --${JSON.stringify(e)}--> ${JSON.stringify(to.value)}`;
    const path = { name, steps: [...prefix, { event: e, state: to }], accepted: from.can(e as never) };
    const known = byFlow.get(name);
    if (!known || known.steps.length > path.steps.length) byFlow.set(name, path);
  }
  return [...byFlow.values()];
}

/**
 * Drives one path through the real engine: starts the instance with `input`, then for each
 * step delivers its event the way production does: client events through sendEvent, tool
 * results by finishing the task's call, timers by making the armed timer row due now (so the
 * poller fires it). After every step the engine's state, context and status must equal the
 * pure graph's. When `lastAccepted` is false, the last event must be refused instead.
 */
export async function drivePath(h: Harness, machineId: string, input: Record<string, unknown>, steps: PathStep[], lastAccepted = true): Promise<void> {
  const { engine } = h;
  const wf = await engine.startWorkflow({ machineId, input: input as JsonObject });
  try {
    assert.deepEqual(wf.state, steps[0]!.state.value);
    assert.deepEqual(wf.context, steps[0]!.state.context);
    for (let i = 1; i < steps.length; i++) {
      const { event, state } = steps[i]!;
      const version = wf.version + i;
      const isLast = i === steps.length - 1;
      if (isLast && !lastAccepted) {
        const { type, ...payload } = event;
        await assert.rejects(engine.sendEvent({ workflowId: wf.id, event: { type, payload: payload as never } }), { code: 'failed_precondition' });
        return;
      }
      await deliver(h, wf.id, event);
      const entry = await untilEntry(engine, wf.id, (e) => e.version === version, 5_000, version);
      const where = `step ${i} (${event.type})`;
      assert.equal(entry.eventType, event.type, where);
      assert.deepEqual(entry.toState, state.value, where);
      assert.deepEqual(entry.context, state.context, where);
      assert.equal(entry.status, state.status === 'done' ? 'done' : 'active', where);
      if (state.status === 'done') assert.deepEqual((await engine.getWorkflow(wf.id)).output, state.output, where);
    }
  } finally {
    const view = await engine.getWorkflow(wf.id);
    if (view.status === 'active') await engine.cancelWorkflow({ workflowId: wf.id, reason: 'path done' });
  }
}

async function deliver(h: Harness, workflowId: string, event: PathStep['event']): Promise<void> {
  const { type, ...payload } = event;
  const actor = /^xstate\.(done|error)\.actor\.(.+)$/.exec(type);
  if (actor) {
    const call = await h.tools.nextFor(workflowId, actor[2]!);
    if (actor[1] === 'done') call.resolve(event.output);
    else call.reject(Object.assign(new Error((event.error as { message: string }).message), event.error as object));
    return;
  }
  if (type.startsWith('xstate.after.')) {
    const { numUpdatedRows } = await h.db.db
      .updateTable('workflow_timers')
      .set({ due_at: sql<Date>`now() - interval '1 second'` })
      .where('workflow_id', '=', workflowId)
      .where('timer_id', '=', type)
      .executeTakeFirst();
    assert.equal(Number(numUpdatedRows), 1, `timer ${type} is armed`);
    return;
  }
  await h.engine.sendEvent({ workflowId, event: { type, payload: payload as never } });
}

/** Runs `work` over `items`, `concurrency` at a time. */
export async function inPool<T>(items: T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < items.length) await work(items[next++]!);
  }));
}
