import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assign, setup } from 'xstate';
import { InMemoryEventBus } from '../../src/bus/in-memory-event-bus.js';
import type { JsonValue } from '../../src/engine/json.js';
import { defineWorkflow, tool } from '../../src/engine/machine-kit.js';
import { createWorkflowEngine } from '../../src/engine/workflow-engine.js';
import type { WorkflowEngine } from '../../src/engine/workflow-engine.js';
import { PostgresWorkflowStore } from '../../src/store/postgres-workflow-store.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { createBuiltinTools } from '../../src/tools/builtin-tools.js';
import type { HttpRequestInput, HttpRequestOutput } from '../../src/tools/http/http-request-tool.js';
import { ResilientToolInvoker } from '../../src/tools/resilient-tool-invoker.js';
import { FaultServer } from '../../src/tools/test-support/fault-server.js';
import { openTestDatabase } from '../helpers/test-database.js';
import type { TestDatabase } from '../helpers/test-database.js';
import { FAST } from './support/engine-harness.js';
import { untilEntry } from './support/wait.js';

/** Fetches a URL through `http.request`; ends `fetched` with the response or `failed` with the tool error. */
const fetchMachine = setup({
  types: {} as { context: { url: string; response: JsonValue; error: JsonValue }; input: { url: string } },
  actors: { 'http.request': tool<HttpRequestInput, HttpRequestOutput>() },
}).createMachine({
  id: 'fetch-once',
  context: ({ input }) => ({ url: input?.url ?? '', response: null, error: null }),
  initial: 'fetching',
  states: {
    fetching: {
      invoke: {
        id: 'fetch',
        src: 'http.request',
        input: ({ context }) => ({ url: context.url }),
        onDone: { target: 'fetched', actions: assign({ response: ({ event }) => ({ status: event.output.status, json: event.output.json as JsonValue }) }) },
        onError: { target: 'failed', actions: assign({ error: ({ event }) => event.error as JsonValue }) },
      },
    },
    fetched: { type: 'final' },
    failed: { type: 'final' },
  },
  output: ({ context }) => ({ response: context.response, error: context.error }),
});

const fetchOnce = defineWorkflow({
  id: 'fetch-once',
  version: 1,
  description: 'one resilient HTTP call',
  machine: fetchMachine,
  inputSchema: { type: 'object', required: ['url'], properties: { url: { type: 'string', minLength: 1 } } },
});

