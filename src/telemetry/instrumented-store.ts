import type { WorkflowStore } from '../engine/ports/workflow-store.js';
import type { Metrics } from './metrics.js';
import { inSpan, SpanKind } from './tracing.js';

/** Store writes that commit a transition: each gets a client span (the rest are reads and leases). */
const COMMITS: ReadonlySet<string> = new Set(['insertWorkflow', 'commitTransition', 'commitLocked']);

/**
 * The store with telemetry: every method's rejection counts in
 * `orchestrator_store_errors_total{operation=<method>}`, and commits run in a span. A Proxy, so
 * methods added to the port later are counted too without a change here. Results pass through
 * unchanged; `this` inside the store stays the store (private fields work).
 */
export function instrumentStore<S extends WorkflowStore>(store: S, metrics: Metrics): S {
  // Every operation's series exists from the start, at 0, so an error rate reads 0 and not "no data".
  for (const operation of methodNames(store)) metrics.storeErrors.inc({ operation }, 0);
  return new Proxy(store, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || typeof property !== 'string' || property === 'constructor') return value;
      const method = value as (...args: unknown[]) => unknown;
      const operation = property;
      return (...args: unknown[]) => {
        const call = () => countFailure(method.apply(target, args), () => metrics.storeErrors.inc({ operation }));
        if (!COMMITS.has(operation)) return call();
        return inSpan(`orchestrator.store.${operation}`, { kind: SpanKind.CLIENT, attributes: { 'db.system': 'postgresql', 'db.operation': operation } }, async () => call());
      };
    },
  });
}

/** `result` unchanged; `onFailure` runs when it is a promise that rejects. */
function countFailure(result: unknown, onFailure: () => void): unknown {
  if (result instanceof Promise) {
    return result.catch((error: unknown) => {
      onFailure();
      throw error;
    });
  }
  return result;
}

/** The methods of a class instance (its prototype's functions, constructor excluded). */
function methodNames(object: object): string[] {
  const prototype = Object.getPrototypeOf(object) as object;
  return Object.getOwnPropertyNames(prototype).filter((name) => name !== 'constructor' && typeof Reflect.get(prototype, name) === 'function');
}
