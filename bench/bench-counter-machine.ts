import { assign, setup } from 'xstate';
import { defineWorkflow } from '../src/engine/machine-kit.js';

/**
 * The benchmark's machine, loaded into the server with EXTRA_MODULES (it is not a shipped
 * workflow). Without `timerMs` it rests in `counting`, where `counter.increment` is one
 * transition with no effects: the cheapest durable transition. With `timerMs` it arms one timer
 * and finishes when it fires, for the timers benchmark.
 */
const benchCounterMachine = setup({
  types: {} as { context: { count: number; timerMs: number | null }; events: { type: 'counter.increment' }; input: { timerMs?: number } },
  delays: { benchTimer: ({ context }) => context.timerMs ?? 0 },
  guards: { hasTimer: ({ context }) => context.timerMs !== null },
}).createMachine({
  id: 'bench-counter',
  context: ({ input }) => ({ count: 0, timerMs: input?.timerMs ?? null }),
  initial: 'starting',
  states: {
    starting: { always: [{ guard: 'hasTimer', target: 'waiting' }, { target: 'counting' }] },
    counting: { on: { 'counter.increment': { actions: assign({ count: ({ context }) => context.count + 1 }) } } },
    waiting: { after: { benchTimer: 'fired' } },
    fired: { type: 'final' },
  },
});

export const machines = [
  defineWorkflow({
    id: 'bench-counter',
    version: 1,
    description: 'Benchmark machine: a counter (one transition per event) or a single timer.',
    machine: benchCounterMachine,
    inputSchema: {
      type: 'object',
      additionalProperties: false,
      properties: { timerMs: { type: 'integer', minimum: 1, maximum: 86_400_000 } },
    },
    eventSchemas: { 'counter.increment': { type: 'object', properties: {} } },
  }),
];
