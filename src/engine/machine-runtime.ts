import { createActor, fromTransition, initialTransition } from 'xstate';
import type { AnyActorRef, AnyActorScope, AnyMachineSnapshot, AnyStateMachine } from 'xstate';
import { planEffects } from './effect-plan.js';
import type { EffectPlan, ExecutableAction } from './effect-plan.js';
import { InvalidInputError } from './errors.js';
import { persistSnapshot } from './persisted-snapshot.js';
import type { JsonObject, JsonValue } from './json.js';
import type { WorkflowStatus } from './workflow-types.js';

/** The outcome of one macrostep, ready to commit. */
export interface MachineStep {
  /** The live snapshot, for the cache. */
  snapshot: AnyMachineSnapshot;
  /** What the store keeps (persisted-snapshot.ts: xstate's `getPersistedSnapshot()`). */
  persisted: JsonObject;
  effects: EffectPlan;
  status: WorkflowStatus;
  output?: JsonValue;
  error?: JsonValue;
}

/**
 * The initial macrostep for `input`, computed with xstate's pure `initialTransition()`:
 * nothing is executed. A context factory that throws yields `status: 'error'`.
 */
export function initialStep(machine: AnyStateMachine, input: JsonObject, version: number): MachineStep {
  const [snapshot, actions] = initialTransition(machine, input);
  return toStep(snapshot, actions as ExecutableAction[], version);
}

/** The macrostep `event` causes from `snapshot`, computed purely (see `pureTransition`). */
export function nextStep(machine: AnyStateMachine, snapshot: AnyMachineSnapshot, event: JsonObject & { type: string }, version: number): MachineStep {
  const [next, actions] = pureTransition(machine, snapshot, event);
  return toStep(next, actions, version);
}

/** Logic for the inert scope's `self`: creating an actor of it computes a trivial initial snapshot. */
const inertSelf = fromTransition((state: null) => state, null);

/**
 * The inert `self` of `pureTransition`, shared by its calls while its system stays empty. A
 * fresh actor per call cost a system (two Maps, a WeakMap, a Set), the actor's own Map and Set
 * and a dozen closures a transition, and in the server V8 promoted most of them
 * (bench/JOURNAL.md, Session 29).
 */
let sharedSelf: AnyActorRef | undefined;

/**
 * xstate's pure `transition()`: the machine's own `transition` in an inert scope that collects
 * the actions instead of executing them. xstate's scope makes `self` an actor of the machine,
 * whose constructor computes the machine's initial state (context factory, initial entry) on
 * every call: twice the cost of the transition itself when 10,000 timers fire. Here `self` is an
 * actor of trivial logic, never started. Calls share it while nothing stays registered in its
 * system: children are never started here, so only one created with a `systemId` registers,
 * and the next call then gets a fresh actor and system, as xstate's scope does for every call
 * (children invoked in one call never meet another's). tests/engine/machine-runtime.test.ts
 * checks it against xstate's `transition()`.
 */
export function pureTransition(machine: AnyStateMachine, snapshot: AnyMachineSnapshot, event: { type: string }): [AnyMachineSnapshot, ExecutableAction[]] {
  const self = (sharedSelf ??= createActor(inertSelf));
  const actions: ExecutableAction[] = [];
  const scope: AnyActorScope = {
    self,
    id: '',
    sessionId: '',
    system: self.system,
    logger: () => {},
    defer: () => {},
    emit: () => {},
    stopChild: () => {},
    actionExecutor: (action) => void actions.push(action as ExecutableAction),
  };
  try {
    return [machine.transition(snapshot, event as never, scope) as AnyMachineSnapshot, actions];
  } finally {
    if (Object.keys(self.system.getAll()).length > 0) sharedSelf = undefined;
  }
}

/**
 * Whether the current state has a transition for `event`, guards evaluated against it.
 * A guard that throws on the event's payload makes the event invalid, not an engine fault.
 */
export function canAccept(snapshot: AnyMachineSnapshot, event: JsonObject & { type: string }): boolean {
  try {
    return snapshot.can(event as never);
  } catch (error) {
    throw new InvalidInputError(`event '${event.type}' was rejected by a guard: ${(error as Error).message}`, [
      { field: 'event.payload', description: (error as Error).message },
    ]);
  }
}

/**
 * A live snapshot from its persisted JSON. Uses `createActor(machine, { snapshot })` without
 * starting it: xstate's documented restore path, which rebuilds child references (so a later
 * `stopChild` names the task to cancel) and runs nothing.
 */
export function restoreSnapshot(machine: AnyStateMachine, persisted: JsonObject): AnyMachineSnapshot {
  return createActor(machine, { snapshot: persisted as never }).getSnapshot() as AnyMachineSnapshot;
}

function toStep(snapshot: AnyMachineSnapshot, actions: ExecutableAction[], version: number): MachineStep {
  const persisted = persistSnapshot(snapshot);
  const status: WorkflowStatus = snapshot.status === 'done' ? 'done' : snapshot.status === 'error' ? 'error' : 'active';
  const step: MachineStep = { snapshot, persisted, effects: planEffects(actions, version), status };
  if (status === 'done') step.output = (snapshot.output ?? null) as JsonValue;
  if (status === 'error') {
    // An Error in the snapshot would become {} in the store: keep its name and message.
    step.error = errorJson(snapshot.error);
    persisted.error = step.error;
  }
  return step;
}

/**
 * A thrown value as JSON: Errors keep name and message (and a string code), plus the fields of
 * their `toJSON()` when it gives an object (structured tool errors: tool, kind, attempts, status).
 */
export function errorJson(error: unknown): JsonValue {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { name: error.name, message: error.message, ...(typeof code === 'string' ? { code } : {}), ...ownJson(error) };
  }
  try {
    return JSON.parse(JSON.stringify(error ?? null)) as JsonValue;
  } catch {
    return { message: String(error) };
  }
}

function ownJson(error: Error): Record<string, JsonValue> {
  const toJSON = (error as { toJSON?: unknown }).toJSON;
  if (typeof toJSON !== 'function') return {};
  try {
    const value: unknown = JSON.parse(JSON.stringify(toJSON.call(error)));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, JsonValue>) : {};
  } catch {
    return {};
  }
}

/** Every active state path of a state value, ancestors included: `{a: {b: 'c'}}` -> a, a.b, a.b.c. */
export function statePaths(value: unknown, prefix = ''): string[] {
  if (typeof value === 'string') return [prefix + value];
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value as Record<string, unknown>).flatMap(([key, sub]) => [prefix + key, ...statePaths(sub, `${prefix}${key}.`)]);
}
