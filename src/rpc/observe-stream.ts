import { Code } from '@connectrpc/connect';
import { codeOf } from './rpc-call.js';

/**
 * Passes a server stream through and calls `end` once, however it ends: completed (ok), failed
 * (its code), or closed by the consumer (`canceled`), also when closed before the first message,
 * which a generator's `finally` would not see. `around` wraps each step of the inner stream (e.g.
 * to run it in a trace context: a handler's generator runs in the context of whoever pulls it).
 */
export function observeStream<T>(messages: AsyncIterable<T>, end: (code: Code | undefined) => void, around: <R>(step: () => R) => R = (step) => step()): AsyncIterable<T> {
  let ended = false;
  const finish = (code: Code | undefined) => {
    if (ended) return;
    ended = true;
    end(code);
  };
  return {
    [Symbol.asyncIterator](): AsyncIterator<T> {
      const inner = messages[Symbol.asyncIterator]();
      return {
        async next() {
          try {
            const result = await around(() => inner.next());
            if (result.done) finish(undefined);
            return result;
          } catch (error) {
            finish(codeOf(error));
            throw error;
          }
        },
        async return(value?: unknown) {
          finish(Code.Canceled);
          return (await inner.return?.(value)) ?? { done: true, value: undefined };
        },
        async throw(error?: unknown) {
          finish(codeOf(error));
          if (inner.throw) return inner.throw(error);
          throw error;
        },
      };
    },
  };
}
