import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { commitsBetween, gcBetween, queriesBetween } from '../bench/server-meter.js';
import type { Sample } from './helpers/prometheus-text.js';

const scrape = (batches: number, transitions: number, seconds: number): Sample[] => [
  { name: 'orchestrator_commit_batch_size_count', labels: {}, value: batches },
  { name: 'orchestrator_commit_batch_size_sum', labels: {}, value: transitions },
  { name: 'orchestrator_commit_duration_seconds_count', labels: {}, value: batches },
  { name: 'orchestrator_commit_duration_seconds_sum', labels: {}, value: seconds },
  { name: 'orchestrator_commit_duration_seconds_bucket', labels: { le: '+Inf' }, value: batches },
];

describe('the bench server meter', () => {
  it('gives the group commits between two scrapes: their number, mean size and mean time', () => {
    // 100 batches of 800 transitions in 0.125 s after the warm-up's 10 of 10 in 0.5 s.
    assert.deepEqual(commitsBetween(scrape(10, 10, 0.5), scrape(110, 810, 0.625)), { batches: 100, meanBatch: 8, meanMs: 1.25 });
  });

  it('gives nothing for a server without the duration histogram (an older build) or without commits', () => {
    const sizesOnly = (n: number) => scrape(n, n, 0).filter((s) => !s.name.startsWith('orchestrator_commit_duration'));
    assert.equal(commitsBetween(sizesOnly(1), sizesOnly(5)), undefined);
    assert.equal(commitsBetween(scrape(7, 9, 0.1), scrape(7, 9, 0.1)), undefined);
  });

  it('gives the garbage-collection pauses between two scrapes, every kind summed', () => {
    const gc = (minor: number, major: number): Sample[] => [
      { name: 'orchestrator_nodejs_gc_duration_seconds_sum', labels: { kind: 'minor' }, value: minor },
      { name: 'orchestrator_nodejs_gc_duration_seconds_sum', labels: { kind: 'major' }, value: major },
      { name: 'orchestrator_nodejs_gc_duration_seconds_count', labels: { kind: 'minor' }, value: 1000 },
    ];
    assert.equal(Math.round((gcBetween(gc(1.5, 0.25), gc(2, 0.5)) ?? NaN) * 1000), 750);
    assert.equal(gcBetween([], []), undefined, 'a server without the histogram tells nothing (the table shows -, not 0)');
  });

  it('gives the queries the server ran between two scrapes, from its pool checkouts', () => {
    const checkouts = (n: number): Sample[] => [
      { name: 'orchestrator_store_pool_wait_seconds_count', labels: {}, value: n },
      { name: 'orchestrator_store_pool_wait_seconds_sum', labels: {}, value: n / 1000 },
    ];
    assert.equal(queriesBetween(checkouts(120), checkouts(150)), 30);
    assert.equal(queriesBetween([], []), undefined, 'a server without the histogram tells nothing');
  });
});
