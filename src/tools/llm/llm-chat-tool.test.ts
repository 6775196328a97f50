import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ResilientToolInvoker } from '../resilient-tool-invoker.js';
import { FaultServer } from '../test-support/fault-server.js';
import { ToolError } from '../tool-error.js';
import { ToolRegistry } from '../tool-registry.js';
import { createLlmChatTool } from './llm-chat-tool.js';

const COMPLETION = {
  id: 'chatcmpl-1',
  model: 'fake-model-2',
  choices: [{
    index: 0,
    finish_reason: 'tool_calls',
    message: {
      role: 'assistant',
      content: null,
      tool_calls: [
        { id: 'call_1', type: 'function', function: { name: 'math.sum', arguments: '{"numbers":[2,3]}' } },
        { id: 'call_2', type: 'function', function: { name: 'text.upper', arguments: '{broken' } },
      ],
    },
  }],
  usage: { prompt_tokens: 12, completion_tokens: 7, total_tokens: 19 },
};

const ctx = (key = 'wf-llm:t-1') => ({ signal: new AbortController().signal, idempotencyKey: key, attempt: 1 });

describe('llm.chat against a fake OpenAI-compatible endpoint', () => {
  let server: FaultServer;
  before(async () => (server = await FaultServer.start()));
  after(() => server.close());

  const invoker = (policy: Record<string, number> = {}) =>
    new ResilientToolInvoker(new ToolRegistry({ 'llm.chat': createLlmChatTool({ baseUrl: server.url('/v1/'), model: 'fake-model', apiKey: 'sk-test' }) }), {
      overrides: { defaults: {}, tools: { LLM_CHAT: { backoffInitialMs: 5, ...policy } } },
    });

  it('is rate-limited once, waits the Retry-After, then returns message, tool calls and usage', async () => {
    server.script('/v1/chat/completions', { status: 429, headers: { 'retry-after': '1' }, body: { error: { message: 'slow down' } } }, { status: 200, body: COMPLETION });
    const output = await invoker().invoke('llm.chat', { messages: [{ role: 'user', content: 'add 2 and 3' }], temperature: 0, maxTokens: 50 }, ctx());
    assert.deepEqual(output, {
      model: 'fake-model-2',
      message: { role: 'assistant', content: null },
      toolCalls: [
        { id: 'call_1', name: 'math.sum', arguments: { numbers: [2, 3] } },
        { id: 'call_2', name: 'text.upper', arguments: '{broken' },
      ],
      finishReason: 'tool_calls',
      usage: { promptTokens: 12, completionTokens: 7, totalTokens: 19 },
    });
    const calls = server.requests.filter((r) => r.path === '/v1/chat/completions');
    assert.equal(calls.length, 2);
    assert.ok(calls[1]!.at - calls[0]!.at >= 990, `retried after ${calls[1]!.at - calls[0]!.at} ms despite Retry-After: 1`);
    for (const call of calls) {
      assert.equal(call.headers.authorization, 'Bearer sk-test');
      assert.equal(call.idempotencyKey, 'wf-llm:t-1');
      assert.deepEqual(JSON.parse(call.body), { model: 'fake-model', messages: [{ role: 'user', content: 'add 2 and 3' }], temperature: 0, max_tokens: 50, stream: false });
    }
  });

  it('fails terminally on 401 and on answers that are not completions', async () => {
    server.script('/v1/chat/completions', { status: 401, body: { error: 'bad key' } });
    await assert.rejects(invoker().invoke('llm.chat', { messages: [{ role: 'user', content: 'x' }] }, ctx('k-401')), (e: unknown) => e instanceof ToolError && e.kind === 'http' && e.status === 401 && e.attempts === 1);
    server.script('/v1/chat/completions', { status: 200, body: { nope: true } });
    await assert.rejects(invoker().invoke('llm.chat', { messages: [{ role: 'user', content: 'x' }] }, ctx('k-bad')), (e: unknown) => e instanceof ToolError && e.kind === 'invalid_response' && e.attempts === 1);
    assert.equal(server.countFor('k-401') + server.countFor('k-bad'), 2);
  });

  it('needs configuration and messages', async () => {
    const unconfigured = createLlmChatTool({ baseUrl: undefined, model: undefined, apiKey: undefined });
    await assert.rejects(unconfigured({ messages: [{ role: 'user', content: 'x' }] }, ctx()), (e: unknown) => e instanceof ToolError && e.kind === 'not_configured');
    const tool = createLlmChatTool({ baseUrl: server.url('/v1'), model: 'm', apiKey: undefined });
    await assert.rejects(tool({ messages: [] }, ctx()), (e: unknown) => e instanceof ToolError && e.kind === 'invalid_input');
  });
});
