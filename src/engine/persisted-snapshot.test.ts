import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assign, createMachine, fromPromise, initialTransition, setup, spawnChild, transition } from 'xstate';
import type { AnyMachineSnapshot, AnyStateMachine } from 'xstate';
import { machines as benchMachines } from '../../bench/bench-counter-machine.js';
import { shippedMachines } from '../../machines/index.js';
import { tool } from './machine-kit.js';
import { persistSnapshot } from './persisted-snapshot.js';

/** Ours and xstate's give the same JSON text (so the same keys in the same order) and the same values. */
function sameAsXstate(machine: AnyStateMachine, snapshot: AnyMachineSnapshot, what: string): void {
  const ours = persistSnapshot(snapshot);
  const theirs = machine.getPersistedSnapshot(snapshot) as unknown;
  assert.equal(JSON.stringify(ours), JSON.stringify(theirs), `${what}: the same JSON`);
  assert.deepEqual(ours, theirs, `${what}: the same values`);
}

/** Every snapshot from the initial one through `events`, each compared. */
function walk(machine: AnyStateMachine, input: unknown, events: { type: string; [key: string]: unknown }[]): AnyMachineSnapshot {
  let [snapshot] = initialTransition(machine, input as never);
  sameAsXstate(machine, snapshot, `${machine.id} initial`);
  for (const event of events) {
    [snapshot] = transition(machine, snapshot, event as never);
    sameAsXstate(machine, snapshot, `${machine.id} after ${event.type}`);
  }
  return snapshot;
}

describe('persistSnapshot', () => {
  it("gives xstate's JSON for every shipped machine and the benchmark's, from their initial state", () => {
    for (const definition of [...shippedMachines, ...benchMachines]) {
      const [snapshot] = initialTransition(definition.machine, {} as never);
      sameAsXstate(definition.machine, snapshot, definition.id);
    }
  });

  it('persists invoked children (tasks) and drops them when their state is left', () => {
    const machine = setup({ actors: { 'x.call': tool<{ n: number }, { n: number }>() } }).createMachine({
      id: 'children',
      initial: 'busy',
      context: { n: 1 },
      states: {
        busy: { invoke: [{ id: 'a', src: 'x.call', input: { n: 1 } }, { id: 'b', src: 'x.call', input: { n: 2 }, systemId: 'the-b' }], on: { stop: 'idle' } },
        idle: { on: { go: 'busy' } },
      },
    });
    const [start] = initialTransition(machine);
    assert.deepEqual(Object.keys(persistSnapshot(start).children as object), ['a', 'b'], 'both children are persisted');
    const stopped = walk(machine, undefined, [{ type: 'stop' }]);
    assert.deepEqual(persistSnapshot(stopped).children, {}, 'no child once their state is left');
    walk(machine, undefined, [{ type: 'stop' }, { type: 'go' }]);
  });

  it('keeps the history value of history states', () => {
    const machine = createMachine({
      id: 'history',
      initial: 'on',
      states: {
        on: { initial: 'low', states: { low: { on: { up: 'high' } }, high: {}, memo: { type: 'history', history: 'deep' } }, on: { off: 'off' } },
        off: { on: { back: 'on.memo' } },
      },
    });
    const end = walk(machine, undefined, [{ type: 'up' }, { type: 'off' }, { type: 'back' }]);
    assert.deepEqual(end.value, { on: 'high' }, 'the history state brought the machine back to high');
    assert.notDeepEqual(persistSnapshot(walk(machine, undefined, [{ type: 'up' }, { type: 'off' }])).historyValue, {}, 'a history value to persist');
  });

  it('replaces actor references in context, at any depth, and leaves the rest of the context as it is', () => {
    const machine = setup({
      types: {} as { context: { plain: { deep: number[] }; refs: unknown[]; nested: { ref?: unknown } } },
      actors: { work: fromPromise(async () => 1) },
    }).createMachine({
      id: 'refs',
      context: { plain: { deep: [1, 2] }, refs: [], nested: {} },
      on: {
        spawn: { actions: assign({ refs: ({ spawn }) => [spawn('work', { id: 'w1' })], nested: ({ spawn }) => ({ ref: spawn('work', { id: 'w2' }) }) }) },
      },
    });
    const [start] = initialTransition(machine);
    assert.equal(persistSnapshot(start).context, start.context, 'a context without references is kept as it is');
    const end = walk(machine, undefined, [{ type: 'spawn' }]);
    assert.deepEqual((persistSnapshot(end).context as { refs: unknown[] }).refs, [{ xstate$$type: 1, id: 'w1' }]);
  });

  it('keeps spawned children, and the output and error of done and failed machines', () => {
    const machine = setup({ actors: { work: fromPromise(async () => 1), 'x.call': tool<object, object>() } }).createMachine({
      id: 'ends',
      initial: 'a',
      states: {
        a: {
          entry: spawnChild('work', { id: 'spawned' }),
          // No onError: the task's failure fails the machine.
          invoke: { id: 'caller', src: 'x.call', input: {} },
          on: { finish: 'done' },
        },
        done: { type: 'final' },
      },
      output: { result: 42 },
    });
    const done = walk(machine, undefined, [{ type: 'finish' }]);
    assert.equal(done.status, 'done', 'the machine finished');
    const failed = walk(machine, undefined, [{ type: 'xstate.error.actor.caller', error: new Error('boom') }]);
    assert.equal(failed.status, 'error', 'the machine failed');
  });

  it('persists an inline child as xstate does outside its development build (its logic as {})', () => {
    const machine = createMachine({ id: 'inline', entry: spawnChild(fromPromise(async () => 1), { id: 'inline' }) });
    const [snapshot] = initialTransition(machine);
    sameAsXstate(machine, snapshot, 'inline child');
  });
});
