import { assign, setup } from 'xstate';
import type { MachineConfig } from 'xstate';
import type { WorkflowStartInput } from '../src/engine/child-workflows.js';
import type { JsonValue } from '../src/engine/json.js';
import { defineWorkflow, tool } from '../src/engine/machine-kit.js';
import type { ChatOutput } from './agent-plan.js';
import { incidentTriage, incidentTriageMachine } from './incident-triage.js';
import type { IncidentContext, IncidentInput, Severity } from './incident-triage.js';

export interface IncidentV2Input extends IncidentInput {
  /** Start an agent-task child workflow to investigate while the incident is open. */
  investigate?: boolean;
}

export interface IncidentV2Context extends IncidentContext {
  investigate: boolean;
  /** The investigating agent's output, or its failure. */
  investigation: JsonValue;
}

const SEVERITIES: readonly Severity[] = ['sev1', 'sev2', 'sev3', 'sev4'];
type Done<T> = { output: T };
type Failed = { error: unknown };

/** The chat request that asks the model to rate an incident. */
function classifyMessages(c: IncidentContext) {
  const system = 'You rate software incidents. Answer with one JSON object and nothing else: {"severity": "sev1"|"sev2"|"sev3"|"sev4", "reason": string}. sev1: outage or data at risk; sev2: errors or degraded service; sev3: slowness; sev4: no customer impact.';
  const user = `Service: ${c.service}\nTitle: ${c.title}\nDescription: ${c.description}${c.reported ? `\nThe reporter says: ${c.reported}` : ''}`;
  return { messages: [{ role: 'system', content: system }, { role: 'user', content: user }], temperature: 0, responseFormat: { type: 'json_object' } };
}

/** The model's rating, or null when its answer is not one. A severity given by the reporter still wins. */
function ratingOf(output: ChatOutput | undefined, reported: Severity | null): { severity: Severity; reason: string } | null {
  let rating: { severity?: unknown; reason?: unknown } | null;
  try {
    rating = JSON.parse(output?.message?.content ?? '') as typeof rating;
  } catch {
    return null;
  }
  if (typeof rating !== 'object' || rating === null || !SEVERITIES.includes(rating.severity as Severity)) return null;
  if (reported) return { severity: reported, reason: 'severity set by the reporter' };
  return { severity: rating.severity as Severity, reason: typeof rating.reason === 'string' ? rating.reason : '' };
}

const v1 = incidentTriageMachine.config as MachineConfig<IncidentContext, never> & { states: Record<string, any>; context: (a: { input: IncidentInput }) => IncidentContext };
const fallback = assign({ severity: ({ context }) => (context as IncidentContext).reported ?? 'sev2' });

/**
 * incident-triage version 2: version 1 (reused as is, see `incidentTriageMachine.config`) on the
 * real adapters, plus an investigation:
 * - classification asks the model (`llm.chat`); with no model configured (`not_configured`) it
 *   uses the local keyword classifier `llm.classify` as version 1 did; a model failure or an
 *   unreadable answer rates the incident as reported, else sev2, so a response never stalls;
 * - with `investigate: true`, an `agent-task` child workflow (`workflow.start`) investigates while
 *   the incident is open; its output lands in `investigation`. Leaving `open` (mitigated,
 *   resolved) cancels a child still running.
 */
export const incidentTriageV2Machine = setup({
  types: {} as { context: IncidentV2Context; events: Parameters<typeof incidentTriageMachine.transition>[1]; input: IncidentV2Input },
  actors: {
    'llm.chat': tool<ReturnType<typeof classifyMessages>, ChatOutput>(),
    'llm.classify': tool<{ title: string; description: string; reported?: Severity }, { severity: Severity; reason: string }>(),
    'notify.page': tool<{ service: string; title: string; level: 'primary' | 'secondary' }, { delivered: boolean; target: string }>(),
    'notify.status': tool<{ title: string; message: string }, { posted: boolean }>(),
    'workflow.start': tool<WorkflowStartInput, JsonValue>(),
  },
  guards: {
    canPostUpdate: ({ context }) => context.updates < context.maxUpdates,
    isReadableRating: ({ context, event }) => ratingOf((event as unknown as Done<ChatOutput>).output, context.reported) !== null,
    isModelMissing: ({ event }) => ((event as unknown as Failed).error as { code?: unknown } | null)?.code === 'not_configured',
    wantsInvestigation: ({ context }) => context.investigate && context.investigation === null,
  },
  delays: {
    ackTimeout: ({ context }) => context.ackTimeoutMs,
    updateInterval: ({ context }) => context.updateIntervalMs,
    monitorPeriod: ({ context }) => context.monitorMs,
  },
}).createMachine(config());

