import { HostAllowList } from '../http/host-allow-list.js';
import { createHttpRequestTool } from '../http/http-request-tool.js';
import type { ToolPolicyOptions } from '../policy/tool-policy-options.js';
import type { ToolPolicyEvent } from '../policy/tool-policy.js';
import { ResilientToolInvoker } from '../resilient-tool-invoker.js';
import { ToolError } from '../tool-error.js';
import { ToolRegistry } from '../tool-registry.js';
import type { FaultServer } from './fault-server.js';

export interface HttpToolHarness {
  invoker: ResilientToolInvoker;
  events: ToolPolicyEvent[];
  /** `http.request` GET of `path` on the fault server through the policy. */
  call(path: string, opts?: { key?: string; signal?: AbortSignal; input?: Record<string, unknown> }): Promise<unknown>;
  /** The same, expecting a ToolError, which it returns. */
  fail(path: string, opts?: { key?: string; signal?: AbortSignal; input?: Record<string, unknown> }): Promise<ToolError>;
}

/** A fresh invoker (fresh breaker and bulkhead) with `http.request` allowed to reach `server`. */
export function httpToolHarness(server: FaultServer, policy: Partial<ToolPolicyOptions>): HttpToolHarness {
  const registry = new ToolRegistry({ 'http.request': createHttpRequestTool({ allowList: new HostAllowList([server.host]) }) });
  const events: ToolPolicyEvent[] = [];
  const invoker = new ResilientToolInvoker(registry, { overrides: { defaults: {}, tools: { HTTP_REQUEST: policy } }, onEvent: (e) => events.push(e) });
  const call: HttpToolHarness['call'] = (path, opts = {}) =>
    invoker.invoke('http.request', { url: server.url(path), ...opts.input }, { signal: opts.signal ?? new AbortController().signal, idempotencyKey: opts.key ?? 'wf-1:task-1', attempt: 1 });
  return {
    invoker,
    events,
    call,
    async fail(path, opts) {
      try {
        await call(path, opts);
      } catch (error) {
        if (error instanceof ToolError) return error;
        throw new Error(`expected a ToolError, got ${String(error)}`, { cause: error });
      }
      throw new Error(`expected ${path} to fail`);
    },
  };
}
