import type { ToolCallContext, ToolInvoker } from '../../../src/engine/ports/tool-invoker.js';

/** One call a test can see and finish. */
export interface ToolCall {
  src: string;
  input: unknown;
  idempotencyKey: string;
  attempt: number;
  signal: AbortSignal;
  resolve(output: unknown): void;
  reject(error: unknown): void;
}

/**
 * Tools whose calls wait for the test: `next()` hands over the next call matching a predicate,
 * and the test resolves or rejects it. `auto` answers some tools at once. Every call is kept in
 * `calls`, so a test can count executions per idempotency key.
 */
export class ControlledTools implements ToolInvoker {
  readonly calls: ToolCall[] = [];
  readonly #unclaimed: ToolCall[] = [];
  readonly #waiters: { match: (c: ToolCall) => boolean; resolve: (c: ToolCall) => void }[] = [];

  constructor(
    private readonly srcs: string[],
    private readonly auto: Record<string, (input: unknown) => unknown> = {},
  ) {}

  has(src: string): boolean {
    return this.srcs.includes(src);
  }

  invoke(src: string, input: unknown, context: ToolCallContext): Promise<unknown> {
    const auto = this.auto[src];
    return new Promise((resolve, reject) => {
      const call: ToolCall = { src, input, idempotencyKey: context.idempotencyKey, attempt: context.attempt, signal: context.signal, resolve, reject };
      this.calls.push(call);
      context.signal.addEventListener('abort', () => reject(context.signal.reason), { once: true });
      if (auto) {
        queueMicrotask(() => {
          try {
            resolve(auto(input));
          } catch (error) {
            reject(error);
          }
        });
        return;
      }
      const waiter = this.#waiters.find((w) => w.match(call));
      if (waiter) {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        waiter.resolve(call);
      } else {
        this.#unclaimed.push(call);
      }
    });
  }

  /** The next live call (already made or future) matching `match`, within `timeoutMs`. */
  next(match: (call: ToolCall) => boolean = () => true, timeoutMs = 5_000): Promise<ToolCall> {
    // A call whose task was cancelled meanwhile is of no use to anyone.
    const index = this.#unclaimed.findIndex((c) => !c.signal.aborted && match(c));
    if (index >= 0) return Promise.resolve(this.#unclaimed.splice(index, 1)[0]!);
    return new Promise((resolve, reject) => {
      const waiter = {
        match,
        resolve: (call: ToolCall) => {
          clearTimeout(timer);
          resolve(call);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        reject(new Error(`no matching tool call within ${timeoutMs} ms (calls so far: ${this.calls.map((c) => c.idempotencyKey).join(', ')})`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** The next call of the task of actor `actorId` in workflow `workflowId`. */
  nextFor(workflowId: string, actorId: string, timeoutMs?: number): Promise<ToolCall> {
    return this.next((c) => c.idempotencyKey.startsWith(`${workflowId}:${actorId}@`), timeoutMs);
  }
}
