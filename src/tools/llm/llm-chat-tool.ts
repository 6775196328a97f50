import { httpExchange } from '../http/http-exchange.js';
import { ToolError } from '../tool-error.js';
import type { ToolAdapter } from '../tool-registry.js';

/** Where the model lives: an OpenAI-compatible API (`<baseUrl>/chat/completions`). */
export interface LlmChatToolOptions {
  /** E.g. `https://api.openai.com/v1` or `http://127.0.0.1:11434/v1`; unset: the tool fails `not_configured`. */
  baseUrl: string | undefined;
  /** Used when the input names no model. */
  model: string | undefined;
  /** Sent as `Authorization: Bearer <key>` when set. */
  apiKey: string | undefined;
  maxResponseBytes?: number;
}

/** Input of `llm.chat`: OpenAI chat messages plus optional model settings and tool definitions. */
export interface LlmChatInput {
  messages: { role: string; content: unknown; [key: string]: unknown }[];
  model?: string;
  temperature?: number;
  maxTokens?: number;
  /** OpenAI `tools` (function definitions), passed through. */
  tools?: unknown[];
  toolChoice?: unknown;
  responseFormat?: unknown;
}

export interface LlmToolCall {
  id: string;
  name: string;
  /** The arguments parsed as JSON, or the raw string when the model wrote invalid JSON. */
  arguments: unknown;
}

export interface LlmChatOutput {
  model: string;
  message: { role: string; content: string | null };
  toolCalls: LlmToolCall[];
  finishReason: string | null;
  usage: { promptTokens: number; completionTokens: number; totalTokens: number };
}

/**
 * `llm.chat`: one non-streaming chat completion. Sends the task's idempotency key as
 * `Idempotency-Key`. Throws `ToolError`: `not_configured` without a base URL or model,
 * `invalid_input` for bad messages, `http` for error statuses (429 and 5xx retryable, honouring
 * `Retry-After`), `invalid_response` when the answer is not a chat completion.
 */
export function createLlmChatTool(options: LlmChatToolOptions): ToolAdapter<LlmChatInput, LlmChatOutput> {
  return async (input, context) => {
    if (!options.baseUrl) throw new ToolError('not_configured', 'llm.chat needs LLM_BASE_URL');
    const model = input?.model ?? options.model;
    if (!model) throw new ToolError('not_configured', 'llm.chat needs LLM_MODEL or a model in the input');
    if (!Array.isArray(input?.messages) || input.messages.length === 0 || !input.messages.every((m) => typeof m === 'object' && m !== null && typeof m.role === 'string')) {
      throw new ToolError('invalid_input', 'messages must be a non-empty list of { role, content }');
    }
    const request = {
      model,
      messages: input.messages,
      ...(input.temperature === undefined ? {} : { temperature: input.temperature }),
      ...(input.maxTokens === undefined ? {} : { max_tokens: input.maxTokens }),
      ...(input.tools === undefined ? {} : { tools: input.tools }),
      ...(input.toolChoice === undefined ? {} : { tool_choice: input.toolChoice }),
      ...(input.responseFormat === undefined ? {} : { response_format: input.responseFormat }),
      stream: false,
    };
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json', 'idempotency-key': context.idempotencyKey };
    if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;
    const response = await httpExchange({
      url: new URL(`${options.baseUrl.replace(/\/+$/, '')}/chat/completions`),
      method: 'POST',
      headers,
      body: JSON.stringify(request),
      expectStatus: (s) => s >= 200 && s < 300,
      signal: context.signal,
      maxResponseBytes: options.maxResponseBytes ?? 4 * 1024 * 1024,
    });
    return readCompletion(response.text, model);
  };
}

function readCompletion(text: string, requestedModel: string): LlmChatOutput {
  const invalid = (why: string) => new ToolError('invalid_response', `the model endpoint answered something that is not a chat completion: ${why}`);
  let body: {
    model?: unknown;
    choices?: { message?: { role?: unknown; content?: unknown; tool_calls?: { id?: unknown; function?: { name?: unknown; arguments?: unknown } }[] }; finish_reason?: unknown }[];
    usage?: { prompt_tokens?: unknown; completion_tokens?: unknown; total_tokens?: unknown };
  };
  try {
    body = JSON.parse(text);
  } catch {
    throw invalid('not JSON');
  }
  const choice = body?.choices?.[0];
  if (!choice?.message) throw invalid('no choices[0].message');
  const message = choice.message;
  const toolCalls = (message.tool_calls ?? []).map((call) => {
    const raw = call.function?.arguments;
    let args: unknown = raw;
    if (typeof raw === 'string') {
      try {
        args = JSON.parse(raw);
      } catch {
        // Models sometimes write broken JSON; the machine gets the string and may re-ask.
      }
    }
    return { id: String(call.id ?? ''), name: String(call.function?.name ?? ''), arguments: args ?? null };
  });
  const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  return {
    model: typeof body.model === 'string' ? body.model : requestedModel,
    message: { role: typeof message.role === 'string' ? message.role : 'assistant', content: typeof message.content === 'string' ? message.content : null },
    toolCalls,
    finishReason: typeof choice.finish_reason === 'string' ? choice.finish_reason : null,
    usage: { promptTokens: n(body.usage?.prompt_tokens), completionTokens: n(body.usage?.completion_tokens), totalTokens: n(body.usage?.total_tokens) },
  };
}
