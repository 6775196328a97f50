import { assign, setup } from 'xstate';
import { defineWorkflow, tool } from '../src/engine/machine-kit.js';
import type { JsonValue } from '../src/engine/json.js';

export type Severity = 'sev1' | 'sev2' | 'sev3' | 'sev4';

export interface IncidentInput {
  title: string;
  service: string;
  description?: string;
  /** A severity the reporter is sure of; the classifier keeps it. */
  severity?: Severity;
  /** Unacknowledged this long: page the secondary on-call. */
  ackTimeoutMs?: number;
  /** Interval between status updates while the incident is open. */
  updateIntervalMs?: number;
  /** At most this many status updates; then updates stop. */
  maxUpdates?: number;
  /** How long a mitigated incident is watched before it counts as resolved. */
  monitorMs?: number;
}

export interface IncidentContext {
  title: string;
  service: string;
  description: string;
  reported: Severity | null;
  severity: Severity | null;
  severityReason: string;
  ackTimeoutMs: number;
  updateIntervalMs: number;
  maxUpdates: number;
  monitorMs: number;
  paged: boolean;
  pageError: JsonValue | null;
  escalations: number;
  acknowledgedBy: string | null;
  mitigation: string | null;
  updates: number;
  regressions: number;
  resolution: string | null;
}

export type IncidentEvent =
  | { type: 'incident.acknowledged'; by: string }
  | { type: 'incident.mitigated'; summary: string }
  | { type: 'incident.regressed'; reason?: string }
  | { type: 'incident.resolved'; reason: string };

type Page = { service: string; title: string; level: 'primary' | 'secondary' };
const MINUTE = 60_000;

/**
 * Incident response. Triage runs classification (a model) and paging the primary on-call in
 * parallel. While open, two regions run side by side: the response (acknowledge within
 * `ackTimeoutMs` or the secondary is paged; then mitigate) and periodic status updates. A
 * mitigated incident is monitored for `monitorMs` and resolves unless it regresses. It can be
 * closed as resolved at any time before monitoring (e.g. a false alarm).
 */
