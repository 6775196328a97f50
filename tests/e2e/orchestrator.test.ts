import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createClient, Code, ConnectError, type Client, type Transport } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from '@connectrpc/connect-node';
import { OrchestratorService, WorkflowStatus } from '../../gen/orchestrator/v1/orchestrator_pb.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { createTestDatabaseOptions } from '../helpers/test-database.js';

type Orchestrator = Client<typeof OrchestratorService>;

function clients(baseUrl: string): Record<'grpc' | 'grpcWeb' | 'connect', Orchestrator> {
  const make = (t: Transport) => createClient(OrchestratorService, t);
  return {
    grpc: make(createGrpcTransport({ baseUrl })),
    grpcWeb: make(createGrpcWebTransport({ baseUrl, httpVersion: '1.1' })),
    connect: make(createConnectTransport({ baseUrl, httpVersion: '1.1' })),
  };
}

/** POST a Connect JSON request the way curl does; returns HTTP status and parsed body. */
async function curl(baseUrl: string, method: string, body: unknown): Promise<{ status: number; body: Record<string, any> }> {
  const res = await fetch(`${baseUrl}/orchestrator.v1.OrchestratorService/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

const codeOf = (err: unknown) => ConnectError.from(err).code;
const approvalInput = { goal: 'add 2 and 3', requireApproval: true };

describe('orchestrator over the real server', () => {
  let server: ServerProcess;
  let store: ReturnType<typeof createTestDatabaseOptions>;
  let api: ReturnType<typeof clients>;

  before(async () => {
    store = createTestDatabaseOptions();
    server = await startServerProcess({ ...store.env, MAX_REQUEST_BYTES: String(512 * 1024) });
    api = clients(server.baseUrl);
  });
  after(async () => {
    await server?.stop();
    await store?.cleanup();
  });

  it('lists machines with their definition, schema and accepted events', async () => {
    const { machines } = await api.grpc.listMachines({});
    const ids = machines.map((m) => m.id);
    assert.ok(ids.includes('agent-task') && ids.includes('incident-triage'), ids.join());
    const { machine } = await api.connect.getMachine({ id: 'agent-task' });
    assert.equal(machine?.definition?.id, 'agent-task');
    assert.equal((machine?.inputSchema as { type?: string }).type, 'object');
    assert.match(machine!.definitionHash, /^[0-9a-f]{16,}$/);
    assert.ok(machine!.stateEvents.some((s) => s.events.includes('approval.granted')), 'some state accepts approval.granted');
    await assert.rejects(api.grpcWeb.getMachine({ id: 'no-such-machine' }), (e) => codeOf(e) === Code.NotFound);
  });

  it('runs a workflow to completion across protocols, with a gap-free watch', async () => {
    const { workflow } = await api.connect.startWorkflow({ machineId: 'agent-task', input: approvalInput });
    const id = workflow!.id;
    const seen: number[] = [];
    const watching = (async () => {
      for await (const { entry } of api.grpcWeb.watchWorkflow({ workflowId: id, fromVersion: 1 })) seen.push(entry!.version);
    })();
    // The planner and tool calls run by themselves; wait until approval is asked for.
    let current = workflow!;
    for (let i = 0; i < 200 && !current.acceptedEvents.includes('approval.granted'); i++) {
      await new Promise((r) => setTimeout(r, 25));
      current = (await api.grpc.getWorkflow({ id })).workflow!;
    }
    assert.ok(current.acceptedEvents.includes('approval.granted'), `stuck in ${JSON.stringify(current.state)}`);
    const done = await api.grpc.sendEvent({ workflowId: id, event: { type: 'approval.granted', payload: { by: 'alice' } }, eventId: 'approve-1' });
    assert.equal(done.workflow?.status, WorkflowStatus.DONE);
    await watching; // ends by itself when the workflow is done
    assert.deepEqual(seen, Array.from({ length: done.workflow!.version }, (_, i) => i + 1));
    // Same event id again: the original result, no new transition.
    const again = await curl(server.baseUrl, 'SendEvent', { workflowId: id, event: { type: 'approval.granted', payload: { by: 'alice' } }, eventId: 'approve-1' });
    assert.equal(again.status, 200);
    assert.equal(again.body.workflow.version, done.workflow!.version);
    // History by GET, the way a browser or curl would read it.
    const query = encodeURIComponent(JSON.stringify({ workflowId: id }));
    const history = (await (await fetch(`${server.baseUrl}/orchestrator.v1.OrchestratorService/GetHistory?connect=v1&encoding=json&message=${query}`)).json()) as { entries: { version: number; eventType: string }[] };
    assert.deepEqual(history.entries.map((e) => e.version), seen);
    assert.equal(history.entries.at(-1)?.eventType, 'approval.granted');
    // The call journal: one attempt per tool call. No model is configured, so the model planner
    // fails not_configured and the local planner plans; then each planned tool, all ok.
    const { calls } = await api.grpc.listToolCalls({ workflowId: id });
    assert.ok(calls.length >= 3, `journal: ${calls.length} calls`);
    assert.deepEqual([calls[0]!.src, calls[0]!.outcome, calls[0]!.errorKind], ['llm.chat', 'error', 'not_configured']);
    assert.equal(calls[1]!.src, 'llm.plan');
    for (const c of calls.slice(1)) {
      assert.equal(c.outcome, 'ok');
      assert.equal(c.attempt, 1);
      assert.ok(c.startTime && c.endTime && c.latencyMs >= 0, 'the call has its times and latency');
    }
    const first = await api.connect.listToolCalls({ workflowId: id, pageSize: 1 });
    const second = await api.connect.listToolCalls({ workflowId: id, pageSize: 1, pageToken: first.nextPageToken });
    assert.deepEqual([first.calls[0]?.taskId, second.calls[0]?.taskId], [calls[0]!.taskId, calls[1]!.taskId], 'pages continue where the last ended');
    // Time travel: the state at version 1.
    const past = await api.connect.getWorkflow({ id, atVersion: 1 });
    assert.equal(past.workflow?.version, 1);
    assert.equal(past.workflow?.status, WorkflowStatus.ACTIVE);
  });

  it('starts idempotently by request id and refuses the same id with another input', async () => {
    const first = await curl(server.baseUrl, 'StartWorkflow', { machineId: 'agent-task', input: approvalInput, requestId: 'req-42' });
    const second = await curl(server.baseUrl, 'StartWorkflow', { machineId: 'agent-task', input: approvalInput, requestId: 'req-42' });
    assert.equal(first.status, 200);
    assert.equal(second.body.workflow.id, first.body.workflow.id);
    const clash = await curl(server.baseUrl, 'StartWorkflow', { machineId: 'agent-task', input: { goal: 'something else' }, requestId: 'req-42' });
    assert.equal(clash.body.code, 'already_exists');
  });

  it('answers bad input on every RPC with the right code and stores nothing', async () => {
    const before = (await api.connect.listWorkflows({ pageSize: 1000 })).workflows.length;
    const cases: [string, unknown, string][] = [
      ['StartWorkflow', { machineId: 'no-such-machine', input: {} }, 'not_found'],
      ['StartWorkflow', { machineId: 'agent-task', input: { goal: 42 } }, 'invalid_argument'],
      ['StartWorkflow', { machineId: 'agent-task', input: { goal: 'x'.repeat(300 * 1024) } }, 'invalid_argument|resource_exhausted'],
      ['StartWorkflow', { machineId: '', input: {} }, 'invalid_argument'],
      ['StartWorkflow', '{"machineId": "agent-task", "input": ', 'invalid_argument'],
      ['StartWorkflow', { machineId: 'agent-task', input: 'not an object' }, 'invalid_argument'],
      ['GetWorkflow', { id: 'no-such-workflow' }, 'not_found'],
      ['GetMachine', { id: 'agent-task', version: 99 }, 'not_found'],
      ['SendEvent', { workflowId: 'no-such-workflow', event: { type: 'approval.granted' } }, 'not_found'],
      ['SendEvent', { workflowId: 'x', event: { type: 'a', payload: 7 } }, 'invalid_argument'],
      ['SendEvent', { workflowId: 'x' }, 'invalid_argument'],
      ['CancelWorkflow', { workflowId: 'no-such-workflow', reason: 'test' }, 'not_found'],
      ['GetHistory', { workflowId: 'no-such-workflow' }, 'not_found'],
      ['ListToolCalls', { workflowId: 'no-such-workflow' }, 'not_found'],
      ['ListToolCalls', { workflowId: '' }, 'invalid_argument'],
      ['ListWorkflows', { pageToken: 'garbage!' }, 'invalid_argument'],
      ['ListWorkflows', { status: 'WORKFLOW_STATUS_NOPE' }, 'invalid_argument'],
      ['ListWorkflows', { machineID: 'agent-task' }, 'invalid_argument'],
    ];
    for (const [method, body, expected] of cases) {
      const res = await curl(server.baseUrl, method, body);
      assert.match(String(res.body.code), new RegExp(`^(${expected})$`), `${method} ${JSON.stringify(body).slice(0, 80)} -> ${JSON.stringify(res.body).slice(0, 200)}`);
    }
    const after = (await api.connect.listWorkflows({ pageSize: 1000 })).workflows.length;
    assert.equal(after, before);
  });

  it('refuses events the state does not accept, stale versions, and oversized payloads without writing', async () => {
    const { workflow } = await api.grpc.startWorkflow({ machineId: 'incident-triage', input: { title: 'db down', service: 'orders' } });
    const id = workflow!.id;
    const versionBefore = (await api.grpc.getWorkflow({ id })).workflow!.version;
    await assert.rejects(api.grpc.sendEvent({ workflowId: id, event: { type: 'no.such.event' } }), (e) => {
      const err = ConnectError.from(e);
      return err.code === Code.FailedPrecondition && /accepted/.test(err.rawMessage);
    });
    await assert.rejects(api.grpc.sendEvent({ workflowId: id, event: { type: 'incident.resolved', payload: { reason: 'x' } }, expectedVersion: versionBefore + 100 }), (e) => codeOf(e) === Code.Aborted);
    await assert.rejects(
      api.grpc.sendEvent({ workflowId: id, event: { type: 'incident.resolved', payload: { reason: 'y'.repeat(300 * 1024) } } }),
      (e) => [Code.InvalidArgument, Code.ResourceExhausted].includes(codeOf(e)),
    );
    const history = await api.grpc.getHistory({ workflowId: id });
    assert.ok(history.entries.every((e) => e.eventType !== 'no.such.event' && e.eventType !== 'incident.resolved'), 'the rejected events left no history');
    const cancelled = await api.connect.cancelWorkflow({ workflowId: id, reason: 'test over' });
    assert.equal(cancelled.workflow?.status, WorkflowStatus.CANCELLED);
    assert.equal(cancelled.workflow?.timers.length, 0);
    await assert.rejects(api.grpc.sendEvent({ workflowId: id, event: { type: 'incident.resolved', payload: { reason: 'z' } } }), (e) => codeOf(e) === Code.FailedPrecondition);
  });

  it('lists workflows with filters and page tokens', async () => {
    for (let i = 0; i < 3; i++) await api.grpc.startWorkflow({ machineId: 'incident-triage', input: { title: `page ${i}`, service: 'search' } });
    const ids = new Set<string>();
    let token = '';
    do {
      const page = await api.connect.listWorkflows({ machineId: 'incident-triage', pageSize: 2, pageToken: token });
      assert.ok(page.workflows.length <= 2, 'a page holds at most 2');
      for (const w of page.workflows) {
        assert.equal(w.machineId, 'incident-triage');
        assert.ok(!ids.has(w.id), 'no workflow on two pages');
        ids.add(w.id);
      }
      token = page.nextPageToken;
    } while (token);
    assert.ok(ids.size >= 3, 'the pages hold at least 3 distinct workflows');
    const cancelled = await api.connect.listWorkflows({ status: WorkflowStatus.CANCELLED });
    assert.ok(cancelled.workflows.every((w) => w.status === WorkflowStatus.CANCELLED), 'the filter returns cancelled workflows only');
  });
});

describe('orchestrator across a restart', () => {
  it('continues a workflow after the server restarts on the same store', async () => {
    const store = createTestDatabaseOptions({ onDisk: true });
    let server = await startServerProcess(store.env);
    try {
      let api = clients(server.baseUrl);
      const { workflow } = await api.connect.startWorkflow({ machineId: 'incident-triage', input: { title: 'checkout errors', service: 'checkout', ackTimeoutMs: 600_000 } });
      const id = workflow!.id;
      const ack = async () => {
        for (let i = 0; i < 200; i++) {
          const w = (await api.grpc.getWorkflow({ id })).workflow!;
          if (w.acceptedEvents.includes('incident.acknowledged')) return w;
          await new Promise((r) => setTimeout(r, 25));
        }
        throw new Error('never reached acknowledgement');
      };
      const before = await ack();
      assert.equal(before.timers.length > 0, true, 'the ack timeout is armed');
      assert.equal(await server.stop('SIGTERM'), 0);

      server = await startServerProcess(store.env);
      api = clients(server.baseUrl);
      const after = (await api.grpc.getWorkflow({ id })).workflow!;
      assert.equal(after.version, before.version);
      assert.deepEqual(after.timers.map((t) => t.id), before.timers.map((t) => t.id));
      const acked = await api.grpc.sendEvent({ workflowId: id, event: { type: 'incident.acknowledged', payload: { by: 'bob' } } });
      assert.equal(acked.workflow!.version, before.version + 1);
      const resolved = await api.connect.sendEvent({ workflowId: id, event: { type: 'incident.resolved', payload: { reason: 'rolled back' } } });
      assert.equal(resolved.workflow?.status, WorkflowStatus.DONE);
      const { entries } = await api.grpc.getHistory({ workflowId: id, pageSize: 1000 });
      assert.deepEqual(entries.map((e) => e.version), Array.from({ length: entries.length }, (_, i) => i + 1));
    } finally {
      await server.stop('SIGKILL');
      await store.cleanup();
    }
  });
});
