import { ExponentialBackoff, halfJitterGenerator } from 'cockatiel';
import type { IBackoff, IBackoffFactory, IRetryBackoffContext } from 'cockatiel';
import { ToolError } from '../tool-error.js';

type Context = IRetryBackoffContext<unknown>;

/**
 * Exponential backoff with equal jitter (the n-th retry waits between d/2 and d, d =
 * initial * 2^(n-1) capped at max) that never waits less than a `Retry-After` the failure
 * carried: a server that says "not before 3 s" is not called earlier.
 */
export function retryAfterBackoff(initialMs: number, maxMs: number): IBackoffFactory<Context> {
  const exponential = new ExponentialBackoff({ initialDelay: initialMs, maxDelay: maxMs, generator: halfJitterGenerator });
  const wrap = (inner: IBackoff<unknown>, context: Context): IBackoff<Context> => ({
    duration: Math.max(inner.duration, retryAfterOf(context)),
    next: (nextContext: Context) => wrap(inner.next(nextContext), nextContext),
  });
  return { next: (context: Context) => wrap(exponential.next(), context) };
}

function retryAfterOf(context: Context): number {
  const error = 'error' in context.result ? context.result.error : undefined;
  return error instanceof ToolError && error.retryAfterMs !== undefined ? error.retryAfterMs : 0;
}
