import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WorkflowStatus } from '../../gen/orchestrator/v1/orchestrator_pb.js';
import { FaultServer } from '../../src/tools/test-support/fault-server.js';
import { orchestrator, outputOf, waitForStatus, withServerStore } from '../helpers/crash-kit.js';
import type { Orchestrator } from '../helpers/crash-kit.js';

/**
 * The shipped agent (agent-task v2) end to end: the real server as a child process plans with
 * `llm.chat` against a fake OpenAI-compatible server and makes its `http.request` step against a
 * fake API, both injecting faults (429 + Retry-After, 503, connection reset, a slow answer past
 * the attempt timeout). The workflow completes as the policies allow; when the API stays down,
 * the agent takes its failure branch with the tool's structured error.
 */

/** A chat completion whose message is `plan` as JSON (what the agent asks the model for). */
const completion = (plan: unknown) => ({
  id: 'chatcmpl-1',
  model: 'fake-model',
  choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: JSON.stringify(plan) } }],
  usage: { prompt_tokens: 50, completion_tokens: 20, total_tokens: 70 },
});

describe('the shipped agent workflow against faulty model and API servers', () => {
  let llm: FaultServer;
  let api: FaultServer;
  before(async () => {
    llm = await FaultServer.start();
    api = await FaultServer.start();
  });
  after(async () => {
    await llm.close();
    await api.close();
  });

  const env = () => ({
    LLM_BASE_URL: llm.url('/v1'),
    LLM_MODEL: 'fake-model',
    HTTP_TOOL_ALLOWED_HOSTS: api.host,
    TOOL_POLICY_HTTP_REQUEST_MAX_RETRIES: '4',
    TOOL_POLICY_HTTP_REQUEST_BACKOFF_INITIAL_MS: '50',
    TOOL_POLICY_HTTP_REQUEST_ATTEMPT_TIMEOUT_MS: '1000',
    TOOL_POLICY_HTTP_REQUEST_BREAKER_THRESHOLD: '50',
    TOOL_POLICY_LLM_CHAT_BACKOFF_INITIAL_MS: '50',
  });

  const runAgent = async (client: Orchestrator, id: string) => {
    await client.startWorkflow({ machineId: 'agent-task', workflowId: id, input: { goal: 'fetch the value and add 1 and 2', tools: ['http.request', 'math.sum'], requireApproval: false } });
    return waitForStatus(client, id, WorkflowStatus.DONE, 60_000);
  };

  it('completes through a rate-limited model and a flaky, slow API, one idempotency key per call', async () => {
    await withServerStore(env(), async ({ start }) => {
      const client = orchestrator((await start()).baseUrl);
      llm.script('/v1/chat/completions',
        { status: 429, headers: { 'retry-after': '1' }, body: { error: { message: 'slow down' } } },
        { status: 200, body: completion({ summary: 'fetch, then add', steps: [{ tool: 'http.request', input: { url: api.url('/value') }, why: 'read the value' }, { tool: 'math.sum', input: { numbers: [1, 2] }, why: 'add' }] }) });
      api.script('/value', { status: 503 }, { reset: true }, { status: 200, body: { value: 42 }, delayMs: 3_000 }, { status: 200, body: { value: 42 } });

      const done = await runAgent(client, 'agent-ok');
      const output = outputOf<{ outcome: string; planner: string; results: { tool: string; output: unknown }[] }>(done);
      assert.equal(output.outcome, 'completed');
      assert.equal(output.planner, 'llm');
      assert.deepEqual(output.results.map((r) => r.tool), ['http.request', 'math.sum']);
      assert.deepEqual(output.results[0]!.output, { status: 200, body: { value: 42 } });

      // The model was asked twice, Retry-After apart; the API four times, with one key.
      const asks = llm.requests.filter((r) => r.path === '/v1/chat/completions');
      assert.equal(asks.length, 2);
      assert.ok(asks[1]!.at - asks[0]!.at >= 900, `Retry-After honoured: ${asks[1]!.at - asks[0]!.at} ms`);
      assert.equal(JSON.parse(asks[1]!.body).model, 'fake-model');
      const fetches = api.requests.filter((r) => r.path === '/value');
      assert.equal(fetches.length, 4);
      assert.equal(new Set(fetches.map((r) => r.idempotencyKey)).size, 1);
      assert.match(fetches[0]!.idempotencyKey!, /^agent-ok:httpCall@/);

      // The journal shows every attempt with its outcome.
      const { calls } = await client.listToolCalls({ workflowId: 'agent-ok' });
      assert.deepEqual(calls.map((c) => [c.src, c.outcome, c.errorKind, c.status]), [
        ['llm.chat', 'error', 'http', 429],
        ['llm.chat', 'ok', '', 0],
        ['http.request', 'error', 'http', 503],
        ['http.request', 'error', 'network', 0],
        ['http.request', 'error', 'timeout', 0],
        ['http.request', 'ok', '', 0],
        ['tools.call', 'ok', '', 0],
      ]);

      // The API stays down: retries run out and the agent takes its failure branch.
      llm.script('/v1/chat/completions', { status: 200, body: completion({ steps: [{ tool: 'http.request', input: { url: api.url('/down') }, why: 'read' }] }) });
      api.script('/down', { status: 503 });
      const failed = await runAgent(client, 'agent-down');
      const failure = outputOf<{ outcome: string; error: { tool: string; kind: string; status: number; attempts: number } }>(failed);
      assert.equal(failure.outcome, 'failed');
      assert.deepEqual([failure.error.tool, failure.error.kind, failure.error.status, failure.error.attempts], ['http.request', 'http', 503, 5]);
      assert.equal(api.requests.filter((r) => r.path === '/down').length, 5);
    });
  });
});
