import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import { codeOf } from './rpc-call.js';

type Next = Parameters<Interceptor>[0];
type AnyRequest = Parameters<Next>[0];
type AnyResponse = Awaited<ReturnType<Next>>;

/**
 * Calls `next(req)` and tells `end` once how the call ended: a unary call when it answers or
 * throws, a server stream when it ends (see `observeStream`). `end` gets undefined for ok, else
 * the code the client receives. For interceptors that measure or trace whole calls.
 */
export async function observeCall(next: Next, req: AnyRequest, end: (code: Code | undefined, error?: unknown) => void, around: <R>(step: () => R) => R = (step) => step()): Promise<AnyResponse> {
  // Once the call's signal aborted (client gone, deadline, shutdown), whatever the handler does
  // next (ends, throws an AbortError) is because of that: report the abort's code.
  const settled = (code: Code | undefined, error?: unknown) => end(req.signal.aborted ? abortCode(req.signal.reason) : code, error);
  let res: AnyResponse;
  try {
    res = await around(() => next(req));
  } catch (error) {
    settled(codeOf(error), error);
    throw error;
  }
  if (!res.stream) {
    // Answered: ok even if the client has gone meanwhile (the work is done). Not asking the signal
    // also spares the unary fast paths creating one (unary-call.ts).
    end(undefined);
    return res;
  }
  return { ...res, message: observeStream(res.message, settled, around) };
}

/** The code of an abort reason: its own when it is a ConnectError (deadline, shutdown), else `canceled`. */
function abortCode(reason: unknown): Code {
  return reason instanceof ConnectError ? reason.code : Code.Canceled;
}

/**
 * Passes a server stream through and calls `end` once, however it ends: completed (ok), failed
 * (its code), or closed by the consumer (`canceled`), also when closed before the first message,
 * which a generator's `finally` would not see. `around` wraps each step of the inner stream (e.g.
 * to run it in a trace context: a handler's generator runs in the context of whoever pulls it).
 */
export function observeStream<T>(messages: AsyncIterable<T>, end: (code: Code | undefined, error?: unknown) => void, around: <R>(step: () => R) => R = (step) => step()): AsyncIterable<T> {
  let ended = false;
  const finish = (code: Code | undefined, error?: unknown) => {
    if (ended) return;
    ended = true;
    end(code, error);
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
            finish(codeOf(error), error);
            throw error;
          }
        },
        async return(value?: unknown) {
          finish(Code.Canceled);
          return (await inner.return?.(value)) ?? { done: true, value: undefined };
        },
        async throw(error?: unknown) {
          finish(codeOf(error), error);
          if (inner.throw) return inner.throw(error);
          throw error;
        },
      };
    },
  };
}
