import type { ToolCallContext, ToolInvoker } from '../engine/ports/tool-invoker.js';
import { NO_OVERRIDES, checkOverridesKnown, resolveToolPolicy } from './policy/tool-policy-config.js';
import type { ToolPolicyOverrides } from './policy/tool-policy-config.js';
import { ToolPolicy } from './policy/tool-policy.js';
import type { ToolPolicyEvent, ToolPolicyState } from './policy/tool-policy.js';
import { ToolError } from './tool-error.js';
import type { ToolRegistry } from './tool-registry.js';

export interface ResilientToolInvokerOptions {
  /** Policy overrides from configuration; tools they name must be registered. */
  overrides?: ToolPolicyOverrides;
  /** Told about attempts, retries, breaker changes, timeouts and bulkhead rejections (logs, metrics). */
  onEvent?: (event: ToolPolicyEvent) => void;
}

/**
 * The engine's `ToolInvoker`: every call of every registered tool goes through that tool's
 * `ToolPolicy` (one per tool for the life of this object, so breakers and bulkheads are shared
 * by all calls in the process). Rejections are always `ToolError`s, which the engine hands to
 * the machine as `{ tool, kind, attempts, message, status? }`.
 *
 * The constructor throws `ToolPolicyConfigError` when an override names an unknown tool or a
 * merged policy is inconsistent, so bad configuration fails at start-up.
 */
export class ResilientToolInvoker implements ToolInvoker {
  readonly #policies = new Map<string, ToolPolicy>();

  constructor(
    private readonly registry: ToolRegistry,
    options: ResilientToolInvokerOptions = {},
  ) {
    const overrides = options.overrides ?? NO_OVERRIDES;
    const tools = registry.list();
    checkOverridesKnown(overrides, tools);
    for (const tool of tools) this.#policies.set(tool, new ToolPolicy(tool, resolveToolPolicy(tool, overrides), options.onEvent));
  }

  has(src: string): boolean {
    return this.registry.has(src);
  }

  invoke(src: string, input: unknown, context: ToolCallContext): Promise<unknown> {
    const policy = this.#policies.get(src);
    // Unknown tools: the registry rejects with ToolNotFoundError, as before.
    if (!policy) return this.registry.invoke(src, input, context);
    const call = policy.execute((signal) => this.registry.invoke(src, input, { ...context, signal }), context.signal, context.idempotencyKey, context.onAttempt);
    return untilAborted(call, context.signal, src);
  }

  /** The policy of a tool (its resolved options and live state), or undefined. */
  policy(tool: string): ToolPolicy | undefined {
    return this.#policies.get(tool);
  }

  /** Breaker state and bulkhead occupancy of every tool, by name. */
  states(): ToolPolicyState[] {
    return [...this.#policies.values()].map((p) => p.state());
  }
}

/**
 * `call`, or a `cancelled` ToolError as soon as `signal` aborts. cockatiel's bulkhead keeps a
 * queued call until a slot frees even when its signal aborted; the caller (a task being
 * cancelled or an engine stopping) must not wait for that.
 */
function untilAborted<T>(call: Promise<T>, signal: AbortSignal, tool: string): Promise<T> {
  if (signal.aborted) {
    call.catch(() => {});
    return Promise.reject(new ToolError('cancelled', 'the call was aborted', { tool }));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      call.catch(() => {});
      reject(new ToolError('cancelled', 'the call was aborted', { tool }));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    call.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
