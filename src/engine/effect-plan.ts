import { MachineDefinitionError } from './errors.js';
import type { JsonObject, JsonValue } from './json.js';

/** A timer to arm: fires `event` after `delayMs`, unless cancelled (by id) first. */
export interface TimerArm {
  timerId: string;
  event: JsonObject;
  delayMs: number;
}

/** A tool call to run as a durable task; its result returns as `xstate.done|error.actor.<actorId>`. */
export interface TaskSpawn {
  actorId: string;
  src: string;
  input: JsonValue;
}

/**
 * The effects one transition asks for, as data to commit with it. Applied in this order:
 * delete `timersCancelled`, replace-or-insert `timersArmed`, cancel the open tasks of
 * `tasksCancelled` (actor ids), insert `tasksSpawned`.
 */
export interface EffectPlan {
  timersCancelled: string[];
  timersArmed: TimerArm[];
  tasksCancelled: string[];
  tasksSpawned: TaskSpawn[];
}

export const NO_EFFECTS: EffectPlan = Object.freeze({ timersCancelled: [], timersArmed: [], tasksCancelled: [], tasksSpawned: [] }) as EffectPlan;

/** What xstate's `transition()` returns per action: its type, resolved params and call info. */
export interface ExecutableAction {
  type: string;
  params?: unknown;
  info: { self?: unknown };
}

/**
 * Turns the actions xstate's pure `transition()` returned into an effect plan. Only the
 * built-in actions that reach outside the snapshot matter:
 * - `xstate.spawnChild {id, src, input}`: a task; `xstate.stopChild {id}`: cancel it;
 * - `xstate.raise` / `xstate.sendTo` (to itself) with a delay: a timer with the action's id
 *   (`xstate.after.<delay>.<stateId>` for `after`); `xstate.cancel {sendId}`: drop it.
 * A raise without a delay was already processed inside the same macrostep; `assign` is in
 * the snapshot; custom actions cannot run here (machines do no I/O) and are ignored.
 * Later actions win over earlier ones for the same timer id or actor id, as they would in a
 * running actor (exit-then-entry re-arms a timer; spawn-then-stop spawns nothing).
 *
 * `version` is the instance version being committed, to name timers whose action has no id.
 */
export function planEffects(actions: readonly ExecutableAction[], version: number): EffectPlan {
  const timers = new Map<string, TimerArm | null>();
  const stopped = new Set<string>();
  const spawned = new Map<string, TaskSpawn>();
  actions.forEach((action, index) => {
    const params = action.params as Record<string, unknown> | undefined;
    switch (action.type) {
      case 'xstate.spawnChild': {
        const id = params?.id;
        const src = params?.src;
        if (typeof id !== 'string' || typeof src !== 'string') {
          throw new MachineDefinitionError(`every spawned or invoked tool needs an explicit string id and a named src (got id ${String(id)})`);
        }
        spawned.set(id, { actorId: id, src, input: (params?.input ?? null) as JsonValue });
        break;
      }
      case 'xstate.stopChild': {
        const id = (params as { id?: unknown } | undefined)?.id;
        if (typeof id !== 'string') break; // the child was never known: nothing to cancel
        if (spawned.delete(id)) break; // spawned and stopped in one step: no task at all
        stopped.add(id);
        break;
      }
      case 'xstate.raise':
      case 'xstate.sendTo': {
        if (action.type === 'xstate.sendTo' && params?.to !== action.info.self) {
          throw new MachineDefinitionError('sendTo another actor is not supported: workflows are flat; send events to other workflows through a tool');
        }
        const delay = params?.delay;
        if (action.type === 'xstate.raise' && typeof delay !== 'number') break; // already applied in this macrostep
        const timerId = typeof params?.id === 'string' ? params.id : `send.${version}.${index}`;
        timers.set(timerId, { timerId, event: params?.event as JsonObject, delayMs: Math.max(0, typeof delay === 'number' ? delay : 0) });
        break;
      }
      case 'xstate.cancel': {
        const sendId = params?.sendId;
        if (typeof sendId === 'string') timers.set(sendId, null);
        break;
      }
      default:
        break;
    }
  });
  if (!timers.size && !stopped.size && !spawned.size) return NO_EFFECTS;
  return {
    // An armed timer replaces a row of the same id, so it is cancelled first as well.
    timersCancelled: [...timers.keys()],
    timersArmed: [...timers.values()].filter((t): t is TimerArm => t !== null),
    tasksCancelled: [...stopped],
    tasksSpawned: [...spawned.values()],
  };
}
