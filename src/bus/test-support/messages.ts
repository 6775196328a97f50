import type { TransitionMessage } from '../../engine/ports/event-bus.js';

/** A transition message for tests. */
export function transition(workflowId: string, version: number, extra: Partial<TransitionMessage> = {}): TransitionMessage {
  return {
    workflowId,
    version,
    machineId: 'test.machine',
    machineVersion: 1,
    status: 'running',
    state: { step: `s${version}` },
    eventType: 'test.event',
    at: new Date(0).toISOString(),
    ...extra,
  };
}