/**
 * Version 1's config with classification and investigation replaced, built as plain data (the
 * config of a machine is data with action objects and named guards), so nothing of version 1 is
 * copied or changed: its definition and hash stay as they were.
 */
function config(): any {
  return {
  ...v1,
  context: ({ input }: { input: IncidentV2Input }) => ({ ...v1.context({ input }), investigate: input?.investigate ?? false, investigation: null }),
  states: {
    ...v1.states,
    triage: {
      ...v1.states.triage,
      states: {
        ...v1.states.triage.states,
        classification: {
          initial: 'classifying',
          states: {
            classifying: {
              invoke: {
                id: 'classifier',
                src: 'llm.chat',
                input: ({ context }: { context: IncidentContext }) => classifyMessages(context),
                onDone: [
                  {
                    guard: 'isReadableRating',
                    target: 'classified',
                    actions: assign(({ context, event }) => {
                      const rating = ratingOf(event.output as ChatOutput, (context as IncidentContext).reported)!;
                      return { severity: rating.severity, severityReason: rating.reason };
                    }),
                  },
                  { target: 'classified', actions: [fallback, assign({ severityReason: 'the model answer was not a rating' })] },
                ],
                onError: [
                  { guard: 'isModelMissing', target: 'classifyingLocally' },
                  { target: 'classified', actions: [fallback, assign({ severityReason: 'classification failed' })] },
                ],
              },
            },
            // Version 1's classifier, under its own invoke id.
            classifyingLocally: {
              invoke: { ...v1.states.triage.states.classification.states.classifying.invoke, id: 'localClassifier' },
            },
            classified: { type: 'final' },
          },
        },
      },
    },
    open: {
      ...v1.states.open,
      states: {
        ...v1.states.open.states,
        investigation: {
          initial: 'deciding',
          states: {
            deciding: { always: [{ guard: 'wantsInvestigation', target: 'investigating' }, { target: 'idle' }] },
            investigating: {
              invoke: {
                id: 'investigator',
                src: 'workflow.start',
                input: ({ context }: { context: IncidentContext }) => ({
                  machineId: 'agent-task',
                  input: { goal: `Investigate "${context.title}" on ${context.service}. ${context.description}`.trim().slice(0, 2000), requireApproval: false },
                }),
                onDone: { target: 'idle', actions: assign({ investigation: ({ event }) => event.output as JsonValue }) },
                onError: { target: 'idle', actions: assign({ investigation: ({ event }) => ({ failed: event.error as JsonValue }) }) },
              },
            },
            idle: {},
          },
        },
      },
    },
  },
  output: ({ context }: { context: IncidentV2Context }) => ({ ...(v1.output as (a: { context: IncidentContext }) => object)({ context }), investigation: context.investigation }),
  };
}

export const incidentTriageV2 = defineWorkflow({
  id: 'incident-triage',
  version: 2,
  description: 'Incident response (version 1) classified by a model (llm.chat; the keyword classifier when no model is configured), optionally investigated by an agent-task child workflow.',
  machine: incidentTriageV2Machine,
  inputSchema: { ...incidentTriage.inputSchema, properties: { ...incidentTriage.inputSchema.properties, investigate: { type: 'boolean' } } },
  ...(incidentTriage.eventSchemas ? { eventSchemas: incidentTriage.eventSchemas } : {}),
});
