import { Code, ConnectError, type Client } from '@connectrpc/connect';
import type { JsonObject } from '@bufbuild/protobuf';
import type { OrchestratorService, Workflow } from '../gen/orchestrator/v1/orchestrator_pb.js';
import { PartUnavailableError } from './part-unavailable-error.js';

export type OrchestratorClient = Client<typeof OrchestratorService>;

/** How the harness drives one shipped machine: the only place that knows machine specifics. */
export interface BenchMachine {
  readonly id: string;
  /** Input of a workflow that loops on client events and arms no timer that could fire during a run. */
  loopInput(): JsonObject;
  /** Whether the workflow accepts its loop events now (some machines run start-up tasks first). */
  isReady(workflow: Workflow): boolean;
  /** Event number `step` (0, 1, ...) of one workflow's loop; every event is one transition. */
  loopEvent(step: number): { type: string; payload: JsonObject };
  /** For the timers part: input of a workflow that arms one timer due after `timerMs`, and leaves `timerState` when it fires. */
  readonly timer?: { input(timerMs: number): JsonObject; waitingState: string };
}

/**
 * The machine the benchmarks are meant for (bench/bench-counter-machine.ts, loaded by
 * bench-server.ts with EXTRA_MODULES): `bench-counter` v1, input `{ timerMs?: integer }`. Without `timerMs` it rests in `counting`,
 * where `counter.increment` adds one to `context.count` and stays (one transition, no effects);
 * with it, it waits in `waiting` with `after: timerMs -> fired` (final).
 */
export const benchCounter: BenchMachine = {
  id: 'bench-counter',
  loopInput: () => ({}),
  isReady: (w) => w.acceptedEvents.includes('counter.increment'),
  loopEvent: () => ({ type: 'counter.increment', payload: {} }),
  timer: { input: (timerMs) => ({ timerMs }), waitingState: 'waiting' },
};

const WEEK = 7 * 24 * 3_600_000;
const INCIDENT_LOOP: { type: string; payload: JsonObject }[] = [
  { type: 'incident.acknowledged', payload: { by: 'bench' } },
  { type: 'incident.mitigated', payload: { summary: 'bench' } },
  { type: 'incident.regressed', payload: {} },
];

/**
 * Fallback while bench-counter is not shipped: incident-triage loops acknowledged -> mitigated ->
 * regressed -> open. Heavier than a counter (parallel regions; each step arms or cancels timers,
 * set a week out so none fires) and it runs two tool tasks before it accepts the loop.
 */
export const incidentTriageLoop: BenchMachine = {
  id: 'incident-triage',
  loopInput: () => ({ title: 'bench', service: 'bench', severity: 'sev4', ackTimeoutMs: WEEK, updateIntervalMs: WEEK, monitorMs: WEEK }),
  isReady: (w) => w.acceptedEvents.includes('incident.acknowledged'),
  loopEvent: (step) => INCIDENT_LOOP[step % INCIDENT_LOOP.length]!,
};

const KNOWN = [benchCounter, incidentTriageLoop];

/**
 * Picks the machine to drive: `wanted` by id, or with 'auto' bench-counter if the server ships
 * it, else incident-triage. Throws PartUnavailableError when the server does not serve
 * OrchestratorService yet, or does not ship the machine, or (needTimer) the machine cannot arm
 * a timer at a chosen time.
 */
export async function pickBenchMachine(client: OrchestratorClient, wanted: string, needTimer = false): Promise<BenchMachine> {
  let shipped: string[];
  try {
    shipped = (await client.listMachines({})).machines.map((m) => m.id);
  } catch (error) {
    if (error instanceof ConnectError && error.code === Code.Unimplemented) {
      throw new PartUnavailableError('the server does not serve orchestrator.v1.OrchestratorService yet (ListMachines: unimplemented)');
    }
    throw error;
  }
  const candidates = wanted === 'auto' ? KNOWN : KNOWN.filter((m) => m.id === wanted);
  if (candidates.length === 0) throw new PartUnavailableError(`the harness does not know how to drive machine '${wanted}' (known: ${KNOWN.map((m) => m.id).join(', ')})`);
  const usable = candidates.filter((m) => shipped.includes(m.id) && (!needTimer || m.timer));
  if (usable.length === 0) {
    const why = needTimer ? 'machine whose timer can be set to a chosen time (bench-counter, input timerMs)' : `${candidates.map((m) => m.id).join(' or ')} machine`;
    throw new PartUnavailableError(`the server ships no ${why}; shipped: ${shipped.join(', ') || 'none'}`);
  }
  return usable[0]!;
}
