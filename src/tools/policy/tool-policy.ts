import {
  CircuitState,
  ConsecutiveBreaker,
  SamplingBreaker,
  TimeoutStrategy,
  bulkhead,
  circuitBreaker,
  handleWhen,
  isBrokenCircuitError,
  isBulkheadRejectedError,
  retry,
  timeout,
} from 'cockatiel';
import type { BulkheadPolicy, CircuitBreakerPolicy, RetryPolicy, TimeoutPolicy } from 'cockatiel';
import { ToolError, toToolError } from '../tool-error.js';
import { retryAfterBackoff } from './retry-after-backoff.js';
import type { ToolAttempt } from '../../engine/ports/tool-invoker.js';
import type { ToolPolicyOptions } from './tool-policy-options.js';

export type BreakerState = 'closed' | 'open' | 'half_open' | 'isolated';

/** A tool's protection right now: for Info/Health details and metrics. */
export interface ToolPolicyState {
  tool: string;
  breaker: BreakerState;
  /** Calls running / waiting in the bulkhead. */
  active: number;
  queued: number;
  maxConcurrent: number;
  maxQueue: number;
}

/**
 * What the policy reports as it works, for logs and metrics. `attempt` events come once per
 * adapter call with its outcome (the material of a call journal), and once for a call refused
 * before the adapter ran (`refused: true`, kind `circuit_open` or `bulkhead_full`).
 */
export type ToolPolicyEvent =
  | { type: 'attempt'; tool: string; idempotencyKey: string; attempt: number; startedAt: Date; endedAt: Date; ok: boolean; refused?: boolean; errorKind?: string; status?: number }
  | { type: 'retry'; tool: string; attempt: number; delayMs: number; errorKind?: string }
  | { type: 'give_up'; tool: string; errorKind?: string }
  | { type: 'breaker'; tool: string; state: BreakerState }
  | { type: 'bulkhead_rejected'; tool: string }
  | { type: 'timeout'; tool: string; scope: 'attempt' | 'total' }
  /** Once per `execute`, however it ended (retries and backoff included in `seconds`). */
  | { type: 'call'; tool: string; ok: boolean; errorKind?: string; seconds: number };

/** One attempt of a call: run the adapter, honouring `signal` (aborted on timeout or cancel). */
export type AttemptFn<T> = (signal: AbortSignal, attempt: number) => Promise<T>;

const STATES: Record<CircuitState, BreakerState> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half_open',
  [CircuitState.Isolated]: 'isolated',
};

/**
 * The cockatiel policies of one tool, composed outer to inner: bulkhead -> total timeout ->
 * retry (retryable `ToolError`s only, bounded, backoff honouring Retry-After) -> circuit breaker
 * (counts timeouts, network errors, 5xx) -> per-attempt timeout. Build one per tool per
 * process: the breaker and bulkhead only work when shared by all calls of the tool.
 *
 * `execute` resolves with the adapter's value or rejects with a `ToolError` naming the tool and
 * the attempts made: `circuit_open` and `bulkhead_full` without running, `timeout` when an
 * attempt or the total ran out, `cancelled` when the caller's signal aborted, else the last
 * attempt's error. Timeouts are aggressive: the call returns at the deadline even if the
 * adapter ignores its signal (the signal is aborted all the same).
 */
export class ToolPolicy {
  readonly #bulkhead: BulkheadPolicy;
  readonly #total: TimeoutPolicy;
  readonly #retry: RetryPolicy;
  readonly #breaker: CircuitBreakerPolicy;
  readonly #attempt: TimeoutPolicy;

  constructor(
    readonly tool: string,
    readonly options: ToolPolicyOptions,
    private readonly onEvent: (event: ToolPolicyEvent) => void = () => {},
  ) {
    this.#bulkhead = bulkhead(options.maxConcurrent, options.maxQueue);
    this.#total = timeout(options.totalTimeoutMs, TimeoutStrategy.Aggressive);
    const retryable = (e: Error) => e instanceof ToolError && e.retryable && (e.retryAfterMs ?? 0) <= options.maxRetryAfterMs;
    this.#retry = retry(handleWhen(retryable), { maxAttempts: options.maxRetries, backoff: retryAfterBackoff(options.backoffInitialMs, options.backoffMaxMs) });
    const breaker = options.breaker === 'consecutive'
      ? new ConsecutiveBreaker(options.breakerThreshold)
      : new SamplingBreaker({ threshold: options.breakerThreshold, duration: options.breakerSamplingMs, minimumRps: options.breakerMinimumRps });
    this.#breaker = circuitBreaker(handleWhen((e) => e instanceof ToolError && e.countsForBreaker), { halfOpenAfter: options.breakerHalfOpenMs, breaker });
    this.#attempt = timeout(options.attemptTimeoutMs, TimeoutStrategy.Aggressive);

    this.#bulkhead.onReject(() => this.onEvent({ type: 'bulkhead_rejected', tool }));
    this.#retry.onRetry((r) => this.onEvent({ type: 'retry', tool, attempt: r.attempt, delayMs: r.delay, ...kindOf(r) }));
    this.#retry.onGiveUp((r) => this.onEvent({ type: 'give_up', tool, ...kindOf(r) }));
    this.#breaker.onStateChange((state) => this.onEvent({ type: 'breaker', tool, state: STATES[state] }));
  }

