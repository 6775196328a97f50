import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WatchPoller } from './watch-poller.js';
import { statusBus } from './test-support/status-bus.js';
import { waitUntil } from './test-support/wait-until.js';

/** A store of workflow versions that records each query's ids. */
function fakeStore(versions: Map<string, number>) {
  const queries: string[][] = [];
  let failNext = false;
  return {
    queries,
    failOnce: () => (failNext = true),
    workflowVersions: async (ids: string[]) => {
      queries.push(ids);
      if (failNext) {
        failNext = false;
        throw new Error('connection terminated');
      }
      return new Map(ids.filter((id) => versions.has(id)).map((id) => [id, versions.get(id)!]));
    },
  };
}

/** Callbacks that count stale calls into `onStale` and must not be failed. */
const staleOnly = (onStale: () => void) => ({ stale: onStale, fail: (error: unknown) => assert.fail(`failed: ${String(error)}`) });

describe('WatchPoller', () => {
  it('tells only the watchers whose workflow moved past what they yielded, or is gone, in one query a poll', async () => {
    const store = fakeStore(new Map([['a', 3], ['b', 5], ['c', 7]]));
    const poller = new WatchPoller({ store, bus: statusBus(), pollIntervalMs: 20, onError: (error) => assert.fail(String(error)) });
    const stale: string[] = [];
    const stops = [
      poller.add('a', () => 4, staleOnly(() => stale.push('a: up to date'))),
      poller.add('b', () => 5, staleOnly(() => stale.push('b: version 5 not yielded'))),
      poller.add('b', () => 6, staleOnly(() => stale.push('b: second watcher up to date'))),
      poller.add('gone', () => 1, staleOnly(() => stale.push('gone: deleted'))),
    ];
    await waitUntil(() => store.queries.length >= 2, 'two polls');
    for (const stop of stops) stop();
    assert.deepEqual(store.queries[0]!.sort(), ['a', 'b', 'gone'], 'one query, each workflow once');
    assert.deepEqual([...new Set(stale)].sort(), ['b: version 5 not yielded', 'gone: deleted']);
    const polls = store.queries.length;
    await new Promise((resolve) => setTimeout(resolve, 80));
    assert.equal(store.queries.length, polls, 'no polls without watchers');
  });

  it('asks for at most 1,000 ids a query', async () => {
    const store = fakeStore(new Map());
    const poller = new WatchPoller({ store, bus: statusBus(), pollIntervalMs: 10, onError: (error) => assert.fail(String(error)) });
    let stale = 0;
    const stops = Array.from({ length: 2_500 }, (_, i) => poller.add(`w${i}`, () => 1, staleOnly(() => stale++)));
    await waitUntil(() => store.queries.length >= 3, 'a whole poll');
    for (const stop of stops) stop();
    assert.deepEqual(store.queries.slice(0, 3).map((q) => q.length), [1_000, 1_000, 500]);
    assert.ok(stale >= 2_500, `every watcher of a missing workflow was told (${stale})`);
  });

  it('fails its watchers when a poll fails, polls on for the others, every second at most while the bus is down', async () => {
    const store = fakeStore(new Map([['a', 2]]));
    const errors: unknown[] = [];
    const poller = new WatchPoller({ store, bus: statusBus(false), pollIntervalMs: 60_000, onError: (error) => errors.push(error) });
    store.failOnce();
    const failed: unknown[] = [];
    const started = Date.now();
    const stopFailed = poller.add('a', () => 2, { stale: () => assert.fail('stale after failing'), fail: (error) => failed.push(error) });
    await waitUntil(() => failed.length > 0, 'the failed poll');
    stopFailed(); // as a watcher does when its stream ends
    let stale = 0;
    const stop = poller.add('a', () => 2, staleOnly(() => stale++));
    await waitUntil(() => stale > 0, 'the poll after the failed one');
    stop();
    assert.equal(errors.length, 1, 'the failure was reported');
    assert.match(String(failed[0]), /connection terminated/);
    assert.ok(Date.now() - started < 4_000, `a 60 s interval became ~1 s while the bus is down (${Date.now() - started} ms)`);
  });
});
