import type { EngineLogger } from '../engine/engine-options.js';
import { HostAllowList } from './http/host-allow-list.js';
import { createHttpRequestTool } from './http/http-request-tool.js';
import { createLlmChatTool } from './llm/llm-chat-tool.js';
import type { LlmChatToolOptions } from './llm/llm-chat-tool.js';
import { createDispatchTool } from './local/agent-dispatch-tool.js';
import { classifyTool } from './local/classifier-tool.js';
import { createNotifyTools } from './local/notify-tools.js';
import { planTool } from './local/planner-tool.js';
import { sumTool, upperTool, wordCountTool } from './local/text-tools.js';
import { ToolRegistry } from './tool-registry.js';

/** Tools an agent's plan may call through `tools.call`. */
export const AGENT_CALLABLE_TOOLS = ['math.sum', 'text.upper', 'text.wordCount'] as const;

/** Settings of the network tools; without them `http.request` reaches no host and `llm.chat` fails `not_configured`. */
export interface BuiltinToolOptions {
  /** Hosts `http.request` may call (HTTP_TOOL_ALLOWED_HOSTS). */
  httpAllowedHosts?: readonly string[];
  /** The OpenAI-compatible endpoint of `llm.chat` (LLM_BASE_URL, LLM_MODEL, LLM_API_KEY). */
  llm?: LlmChatToolOptions;
}

/** Every built-in tool, in one registry: the local ones the shipped machines use, `http.request` and `llm.chat`. */
export function createBuiltinTools(logger: EngineLogger, options: BuiltinToolOptions = {}): ToolRegistry {
  const callable = { 'math.sum': sumTool, 'text.upper': upperTool, 'text.wordCount': wordCountTool };
  return new ToolRegistry({
    'llm.plan': planTool,
    'llm.classify': classifyTool,
    'tools.call': createDispatchTool(callable),
    ...callable,
    ...createNotifyTools(logger),
    'http.request': createHttpRequestTool({ allowList: new HostAllowList(options.httpAllowedHosts ?? []) }),
    'llm.chat': createLlmChatTool(options.llm ?? { baseUrl: undefined, model: undefined, apiKey: undefined }),
  });
}
