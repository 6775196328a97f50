import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PollSchedule } from './poll-schedule.js';
import { statusBus } from './test-support/status-bus.js';
import { waitUntil } from './test-support/wait-until.js';

/** A poll that counts its runs and how many ran at once, taking `ms` each. */
function countingPoll(ms: number) {
  const state = { runs: 0, running: 0, mostAtOnce: 0 };
  const poll = async () => {
    state.runs++;
    state.running++;
    state.mostAtOnce = Math.max(state.mostAtOnce, state.running);
    await sleep(ms);
    state.running--;
  };
  return { state, poll };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('PollSchedule', () => {
  it('polls every interval while it has members, one poll at a time, given the live set, and not after the last left', async () => {
    const { state, poll } = countingPoll(30);
    const seen: number[][] = [];
    const schedule = new PollSchedule<string>({ bus: statusBus(), pollIntervalMs: 10 }, (members) => {
      seen.push([members.size]);
      return poll();
    });
    assert.equal(state.runs, 0, 'nothing before a member');
    const removeA = schedule.add('a');
    const removeB = schedule.add('b');
    await waitUntil(() => state.runs >= 2, 'two polls');
    removeA();
    const afterA = state.runs;
    await waitUntil(() => state.runs >= afterA + 2, 'polls go on while a member is left');
    assert.deepEqual(seen.at(-1), [1], 'the poll sees the members of the moment');
    removeB();
    await sleep(40);
    const runs = state.runs;
    await sleep(100);
    assert.equal(state.runs, runs, 'no polls after stop');
    assert.equal(state.mostAtOnce, 1, 'never two at once');
  });

  it('polls at once when the bus goes down or comes back, every second while it is down, and stops following the bus', async () => {
    const bus = statusBus();
    const { state, poll } = countingPoll(0);
    const schedule = new PollSchedule({ bus, pollIntervalMs: 60_000 }, poll);
    const remove = schedule.add(1);
    assert.equal(bus.listeners(), 1, 'follows the bus while it has members');
    await sleep(30);
    assert.equal(state.runs, 0, 'the first poll waits an interval');
    bus.set(false);
    await waitUntil(() => state.runs === 1, 'a poll when the bus went down');
    await waitUntil(() => state.runs === 2, 'a poll a second later', 3_000);
    bus.set(true);
    await waitUntil(() => state.runs === 3, 'a poll when the bus came back');
    remove();
    assert.equal(bus.listeners(), 0, 'stops following the bus');
  });

  it('runs once more right after a poll that a status change interrupted', async () => {
    const bus = statusBus();
    const { state, poll } = countingPoll(50);
    const schedule = new PollSchedule({ bus, pollIntervalMs: 60_000 }, poll);
    const remove = schedule.add(1);
    bus.set(false);
    await waitUntil(() => state.running === 1, 'the first poll under way');
    bus.set(true);
    bus.set(false);
    await waitUntil(() => state.runs === 2, 'one more poll after it');
    await sleep(120);
    remove();
    assert.equal(state.mostAtOnce, 1, 'never two at once');
    // The next scheduled poll is a second away (the bus is down): only the one more has run.
    assert.equal(state.runs, 2, 'the two changes during the poll made one more poll, not two');
  });
});
