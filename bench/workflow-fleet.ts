import type { JsonObject } from '@bufbuild/protobuf';
import type { Workflow } from '../gen/orchestrator/v1/orchestrator_pb.js';
import type { BenchMachine, OrchestratorClient } from './bench-machines.js';
import { runClosedLoop } from './load-runner.js';
import { round } from './stats.js';

/**
 * Starts `count` workflows of `machine` with `concurrency` StartWorkflow calls in flight;
 * `input(i)` defaults to the machine's loop input. Returns the started ones in order, with the
 * timing. Past `deadline` (epoch ms) no more are started (`complete` is then false); the first
 * failed start fails the whole batch (see runClosedLoop).
 */
export async function startWorkflows(
  client: OrchestratorClient,
  machine: BenchMachine,
  count: number,
  options: { concurrency: number; input?: (i: number) => JsonObject; deadline?: number },
): Promise<{ workflows: Workflow[]; load: { ops: number; durationMs: number; perSec: number }; complete: boolean }> {
  const workflows = new Array<Workflow | undefined>(count);
  const input = options.input ?? (() => machine.loopInput());
  let complete = true;
  const started = performance.now();
  await runClosedLoop({
    total: count,
    concurrency: options.concurrency,
    op: async (_w, _k, i) => {
      if (options.deadline !== undefined && Date.now() > options.deadline) {
        complete = false;
        return;
      }
      const res = await client.startWorkflow({ machineId: machine.id, input: input(i) });
      if (!res.workflow) throw new Error('StartWorkflow answered without a workflow');
      workflows[i] = res.workflow;
    },
  });
  const done = workflows.filter((w): w is Workflow => w !== undefined);
  const load = { ops: done.length, durationMs: round(performance.now() - started), perSec: round((done.length / (performance.now() - started)) * 1000, 0) };
  return { workflows: done, load, complete };
}

/**
 * Waits until every workflow accepts its loop events (machines that run start-up tasks get
 * there asynchronously), re-reading the ones not ready yet. Resolves with their current views;
 * rejects after `timeoutMs` naming how many are still not ready.
 */
export async function waitUntilReady(client: OrchestratorClient, machine: BenchMachine, workflows: Workflow[], timeoutMs: number): Promise<Workflow[]> {
  const current = [...workflows];
  const deadline = Date.now() + timeoutMs;
  let waiting = current.map((w, i) => (machine.isReady(w) ? -1 : i)).filter((i) => i >= 0);
  while (waiting.length > 0) {
    if (Date.now() > deadline) throw new Error(`${waiting.length} of ${workflows.length} ${machine.id} workflows not ready for their loop events after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50)); // polling the server; nothing to subscribe to that says "ready"
    await runClosedLoop({
      total: waiting.length,
      concurrency: 32,
      op: async (_w, _k, j) => {
        const i = waiting[j]!;
        const res = await client.getWorkflow({ id: current[i]!.id });
        current[i] = res.workflow!;
      },
    });
    waiting = waiting.filter((i) => !machine.isReady(current[i]!));
  }
  return current;
}
