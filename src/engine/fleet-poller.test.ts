import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { systemClock } from './clock.js';
import { CHANGED_PAGE, FleetPoller, type FleetPollMember, type FleetPollResult } from './fleet-poller.js';
import type { ChangedWorkflow } from './ports/workflow-store.js';
import { statusBus } from './test-support/status-bus.js';
import { waitUntil } from './test-support/wait-until.js';

type Query = { since: Date; machineId?: string; afterId?: string; limit: number };

/** A store answering `listChangedSince` from `rows` (by id order), recording each query. */
function fakeStore(rows: ChangedWorkflow[] = []) {
  const queries: Query[] = [];
  let failures = 0;
  return {
    queries,
    fail: (times: number) => (failures = times),
    listChangedSince: async (query: Query) => {
      queries.push(query);
      if (failures > 0) {
        failures--;
        throw new Error('connection terminated');
      }
      return rows.filter((r) => (query.machineId === undefined || r.machineId === query.machineId) && (query.afterId === undefined || r.workflowId > query.afterId)).slice(0, query.limit);
    },
  };
}

/** A stream at window start `from` that takes every result (and stays ready for the next). */
function member(from: number | undefined, machineId?: string) {
  const results: FleetPollResult[] = [];
  const errors: unknown[] = [];
  const m: FleetPollMember = { machineId, from: () => from, deliver: (r) => results.push(r), fail: (e) => errors.push(e) };
  return { m, results, errors };
}

const row = (workflowId: string, machineId = 'm'): ChangedWorkflow => ({ workflowId, machineId, machineVersion: 1, firstVersion: 1, lastVersion: 2 });
const noErrors = (error: unknown) => assert.fail(`poll failed: ${String(error)}`);

describe('FleetPoller', () => {
  it('makes one query for the streams with the same window start and machine, one per other pair, none for a busy stream', async () => {
    const store = fakeStore([row('a'), row('b', 'other')]);
    const poller = new FleetPoller({ store, bus: statusBus(), clock: systemClock, pollIntervalMs: 20, onError: noErrors });
    const all = [member(1_000), member(1_000), member(1_000)];
    const ofM = [member(1_000, 'm'), member(1_000, 'm')];
    const later = member(2_000);
    const busy = member(undefined);
    const stops = [...all, ...ofM, later, busy].map((x) => poller.add(x.m));
    await waitUntil(() => later.results.length >= 1, 'a poll');
    for (const stop of stops) stop();
    const first = store.queries.slice(0, 3).map((q) => [q.since.getTime(), q.machineId ?? '*']);
    assert.deepEqual(first.sort(), [[1_000, '*'], [1_000, 'm'], [2_000, '*']], 'three queries: one per (window start, machine)');
    assert.deepEqual(all[0]!.results[0]!.changed.map((r) => r.workflowId), ['a', 'b']);
    assert.equal(all[1]!.results[0]!.changed, all[0]!.results[0]!.changed, 'the same rows, read once');
    assert.deepEqual(ofM[1]!.results[0]!.changed.map((r) => r.workflowId), ['a']);
    assert.equal(all[0]!.results[0]!.from, 1_000);
    assert.ok(all[0]!.results[0]!.start <= Date.now(), 'the window ends when the poll began');
    assert.equal(busy.results.length, 0, 'a stream without a window start is left out');
    const polls = store.queries.length;
    await new Promise((resolve) => setTimeout(resolve, 80));
    assert.equal(store.queries.length, polls, 'no polls without streams');
  });

  it('reads every page of a window', async () => {
    const rows = Array.from({ length: CHANGED_PAGE * 2 + 5 }, (_, i) => row(`w${String(i).padStart(4, '0')}`));
    const store = fakeStore(rows);
    const poller = new FleetPoller({ store, bus: statusBus(), clock: systemClock, pollIntervalMs: 10, onError: noErrors });
    const one = member(0);
    const stop = poller.add(one.m);
    await waitUntil(() => one.results.length >= 1, 'a poll');
    stop();
    assert.equal(one.results[0]!.changed.length, rows.length);
    assert.deepEqual(store.queries.slice(0, 3).map((q) => q.afterId), [undefined, 'w0199', 'w0399']);
  });

  it('fails every stream of a failed poll without querying for the rest, and polls on', async () => {
    const store = fakeStore([row('a')]);
    /** Queries made when each failure was logged. */
    const logged: number[] = [];
    const poller = new FleetPoller({ store, bus: statusBus(), clock: systemClock, pollIntervalMs: 20, onError: () => logged.push(store.queries.length) });
    store.fail(1);
    const streams = [member(1), member(2), member(3, 'm')];
    const stops = streams.map((s) => poller.add(s.m));
    await waitUntil(() => streams.every((s) => s.results.length >= 1), 'a poll after the failed one');
    for (const stop of stops) stop();
    assert.ok(streams.every((s) => s.errors.length === 1 && String(s.errors[0]).includes('connection terminated')), 'each stream failed once');
    assert.deepEqual(logged, [1], 'logged once, after the failed poll\'s one query');
    assert.ok(store.queries.length >= 4, 'then a poll with a query for each window start');
  });
});
