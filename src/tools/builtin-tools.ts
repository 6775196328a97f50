import type { EngineLogger } from '../engine/engine-options.js';
import { createDispatchTool } from './local/agent-dispatch-tool.js';
import { classifyTool } from './local/classifier-tool.js';
import { createNotifyTools } from './local/notify-tools.js';
import { planTool } from './local/planner-tool.js';
import { sumTool, upperTool, wordCountTool } from './local/text-tools.js';
import { ToolRegistry } from './tool-registry.js';

/** Tools an agent's plan may call through `tools.call`. */
export const AGENT_CALLABLE_TOOLS = ['math.sum', 'text.upper', 'text.wordCount'] as const;

/** Every local tool the shipped machines use, in one registry. */
export function createBuiltinTools(logger: EngineLogger): ToolRegistry {
  const callable = { 'math.sum': sumTool, 'text.upper': upperTool, 'text.wordCount': wordCountTool };
  return new ToolRegistry({
    'llm.plan': planTool,
    'llm.classify': classifyTool,
    'tools.call': createDispatchTool(callable),
    ...callable,
    ...createNotifyTools(logger),
  });
}