  /** Breaker state and bulkhead occupancy now. */
  state(): ToolPolicyState {
    return {
      tool: this.tool,
      breaker: STATES[this.#breaker.state],
      active: this.options.maxConcurrent - this.#bulkhead.executionSlots,
      queued: this.options.maxQueue - this.#bulkhead.queueSlots,
      maxConcurrent: this.options.maxConcurrent,
      maxQueue: this.options.maxQueue,
    };
  }

  /** `onAttempt` hears of every adapter call as it ends (for the call journal). */
  async execute<T>(fn: AttemptFn<T>, signal: AbortSignal, idempotencyKey = '', onAttempt?: (attempt: ToolAttempt) => void): Promise<T> {
    let attempts = 0;
    const tool = this.tool;
    const report = (attempt: ToolAttempt) => {
      this.onEvent({ type: 'attempt', tool, idempotencyKey, ...attempt });
      try {
        onAttempt?.(attempt);
      } catch {
        // A journal hook must not change the call's outcome.
      }
    };
    const attemptOnce = async (parent: AbortSignal): Promise<T> => {
      const startedAt = new Date();
      const number = ++attempts;
      try {
        const value = await this.#attempt.execute((_, attemptSignal) => fn(attemptSignal, number), parent);
        report({ attempt: number, startedAt, endedAt: new Date(), ok: true });
        return value;
      } catch (raw) {
        let error: ToolError;
        if (signal.aborted) error = new ToolError('cancelled', 'the call was aborted', { cause: raw });
        // The parent signal without the caller's: the total timeout cut this attempt short.
        else if (parent.aborted) error = new ToolError('timeout', `attempt ${number} was cut off by the total timeout of ${this.options.totalTimeoutMs} ms`, { cause: raw });
        else if (isTaskCancelledError(raw)) {
          this.onEvent({ type: 'timeout', tool, scope: 'attempt' });
          error = new ToolError('timeout', `attempt ${number} timed out after ${this.options.attemptTimeoutMs} ms`, { cause: raw });
        } else error = toToolError(raw);
        report({ attempt: number, startedAt, endedAt: new Date(), ok: false, errorKind: error.kind, ...(error.status === undefined ? {} : { status: error.status }) });
        throw error;
      }
    };
    const started = performance.now();
    const ended = (ok: boolean, errorKind?: string) => this.onEvent({ type: 'call', tool, ok, ...(errorKind ? { errorKind } : {}), seconds: (performance.now() - started) / 1000 });
    try {
      const value = await this.#bulkhead.execute(
        ({ signal: s1 }) =>
          this.#total.execute(
            (_, s2) => this.#retry.execute(({ signal: s3 }) => this.#breaker.execute(({ signal: s4 }) => attemptOnce(s4), s3), s2),
            s1,
          ),
        signal,
      );
      ended(true);
      return value;
    } catch (raw) {
      const error = this.#final(raw, signal, attempts);
      ended(false, error.kind);
      // Refused before the adapter ran: still one line in the journal, so the refusal is visible.
      if (error.kind === 'circuit_open' || error.kind === 'bulkhead_full') {
        const at = new Date();
        report({ attempt: attempts + 1, startedAt: at, endedAt: at, ok: false, refused: true, errorKind: error.kind });
      }
      throw error;
    }
  }

  #final(raw: unknown, signal: AbortSignal, attempts: number): ToolError {
    const tool = this.tool;
    if (raw instanceof ToolError) return raw.with({ tool, attempts });
    if (signal.aborted) return new ToolError('cancelled', 'the call was aborted', { tool, attempts, cause: raw });
    if (isBulkheadRejectedError(raw)) {
      return new ToolError('bulkhead_full', `tool '${tool}' is at its limit of ${this.options.maxConcurrent} running and ${this.options.maxQueue} queued calls`, { tool, attempts, retryable: false, cause: raw });
    }
    if (isBrokenCircuitError(raw)) {
      return new ToolError('circuit_open', `the circuit breaker of tool '${tool}' is open; failing fast`, { tool, attempts, retryable: false, cause: raw });
    }
    if (isTaskCancelledError(raw)) {
      this.onEvent({ type: 'timeout', tool, scope: 'total' });
      return new ToolError('timeout', `the call timed out after ${this.options.totalTimeoutMs} ms in total (${attempts} attempt(s))`, { tool, attempts, retryable: false, cause: raw });
    }
    return toToolError(raw).with({ tool, attempts });
  }
}

/**
 * cockatiel 3.2.1's own `isTaskCancelledError` tests for the bulkhead's marker property, so it
 * is false for real timeouts; check the timeout's marker ourselves.
 */
function isTaskCancelledError(error: unknown): boolean {
  return error instanceof Error && 'isTaskCancelledError' in error;
}

function kindOf(reason: { error: Error } | { value: unknown }): { errorKind?: string } {
  return 'error' in reason && reason.error instanceof ToolError ? { errorKind: reason.error.kind } : {};
}
