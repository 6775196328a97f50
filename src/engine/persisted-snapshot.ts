import type { AnyActorRef, AnyMachineSnapshot } from 'xstate';
import type { JsonObject } from './json.js';

/**
 * What the store keeps of a machine snapshot: the JSON xstate's `machine.getPersistedSnapshot`
 * gives (status, output, error, value, history, context with actor references as `{ xstate$$type,
 * id }`, each child's own persisted snapshot), built field by field.
 *
 * xstate builds it by spreading the snapshot's remaining fields into a literal and adding three
 * more, and V8 let objects made that way survive its young-generation collections: in a loop of
 * nothing but that call, 15-20 MB of them outlived each scavenge and went to the old generation
 * (the same fields in one literal: none), and through the engine each scavenge promoted ~2.3 MB
 * (bench/JOURNAL.md, Session 28). persisted-snapshot.test.ts checks that both give the same
 * JSON, key order included, on machines with children, history states, spawned actors in
 * context and errors.
 */
export function persistSnapshot(snapshot: AnyMachineSnapshot): JsonObject {
  const children: Record<string, unknown> = {};
  for (const [id, child] of Object.entries(snapshot.children as Record<string, AnyActorRef>)) {
    children[id] = {
      snapshot: child.getPersistedSnapshot(),
      src: child.src,
      // Fields of xstate's Actor that its ActorRef type leaves out.
      systemId: (child as unknown as { systemId?: string }).systemId,
      syncSnapshot: (child as unknown as { _syncSnapshot?: boolean })._syncSnapshot,
    };
  }
  return {
    status: snapshot.status,
    output: snapshot.output,
    error: snapshot.error,
    value: snapshot.value,
    historyValue: historyJson(snapshot.historyValue),
    context: contextJson(snapshot.context),
    children,
  } as JsonObject;
}

/** xstate's marker of a persisted actor reference (its `$$ACTOR_TYPE`). */
const ACTOR_TYPE = 1;

/** The context with every actor reference in it, at any depth, replaced by its marker; the same object when there is none. */
function contextJson(part: unknown): unknown {
  if (typeof part !== 'object' || part === null) return part;
  let copy: Record<string, unknown> | unknown[] | undefined;
  for (const key in part) {
    const value = (part as Record<string, unknown>)[key];
    if (!value || typeof value !== 'object') continue;
    const persisted = isActorRef(value) ? { xstate$$type: ACTOR_TYPE, id: (value as { id: string }).id } : contextJson(value);
    if (persisted === value) continue;
    copy ??= Array.isArray(part) ? part.slice() : { ...(part as Record<string, unknown>) };
    (copy as Record<string, unknown>)[key] = persisted;
  }
  return copy ?? part;
}

function isActorRef(value: object): boolean {
  return 'sessionId' in value && 'send' in value && 'ref' in value;
}

/** The history value with each remembered state node as `{ id }`. */
function historyJson(history: unknown): Record<string, { id: string }[]> {
  const result: Record<string, { id: string }[]> = {};
  if (typeof history !== 'object' || history === null) return result;
  for (const key in history) {
    const nodes = (history as Record<string, unknown>)[key];
    if (Array.isArray(nodes)) result[key] = nodes.map((node: { id: string }) => ({ id: node.id }));
  }
  return result;
}
