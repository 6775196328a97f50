import { assign, setup } from 'xstate';
import { defineWorkflow, tool } from '../../../src/engine/machine-kit.js';
import type { JsonValue } from '../../../src/engine/json.js';

interface ProbeContext {
  label: string;
  count: number;
  delayMs: number;
  lastResult: JsonValue;
  lastError: JsonValue;
}

type ProbeEvent =
  | { type: 'probe.bump'; by?: number }
  | { type: 'probe.go' }
  | { type: 'probe.abandon' }
  | { type: 'probe.wait' }
  | { type: 'probe.stopWaiting' }
  | { type: 'probe.finish' }
  | { type: 'probe.explode' };

/**
 * A small machine for engine tests: counter self-transitions, a tool task (`test.job`) that can
 * be abandoned, a timer (`after probeDelay`) that can be left before it fires, and a final state.
 */
export const probeMachine = setup({
  types: {} as { context: ProbeContext; events: ProbeEvent; input: { label: string; delayMs?: number } },
  actors: { 'test.job': tool<{ n: number }, JsonValue>() },
  delays: { probeDelay: ({ context }) => context.delayMs },
}).createMachine({
  id: 'probe',
  context: ({ input }) => ({ label: input?.label ?? '', count: 0, delayMs: input?.delayMs ?? 60_000, lastResult: null, lastError: null }),
  initial: 'idle',
  states: {
    idle: {
      on: {
        'probe.bump': { actions: assign({ count: ({ context, event }) => context.count + (event.by ?? 1) }) },
        'probe.go': 'working',
        'probe.wait': 'waiting',
        'probe.finish': 'finished',
        'probe.explode': {
          actions: assign({
            count: () => {
              throw new Error('boom');
            },
          }),
        },
      },
    },
    working: {
      invoke: {
        id: 'job',
        src: 'test.job',
        input: ({ context }) => ({ n: context.count }),
        onDone: { target: 'idle', actions: assign({ lastResult: ({ event }) => event.output, count: ({ context }) => context.count + 1 }) },
        onError: { target: 'idle', actions: assign({ lastError: ({ event }) => event.error as JsonValue }) },
      },
      on: { 'probe.abandon': 'idle' },
    },
    waiting: {
      after: { probeDelay: { target: 'idle', actions: assign({ count: ({ context }) => context.count + 100 }) } },
      on: { 'probe.stopWaiting': 'idle', 'probe.wait': { target: 'waiting', reenter: true } },
    },
    finished: { type: 'final' },
  },
  output: ({ context }) => ({ count: context.count }),
});

export const probe = defineWorkflow({
  id: 'probe',
  version: 1,
  description: 'engine test machine',
  machine: probeMachine,
  inputSchema: {
    type: 'object',
    required: ['label'],
    properties: { label: { type: 'string', minLength: 1, maxLength: 50 }, delayMs: { type: 'integer', minimum: 1 } },
  },
  eventSchemas: { 'probe.bump': { type: 'object', properties: { by: { type: 'integer', minimum: 1, maximum: 1000 } } } },
});
