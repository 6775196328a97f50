import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assign, cancel, fromPromise, raise, sendTo, setup, spawnChild, transition } from 'xstate';
import type { AnyMachineSnapshot, AnyStateMachine } from 'xstate';
import { planEffects, type ExecutableAction } from '../../src/engine/effect-plan.js';
import { tool } from '../../src/engine/machine-kit.js';
import { initialStep, nextStep, pureTransition, restoreSnapshot, statePaths } from '../../src/engine/machine-runtime.js';
import type { JsonObject } from '../../src/engine/json.js';

const machine = setup({
  types: {} as { context: { n: number; wait: number }; input: { wait: number } },
  actors: { 'x.call': tool<{ n: number }, { n: number }>() },
  delays: { wait: ({ context }) => context.wait },
}).createMachine({
  id: 'rt',
  context: ({ input }) => ({ n: 0, wait: input?.wait ?? 10 }),
  initial: 'busy',
  states: {
    busy: {
      invoke: { id: 'caller', src: 'x.call', input: ({ context }) => ({ n: context.n }), onDone: { target: 'idle', actions: assign({ n: ({ event }) => event.output.n }) }, onError: 'idle' },
      after: { wait: 'idle' },
      on: { again: { target: 'busy', reenter: true }, remind: { actions: raise({ type: 'ping' }, { id: 'reminder', delay: 50 }) }, forget: { actions: cancel('reminder') } },
    },
    idle: {
      entry: raise({ type: 'settle' }),
      on: { settle: { actions: assign({ n: ({ context }) => context.n + 1000 }) }, go: 'busy', self: { actions: sendTo(({ self }) => self, { type: 'go' }, { delay: 5 }) } },
    },
  },
});

const ev = (type: string, extra: JsonObject = {}) => ({ type, ...extra });

describe('machine runtime (pure transitions)', () => {
  it('turns the initial invoke and after into a task and a timer, executing nothing', () => {
    const step = initialStep(machine, { wait: 7 }, 1);
    assert.equal(step.status, 'active');
    assert.deepEqual(step.effects.tasksSpawned, [{ actorId: 'caller', src: 'x.call', input: { n: 0 } }]);
    assert.deepEqual(step.effects.timersArmed, [{ timerId: 'xstate.after.wait.rt.busy', event: { type: 'xstate.after.wait.rt.busy' }, delayMs: 7 }]);
    assert.deepEqual(step.effects.tasksCancelled, []);
  });

  it('cancels the task and the timer when the state is left, and applies a raise without delay in the same step', () => {
    const start = initialStep(machine, { wait: 7 }, 1);
    const step = nextStep(machine, start.snapshot, ev('xstate.done.actor.caller', { output: { n: 5 }, actorId: 'caller' }), 2);
    assert.equal(step.snapshot.value, 'idle');
    assert.equal((step.snapshot.context as { n: number }).n, 1005, 'the raised settle event ran in the same macrostep');
    assert.deepEqual(step.effects.tasksCancelled, ['caller']);
    assert.deepEqual(step.effects.timersCancelled, ['xstate.after.wait.rt.busy']);
    assert.deepEqual(step.effects.timersArmed, []);
  });

  it('re-entering a state cancels and re-creates its task and re-arms its timer', () => {
    const start = initialStep(machine, { wait: 7 }, 1);
    const step = nextStep(machine, start.snapshot, ev('again'), 2);
    assert.deepEqual(step.effects.tasksCancelled, ['caller']);
    assert.deepEqual(step.effects.tasksSpawned.map((t) => t.actorId), ['caller']);
    assert.deepEqual(step.effects.timersArmed.map((t) => t.timerId), ['xstate.after.wait.rt.busy']);
  });

  it('makes delayed raises and delayed sends to itself timers, and cancel drops them', () => {
    const start = initialStep(machine, { wait: 7 }, 1);
    const remind = nextStep(machine, start.snapshot, ev('remind'), 2);
    assert.deepEqual(remind.effects.timersArmed, [{ timerId: 'reminder', event: { type: 'ping' }, delayMs: 50 }]);
    const forget = nextStep(machine, remind.snapshot, ev('forget'), 3);
    assert.deepEqual(forget.effects.timersCancelled, ['reminder']);
    const idle = nextStep(machine, start.snapshot, ev('xstate.error.actor.caller', { error: { message: 'x' } }), 2);
    const self = nextStep(machine, idle.snapshot, ev('self'), 3);
    assert.deepEqual(self.effects.timersArmed, [{ timerId: 'send.3.0', event: { type: 'go' }, delayMs: 5 }]);
  });

  it('round-trips a snapshot through JSON and continues identically', () => {
    const start = initialStep(machine, { wait: 7 }, 1);
    const restored = restoreSnapshot(machine, JSON.parse(JSON.stringify(start.persisted)) as JsonObject);
    assert.deepEqual(restored.value, start.snapshot.value);
    assert.deepEqual(Object.keys(restored.children), ['caller'], 'children come back, so a later stopChild names the task');
    const a = nextStep(machine, start.snapshot, ev('xstate.done.actor.caller', { output: { n: 1 } }), 2);
    const b = nextStep(machine, restored, ev('xstate.done.actor.caller', { output: { n: 1 } }), 2);
    assert.deepEqual(b.persisted, a.persisted);
    assert.deepEqual(b.effects, a.effects);
  });

  it("computes what xstate's transition() computes, step by step", () => {
    const events = [ev('remind'), ev('again'), ev('forget'), ev('xstate.done.actor.caller', { output: { n: 3 }, actorId: 'caller' }), ev('self'), ev('go'), ev('nothing'), ev('xstate.error.actor.caller', { error: 'x' }), ev('settle')];
    sameAsXstate(machine, initialStep(machine, { wait: 7 }, 1).snapshot, events);
  });

  it('keeps each call to itself: a child with a system id can be invoked in every call', () => {
    const once = setup({ actors: { work: fromPromise(async () => 1) } }).createMachine({
      initial: 'a',
      states: {
        a: { on: { go: 'b' } },
        b: { invoke: { id: 'worker', src: 'work', systemId: 'the-worker' }, entry: spawnChild('work', { id: 'spawned', systemId: 'spawned' }), on: { back: 'a' } },
      },
    });
    const start = initialStep(once, {}, 1).snapshot;
    for (let i = 0; i < 3; i++) sameAsXstate(once, start, [ev('go')]);
  });

  it('lists every active state path', () => {
    assert.deepEqual(statePaths('a'), ['a']);
    assert.deepEqual(statePaths({ p: { x: 'y', z: { q: 'r' } } }), ['p', 'p.x', 'p.x.y', 'p.z', 'p.z.q', 'p.z.q.r']);
  });
});

/** Feeds `events` from `snapshot` through pureTransition and xstate's transition(): same snapshots and effects at every step. */
function sameAsXstate(machine: AnyStateMachine, snapshot: AnyMachineSnapshot, events: { type: string }[]): void {
  let ours = snapshot;
  let theirs = snapshot;
  events.forEach((event, i) => {
    const [a, aActions] = pureTransition(machine, ours, event);
    const [b, bActions] = transition(machine, theirs, event as never);
    assert.deepEqual(machine.getPersistedSnapshot(a), machine.getPersistedSnapshot(b), `snapshot after ${event.type}`);
    assert.deepEqual(planEffects(aActions, i + 2), planEffects(bActions as ExecutableAction[], i + 2), `effects of ${event.type}`);
    assert.deepEqual(aActions.map((action) => action.type), bActions.map((action) => action.type));
    ours = a;
    theirs = b;
  });
}
