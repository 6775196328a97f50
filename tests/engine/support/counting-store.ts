import type { WorkflowStore } from '../../../src/engine/ports/workflow-store.js';

/** `store`, calling `onCall(method, args)` before each call of one of its methods. */
export function countingStore(store: WorkflowStore, onCall: (method: string, args: unknown[]) => void): WorkflowStore {
  return new Proxy(store, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        onCall(String(key), args);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}