describe('a workflow calling http.request through its policy', () => {
  let server: FaultServer;
  let db: TestDatabase;
  let bus: InMemoryEventBus;
  let engine: WorkflowEngine;

  before(async () => {
    server = await FaultServer.start();
    db = await openTestDatabase();
    bus = new InMemoryEventBus();
    const tools = new ResilientToolInvoker(createBuiltinTools(silentLogger, { httpAllowedHosts: [server.host] }), {
      overrides: { defaults: {}, tools: { HTTP_REQUEST: { maxRetries: 3, backoffInitialMs: 10, attemptTimeoutMs: 2_000 } } },
    });
    engine = createWorkflowEngine({ store: new PostgresWorkflowStore(db.db), bus, machines: [fetchOnce], tools, logger: silentLogger, options: FAST });
    await engine.start();
  });
  after(async () => {
    await engine.stop();
    await bus.close();
    await db.close();
    await server.close();
  });

  const finished = async (workflowId: string) => {
    await untilEntry(engine, workflowId, (e) => e.status !== 'active');
    return engine.getWorkflow(workflowId);
  };

  it('survives a 503 and a connection reset, then completes with one idempotency key and one result', async () => {
    server.script('/flaky', { status: 503 }, { reset: true }, { status: 200, body: { value: 42 } });
    const wf = await engine.startWorkflow({ machineId: 'fetch-once', input: { url: server.url('/flaky') } });
    const view = await finished(wf.id);
    assert.equal(view.status, 'done');
    assert.deepEqual(view.state, 'fetched');
    assert.deepEqual(view.output, { response: { status: 200, json: { value: 42 } }, error: null });
    const keys = server.requests.filter((r) => r.path === '/flaky').map((r) => r.idempotencyKey);
    assert.equal(keys.length, 3);
    assert.equal(new Set(keys).size, 1);
    assert.match(keys[0]!, new RegExp(`^${wf.id}:`));
    // The result counted once: one done event for the task in the history.
    const history = (await engine.getHistory({ workflowId: wf.id })).entries;
    assert.equal(history.filter((e) => e.eventType === 'xstate.done.actor.fetch').length, 1);
    // The call journal has every attempt, in order, with its outcome and latency.
    const journal = (await engine.listToolCalls({ workflowId: wf.id })).calls;
    assert.deepEqual(journal.map((c) => [c.src, c.claim, c.attempt, c.outcome, c.errorKind, c.status, c.owner]), [
      ['http.request', 1, 1, 'error', 'http', 503, engine.instanceId],
      ['http.request', 1, 2, 'error', 'network', null, engine.instanceId],
      ['http.request', 1, 3, 'ok', null, null, engine.instanceId],
    ]);
    assert.equal(new Set(journal.map((c) => `${wf.id}:${c.taskId}`)).size, 1);
    assert.equal(`${wf.id}:${journal[0]!.taskId}`, keys[0]);
    for (const call of journal) {
      assert.ok(call.endedAt >= call.startedAt, 'the call ended after it started');
      assert.equal(call.latencyMs, call.endedAt.getTime() - call.startedAt.getTime());
    }
    await assert.rejects(engine.listToolCalls({ workflowId: 'no-such-workflow' }), (e: unknown) => (e as { code?: string }).code === 'not_found');
    // Page by page, the same rows in the same order; a token is bound to its workflow.
    const paged: typeof journal = [];
    let pageToken = '';
    do {
      const page = await engine.listToolCalls({ workflowId: wf.id, pageSize: 1, pageToken });
      assert.ok(page.calls.length <= 1, 'a page holds at most 1');
      paged.push(...page.calls);
      pageToken = page.nextPageToken;
    } while (pageToken);
    assert.deepEqual(paged, journal);
    const token = (await engine.listToolCalls({ workflowId: wf.id, pageSize: 1 })).nextPageToken;
    await assert.rejects(engine.listToolCalls({ workflowId: 'other', pageSize: 1, pageToken: token }), (e: unknown) => (e as { code?: string }).code === 'invalid_argument');
  });

  it('hands the machine a structured error it can branch on', async () => {
    server.script('/gone', { status: 410, body: 'gone' });
    const wf = await engine.startWorkflow({ machineId: 'fetch-once', input: { url: server.url('/gone') } });
    const view = await finished(wf.id);
    assert.equal(view.state, 'failed');
    const error = (view.output as { error: Record<string, unknown> }).error;
    assert.deepEqual({ ...error, message: undefined }, { name: 'ToolError', code: 'http', tool: 'http.request', kind: 'http', attempts: 1, status: 410, message: undefined });
    assert.match(String(error.message), /answered 410: gone/);
    const refused = await engine.startWorkflow({ machineId: 'fetch-once', input: { url: 'http://10.0.0.1/admin' } });
    const refusedView = await finished(refused.id);
    assert.equal((refusedView.output as { error: { kind: string } }).error.kind, 'host_not_allowed');
  });

  // Last in this file: it leaves the engine's http.request breaker open.
  it('journals a call the open breaker refused, with outcome refused and its kind', async () => {
    server.script('/down', { status: 503 });
    // Four failing attempts (1 + 3 retries), then one more opens the breaker (threshold 5).
    const first = await finished((await engine.startWorkflow({ machineId: 'fetch-once', input: { url: server.url('/down') } })).id);
    assert.equal((first.output as { error: { kind: string } }).error.kind, 'http');
    const second = await engine.startWorkflow({ machineId: 'fetch-once', input: { url: server.url('/down') } });
    const view = await finished(second.id);
    assert.deepEqual((view.output as { error: { kind: string; attempts: number } }).error.kind, 'circuit_open');
    const journal = (await engine.listToolCalls({ workflowId: second.id })).calls;
    assert.deepEqual(journal.map((c) => [c.attempt, c.outcome, c.errorKind, c.status]), [
      [1, 'error', 'http', 503],
      [2, 'refused', 'circuit_open', null],
    ]);
    assert.equal(journal[1]!.latencyMs, 0);
  });
});