export const incidentTriageMachine = setup({
  types: {} as { context: IncidentContext; events: IncidentEvent; input: IncidentInput },
  actors: {
    'llm.classify': tool<{ title: string; description: string; reported?: Severity }, { severity: Severity; reason: string }>(),
    'notify.page': tool<Page, { delivered: boolean; target: string }>(),
    'notify.status': tool<{ title: string; message: string }, { posted: boolean }>(),
  },
  guards: {
    canPostUpdate: ({ context }) => context.updates < context.maxUpdates,
  },
  delays: {
    ackTimeout: ({ context }) => context.ackTimeoutMs,
    updateInterval: ({ context }) => context.updateIntervalMs,
    monitorPeriod: ({ context }) => context.monitorMs,
  },
}).createMachine({
  id: 'incident-triage',
  context: ({ input }) => ({
    title: input?.title ?? '',
    service: input?.service ?? '',
    description: input?.description ?? '',
    reported: input?.severity ?? null,
    severity: null,
    severityReason: '',
    ackTimeoutMs: input?.ackTimeoutMs ?? 15 * MINUTE,
    updateIntervalMs: input?.updateIntervalMs ?? 30 * MINUTE,
    maxUpdates: input?.maxUpdates ?? 48,
    monitorMs: input?.monitorMs ?? 60 * MINUTE,
    paged: false,
    pageError: null,
    escalations: 0,
    acknowledgedBy: null,
    mitigation: null,
    updates: 0,
    regressions: 0,
    resolution: null,
  }),
  initial: 'triage',
  on: {
    'incident.resolved': { target: '.resolved', actions: assign({ resolution: ({ event }) => event.reason }) },
  },
  states: {
    triage: {
      type: 'parallel',
      onDone: 'open',
      states: {
        classification: {
          initial: 'classifying',
          states: {
            classifying: {
              invoke: {
                id: 'classifier',
                src: 'llm.classify',
                input: ({ context }) => ({ title: context.title, description: context.description, ...(context.reported ? { reported: context.reported } : {}) }),
                onDone: { target: 'classified', actions: assign({ severity: ({ event }) => event.output.severity, severityReason: ({ event }) => event.output.reason }) },
                // No classification is no reason to stall a response: assume it is serious.
                onError: { target: 'classified', actions: assign({ severity: ({ context }) => context.reported ?? 'sev2', severityReason: 'classification failed' }) },
              },
            },
            classified: { type: 'final' },
          },
        },
        paging: {
          initial: 'paging',
          states: {
            paging: {
              invoke: {
                id: 'pager',
                src: 'notify.page',
                input: ({ context }): Page => ({ service: context.service, title: context.title, level: 'primary' }),
                onDone: { target: 'paged', actions: assign({ paged: true }) },
                onError: { target: 'paged', actions: assign({ pageError: ({ event }) => event.error as JsonValue }) },
              },
            },
            paged: { type: 'final' },
          },
        },
      },
    },
    open: {
      type: 'parallel',
      states: {
        response: {
          initial: 'unacknowledged',
          states: {
            unacknowledged: {
              after: { ackTimeout: 'escalating' },
              on: { 'incident.acknowledged': { target: 'acknowledged', actions: assign({ acknowledgedBy: ({ event }) => event.by }) } },
            },
            escalating: {
              invoke: {
                id: 'escalation',
                src: 'notify.page',
                input: ({ context }): Page => ({ service: context.service, title: context.title, level: 'secondary' }),
                onDone: { target: 'escalated', actions: assign({ escalations: ({ context }) => context.escalations + 1 }) },
                onError: { target: 'escalated', actions: assign({ pageError: ({ event }) => event.error as JsonValue }) },
              },
              on: { 'incident.acknowledged': { target: 'acknowledged', actions: assign({ acknowledgedBy: ({ event }) => event.by }) } },
            },
            escalated: {
              on: { 'incident.acknowledged': { target: 'acknowledged', actions: assign({ acknowledgedBy: ({ event }) => event.by }) } },
            },
            acknowledged: {
              on: { 'incident.mitigated': { target: '#incident-triage.monitoring', actions: assign({ mitigation: ({ event }) => event.summary }) } },
            },
          },
        },
        updates: {
          initial: 'waiting',
          states: {
            waiting: { after: { updateInterval: [{ guard: 'canPostUpdate', target: 'posting' }, { target: 'muted' }] } },
            posting: {
              invoke: {
                id: 'statusUpdate',
                src: 'notify.status',
                input: ({ context }) => ({ title: context.title, message: `${context.severity ?? 'unrated'} incident on ${context.service} is open` }),
                onDone: { target: 'waiting', actions: assign({ updates: ({ context }) => context.updates + 1 }) },
                onError: { target: 'waiting', actions: assign({ updates: ({ context }) => context.updates + 1 }) },
              },
            },
            muted: {},
          },
        },
      },
    },
    monitoring: {
      after: { monitorPeriod: { target: 'resolved', actions: assign({ resolution: 'mitigated and stable' }) } },
      on: {
        'incident.regressed': { target: 'open', actions: assign({ regressions: ({ context }) => context.regressions + 1, acknowledgedBy: null }) },
      },
    },
    resolved: { type: 'final' },
  },
  output: ({ context }) => ({
    severity: context.severity,
    escalations: context.escalations,
    acknowledgedBy: context.acknowledgedBy,
    updates: context.updates,
    regressions: context.regressions,
    resolution: context.resolution,
  }),
});

export const incidentTriage = defineWorkflow({
  id: 'incident-triage',
  version: 1,
  description: 'Incident response: parallel triage (classify, page), acknowledgement with escalation, status updates, monitoring.',
  machine: incidentTriageMachine,
  inputSchema: {
    type: 'object',
    required: ['title', 'service'],
    additionalProperties: false,
    properties: {
      title: { type: 'string', minLength: 1, maxLength: 200 },
      service: { type: 'string', minLength: 1, maxLength: 100 },
      description: { type: 'string', maxLength: 4000 },
      severity: { type: 'string', enum: ['sev1', 'sev2', 'sev3', 'sev4'] },
      ackTimeoutMs: { type: 'integer', minimum: 1, maximum: 7 * 24 * 60 * MINUTE },
      updateIntervalMs: { type: 'integer', minimum: 1, maximum: 7 * 24 * 60 * MINUTE },
      maxUpdates: { type: 'integer', minimum: 0, maximum: 1000 },
      monitorMs: { type: 'integer', minimum: 1, maximum: 30 * 24 * 60 * MINUTE },
    },
  },
  eventSchemas: {
    'incident.acknowledged': { type: 'object', required: ['by'], properties: { by: { type: 'string', minLength: 1 } } },
    'incident.mitigated': { type: 'object', required: ['summary'], properties: { summary: { type: 'string', minLength: 1 } } },
    'incident.regressed': { type: 'object', properties: { reason: { type: 'string' } } },
    'incident.resolved': { type: 'object', required: ['reason'], properties: { reason: { type: 'string', minLength: 1 } } },
  },
});
