import type { ToolAdapter } from '../tool-registry.js';

/**
 * `tools.call`: runs the tool an agent's plan chose, by name, from an allow-list. Machines
 * cannot pick an actor `src` at run time, so the agent invokes this one tool with
 * `{ tool, input }`; the idempotency key and signal pass through unchanged.
 */
export function createDispatchTool(callable: Record<string, ToolAdapter>): ToolAdapter<{ tool: string; input: unknown }, { tool: string; output: unknown }> {
  return async ({ tool, input }, context) => {
    const adapter = callable[tool];
    if (!adapter) throw Object.assign(new Error(`tool '${tool}' is not callable by agents`), { code: 'not_found' });
    return { tool, output: await adapter(input, context) };
  };
}
