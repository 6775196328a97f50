import type { ToolCallContext, ToolInvoker } from '../engine/ports/tool-invoker.js';

/**
 * A tool adapter: does one call. It must pass `idempotencyKey` on to anything with side
 * effects (the call may run again after a crash) and stop when `signal` aborts. A resolved
 * value must be JSON; a rejection becomes the machine's `xstate.error.actor.<id>` event.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ToolAdapter<TInput = any, TOutput = unknown> = (input: TInput, context: ToolCallContext) => Promise<TOutput>;

/** A tool name with no adapter: the task fails (the machine sees an error event). */
export class ToolNotFoundError extends Error {
  override readonly name = 'ToolNotFoundError';
  readonly code = 'tool_not_found';
}

/**
 * In-process tools by `src`. `invoke` stops waiting as soon as the signal aborts, even for an
 * adapter that ignores it, so cancelling a task or stopping the engine is never held up.
 */
export class ToolRegistry implements ToolInvoker {
  readonly #adapters = new Map<string, ToolAdapter>();

  constructor(adapters: Record<string, ToolAdapter> = {}) {
    for (const [src, adapter] of Object.entries(adapters)) this.register(src, adapter);
  }

  /** Throws when `src` is taken: two adapters for one tool is a wiring mistake. */
  register(src: string, adapter: ToolAdapter): this {
    if (this.#adapters.has(src)) throw new Error(`tool '${src}' is already registered`);
    this.#adapters.set(src, adapter);
    return this;
  }

  has(src: string): boolean {
    return this.#adapters.has(src);
  }

  list(): string[] {
    return [...this.#adapters.keys()].sort();
  }

  async invoke(src: string, input: unknown, context: ToolCallContext): Promise<unknown> {
    const adapter = this.#adapters.get(src);
    if (!adapter) throw new ToolNotFoundError(`no tool '${src}'`);
    context.signal.throwIfAborted();
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(context.signal.reason);
      context.signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([adapter(input, context), aborted]);
    } finally {
      context.signal.removeEventListener('abort', onAbort!);
    }
  }
}
