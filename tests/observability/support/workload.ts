import { createClient, type Transport } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from '@connectrpc/connect-node';
import { HealthService } from '../../../gen/health/v1/health_pb.js';
import { InfoService } from '../../../gen/info/v1/info_pb.js';
import { OrchestratorService, WorkflowStatus } from '../../../gen/orchestrator/v1/orchestrator_pb.js';

/** Ignores the expected failure of a call made to produce an error code. */
const failing = (call: Promise<unknown>) => call.then(
  () => {
    throw new Error('expected the call to fail');
  },
  () => undefined,
);

/**
 * A short, varied workload over every protocol, so that the metrics the dashboards and alerts read
 * have samples: workflows run to completion (planner and tool calls), wait on durable timers that
 * fire, get cancelled and watched, one stays waiting; client errors (invalid_argument, not_found,
 * failed_precondition) next to successes. Waits until the started workflows have finished.
 */
export async function runWorkload(baseUrl: string): Promise<void> {
  const transports: Transport[] = [
    createConnectTransport({ baseUrl, httpVersion: '1.1' }),
    createGrpcTransport({ baseUrl }),
    createGrpcWebTransport({ baseUrl, httpVersion: '1.1' }),
  ];
  const ids: string[] = [];
  for (const [i, transport] of transports.entries()) {
    const api = createClient(OrchestratorService, transport);
    await createClient(HealthService, transport).check({ service: 'orchestrator' });
    await createClient(InfoService, transport).getInfo({});
    await api.listMachines({});
    // Runs planner and tools to the end by itself.
    const done = await api.startWorkflow({ machineId: 'agent-task', input: { goal: 'add 2 and 3 then shout hello', requireApproval: false } });
    ids.push(done.workflow!.id);
    // Waits for approval; both durable timers (escalation, then rejection) fire within a few hundred ms.
    const timed = await api.startWorkflow({ machineId: 'agent-task', input: { goal: 'count words in a sentence', approvalTimeoutMs: 50, escalationTimeoutMs: 50 } });
    ids.push(timed.workflow!.id);
    const incident = await api.startWorkflow({ machineId: 'incident-triage', input: { title: `disk full ${i}`, service: 'orders' } });
    await api.cancelWorkflow({ workflowId: incident.workflow!.id, reason: 'false alarm' });
    await api.getWorkflow({ id: done.workflow!.id });
    await api.listWorkflows({ pageSize: 10 });
    await api.getHistory({ workflowId: done.workflow!.id });
    // Client errors: they must show up as such, and never as server errors.
    await failing(api.getWorkflow({ id: 'no-such-workflow' }));
    await failing(api.startWorkflow({ machineId: 'agent-task', input: { goal: 42 } }));
    await failing(api.sendEvent({ workflowId: timed.workflow!.id, event: { type: 'no.such.event' } }));
  }
  // One workflow stays waiting for approval (a day), so the running gauge has a series.
  await createClient(OrchestratorService, transports[0]!).startWorkflow({ machineId: 'agent-task', input: { goal: 'wait for a reviewer' } });
  // A watch stream that ends when its workflow does.
  const watcher = createClient(OrchestratorService, transports[0]!);
  for await (const _ of watcher.watchWorkflow({ workflowId: ids[0]!, fromVersion: 1 })) {
    // drain: the stream ends when the workflow has finished
  }
  const api = createClient(OrchestratorService, transports[0]!);
  for (let i = 0; i < 600; i++) {
    const { workflows } = await api.listWorkflows({ pageSize: 100 });
    const open = workflows.filter((w) => ids.includes(w.id) && w.status === WorkflowStatus.ACTIVE);
    if (open.length === 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('the workload\'s workflows did not finish within 30 s');
}
