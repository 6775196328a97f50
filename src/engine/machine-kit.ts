import { fromPromise } from 'xstate';
import type { AnyStateMachine, PromiseActorLogic } from 'xstate';
import type { JsonSchema } from './json-schema.js';

const TOOL = Symbol.for('orchestrator.tool');

/** The actor logic of a tool: typed input and output, and no body. */
export type ToolLogic<TInput, TOutput> = PromiseActorLogic<TOutput, TInput>;

/**
 * Declares a tool for `setup({ actors: { 'llm.chat': tool<In, Out>() } })`. The key is the
 * tool's `src`, which the engine maps to a tool adapter. The logic never runs in-process:
 * the engine computes transitions with xstate's pure `transition()`, which does not start
 * actors, and runs the tool as a durable task after commit. If a machine is ever run as a
 * live actor (a test or a REPL), invoking it fails with an error, so `onError` is taken.
 */
export function tool<TInput, TOutput>(): ToolLogic<TInput, TOutput> {
  const logic = fromPromise<TOutput, TInput>(() =>
    Promise.reject(new Error('tools run only inside the workflow engine, as durable tasks')),
  );
  Object.defineProperty(logic, TOOL, { value: true });
  return logic;
}

/** Whether `logic` was made by `tool()`: the only actor logic the engine can run. */
export function isToolLogic(logic: unknown): boolean {
  return typeof logic === 'object' && logic !== null && (logic as Record<symbol, unknown>)[TOOL] === true;
}

/**
 * A shipped workflow: a machine plus what clients need to use it. `(id, version)` names it
 * for good; a running instance stays on the version it started with. To change behaviour,
 * add a new version and keep the old one loaded while instances of it live.
 */
export interface WorkflowDefinition<TMachine extends AnyStateMachine = AnyStateMachine> {
  readonly id: string;
  /** Positive integer; bump it for any change of the machine. */
  readonly version: number;
  readonly description: string;
  /** JSON Schema (subset, see json-schema.ts) of the start input; checked before the machine sees it. */
  readonly inputSchema: JsonSchema;
  /** Optional JSON Schemas of client event payloads, by event type; events not listed are not checked. */
  readonly eventSchemas?: Readonly<Record<string, JsonSchema>>;
  readonly machine: TMachine;
}

/** Identity with type inference, so a machine file reads as one declaration. */
export function defineWorkflow<TMachine extends AnyStateMachine>(definition: WorkflowDefinition<TMachine>): WorkflowDefinition<TMachine> {
  return Object.freeze(definition);
}
