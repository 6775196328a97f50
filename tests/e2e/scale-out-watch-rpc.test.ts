import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { Code, ConnectError, createClient, type Transport } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from '@connectrpc/connect-node';
import { OrchestratorService, WorkflowStatus, type WatchWorkflowsResponse } from '../../gen/orchestrator/v1/orchestrator_pb.js';
import { CRASH_FIXTURES, waitUntil } from '../helpers/crash-kit.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { createTestDatabaseOptions, type TestDatabaseOptions } from '../helpers/test-database.js';

/** WatchWorkflows through the real server over gRPC, gRPC-Web and Connect, and as the README runs it with buf curl. */
describe('WatchWorkflows over every protocol', () => {
  let store: TestDatabaseOptions;
  let server: ServerProcess;

  before(async () => {
    store = createTestDatabaseOptions();
    server = await startServerProcess({ ...store.env, EXTRA_MODULES: CRASH_FIXTURES, LOG_LEVEL: 'info' }, 60_000);
  });
  after(async () => {
    await server?.stop();
    await store?.cleanup();
  });

  const transports = (): [string, Transport][] => [
    ['grpc', createGrpcTransport({ baseUrl: server.baseUrl })],
    ['grpc-web', createGrpcWebTransport({ baseUrl: server.baseUrl, httpVersion: '1.1' })],
    ['connect', createConnectTransport({ baseUrl: server.baseUrl, httpVersion: '1.1' })],
  ];

  it('streams each transition of matching workflows once, in order, with machine and cursor', { timeout: 60_000 }, async () => {
    const control = createClient(OrchestratorService, createGrpcTransport({ baseUrl: server.baseUrl }));
    for (const [label, transport] of transports()) {
      const api = createClient(OrchestratorService, transport);
      const id = `proto-${label}`;
      const controller = new AbortController();
      const received: WatchWorkflowsResponse[] = [];
      const reading = (async () => {
        for await (const res of api.watchWorkflows({ machineId: 'crash-probe' }, { signal: controller.signal })) {
          received.push(res);
          if (res.entry?.workflowId === id && res.entry.status === WorkflowStatus.DONE) return;
        }
      })();
      // The first message is the heartbeat of the first poll: the stream is live from then on.
      await waitUntil(`${label}: the first message`, async () => received.length, (n) => n > 0);
      await control.startWorkflow({ machineId: 'crash-probe', workflowId: id, input: {} });
      await control.sendEvent({ workflowId: id, event: { type: 'tick' } });
      await control.sendEvent({ workflowId: id, event: { type: 'finish' } });
      await reading;
      controller.abort();
      const mine = received.filter((r) => r.entry?.workflowId === id);
      assert.deepEqual(mine.map((r) => r.entry!.version), [1, 2, 3], label);
      assert.deepEqual(mine.map((r) => r.entry!.eventType), ['xstate.init', 'tick', 'finish'], label);
      assert.ok(mine.every((r) => r.machineId === 'crash-probe' && r.machineVersion === 1 && r.cursor !== ''), label);
    }
  });

  it('refuses an unknown status and a cursor it did not issue with invalid_argument', async () => {
    for (const [label, transport] of transports()) {
      const api = createClient(OrchestratorService, transport);
      const first = async (req: Parameters<typeof api.watchWorkflows>[0]) => {
        for await (const _ of api.watchWorkflows(req)) return;
      };
      await assert.rejects(first({ statuses: [99 as WorkflowStatus] }), (e: unknown) => ConnectError.from(e).code === Code.InvalidArgument, label);
      await assert.rejects(first({ cursor: 'not-a-cursor' }), (e: unknown) => ConnectError.from(e).code === Code.InvalidArgument, label);
    }
  });

  it('runs the README example: buf curl over Connect prints transitions as they happen', { timeout: 60_000 }, async () => {
    // As in the README, with this server's port.
    const child = spawn('node_modules/.bin/buf', ['curl', '--protocol', 'connect', '--schema', 'proto', '-d', '{"machineId":"crash-probe"}', `${server.baseUrl}/orchestrator.v1.OrchestratorService/WatchWorkflows`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    try {
      await waitUntil('the first message from buf curl', async () => out, (text) => text.includes('"cursor"'));
      const control = createClient(OrchestratorService, createGrpcTransport({ baseUrl: server.baseUrl }));
      await control.startWorkflow({ machineId: 'crash-probe', workflowId: 'curl-1', input: {} });
      await control.sendEvent({ workflowId: 'curl-1', event: { type: 'finish' } });
      await waitUntil('buf curl to print the finished workflow', async () => out, (text) => /"workflowId": "curl-1"[\s\S]*"status": "WORKFLOW_STATUS_DONE"/.test(text));
    } finally {
      child.kill();
    }
  });
});
