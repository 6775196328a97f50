import type { AnyStateMachine, AnyStateNode } from 'xstate';
import { definitionHash } from './definition-hash.js';
import { MachineDefinitionError, MachineNotFoundError } from './errors.js';
import type { JsonObject } from './json.js';
import { unsupportedSchemaKeywords } from './json-schema.js';
import { isToolLogic } from './machine-kit.js';
import type { WorkflowDefinition } from './machine-kit.js';
import type { MachineInfo } from './workflow-types.js';

/** A definition accepted by the registry, with what the engine derives from it once. */
export interface RegisteredMachine {
  readonly definition: WorkflowDefinition;
  readonly machine: AnyStateMachine;
  readonly hash: string;
  readonly info: MachineInfo;
  /** Tool `src` names the machine can invoke. */
  readonly tools: readonly string[];
}

const MACHINE_ID = /^[a-z][a-z0-9]*(?:[-_.][a-z0-9]+)*$/;

/**
 * Machines by `(id, version)`. Several versions of one id live side by side; `get(id)` without
 * a version gives the highest. Registering a different definition under a taken `(id, version)`
 * throws `MachineDefinitionError`; registering the same one again is a no-op.
 *
 * Registration also checks what the engine relies on: every actor is a `tool()` (nothing that
 * would have to run in-process), every invoke names a registered tool, has an explicit `id`
 * and an `onError`, and the input schema uses only supported keywords.
 */
export class MachineRegistry {
  readonly #byKey = new Map<string, RegisteredMachine>();
  readonly #versions = new Map<string, number[]>();

  constructor(definitions: Iterable<WorkflowDefinition> = []) {
    for (const definition of definitions) this.register(definition);
  }

  register(definition: WorkflowDefinition): RegisteredMachine {
    const { id, version } = definition;
    if (!MACHINE_ID.test(id)) throw new MachineDefinitionError(`machine id '${id}' must be lower-case words joined by - _ or .`);
    if (!Number.isSafeInteger(version) || version < 1) throw new MachineDefinitionError(`machine ${id}: version must be a positive integer, got ${version}`);
    const hash = definitionHash(definition.machine, version);
    const key = `${id}@${version}`;
    const existing = this.#byKey.get(key);
    if (existing) {
      if (existing.hash === hash) return existing;
      throw new MachineDefinitionError(`machine ${key} is already registered with a different definition; ship the change as a new version`, {
        machineId: id,
        version,
        registeredHash: existing.hash,
        newHash: hash,
      });
    }
    const tools = checkMachine(definition);
    const registered: RegisteredMachine = Object.freeze({ definition, machine: definition.machine, hash, tools, info: describe(definition, hash) });
    this.#byKey.set(key, registered);
    const versions = this.#versions.get(id) ?? [];
    versions.push(version);
    versions.sort((a, b) => a - b);
    this.#versions.set(id, versions);
    return registered;
  }

  /** The machine `(id, version)`, or the latest version of `id`; throws `MachineNotFoundError`. */
  get(id: string, version?: number): RegisteredMachine {
    const resolved = version ?? this.#versions.get(id)?.at(-1);
    const found = resolved === undefined ? undefined : this.#byKey.get(`${id}@${resolved}`);
    if (!found) throw new MachineNotFoundError(id, version);
    return found;
  }

  find(id: string, version: number): RegisteredMachine | undefined {
    return this.#byKey.get(`${id}@${version}`);
  }

  /** Every registered version, by id then version. */
  list(): RegisteredMachine[] {
    return [...this.#versions.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .flatMap(([id, versions]) => versions.map((v) => this.#byKey.get(`${id}@${v}`)!));
  }
}

function checkMachine(definition: WorkflowDefinition): string[] {
  const { id, machine } = definition;
  const where = `machine ${id}@${definition.version}`;
  const badKeywords = [definition.inputSchema, ...Object.values(definition.eventSchemas ?? {})].flatMap((s) => unsupportedSchemaKeywords(s));
  if (badKeywords.length) throw new MachineDefinitionError(`${where}: unsupported JSON Schema keywords ${badKeywords.join(', ')}`);
  const actors = machine.implementations.actors as Record<string, unknown>;
  for (const [src, logic] of Object.entries(actors)) {
    if (!isToolLogic(logic)) throw new MachineDefinitionError(`${where}: actor '${src}' is not a tool(); machines do no I/O and run no child logic in-process`);
  }
  for (const node of allStateNodes(machine.root)) {
    for (const invoke of node.invoke) {
      const config = invoke as unknown as { id?: string; src: string; onError?: unknown };
      if (!(config.src in actors)) throw new MachineDefinitionError(`${where}: state ${node.id} invokes '${config.src}', which is not a tool in setup({ actors })`);
      if (!(node.config.invoke && hasExplicitId(node.config.invoke, config.id))) {
        throw new MachineDefinitionError(`${where}: the invoke of '${config.src}' in state ${node.id} needs an explicit id`);
      }
      if (config.onError === undefined) throw new MachineDefinitionError(`${where}: the invoke '${config.id}' in state ${node.id} has no onError`);
    }
  }
  return Object.keys(actors).sort();
}

function hasExplicitId(invokeConfig: unknown, id: string | undefined): boolean {
  const configs = Array.isArray(invokeConfig) ? invokeConfig : [invokeConfig];
  return configs.some((c) => (c as { id?: unknown }).id === id && id !== undefined);
}

/** The root and every descendant state node, in document order. */
export function allStateNodes(root: AnyStateNode): AnyStateNode[] {
  const out: AnyStateNode[] = [root];
  for (const child of Object.values(root.states) as AnyStateNode[]) out.push(...allStateNodes(child));
  return out;
}

/** Event types a client may send: xstate's own (`xstate.*`) and the wildcard are the engine's. */
export function isClientEvent(type: string): boolean {
  return !type.startsWith('xstate.') && type !== '*';
}

function describe(definition: WorkflowDefinition, hash: string): MachineInfo {
  const stateEvents: Record<string, string[]> = {};
  for (const node of allStateNodes(definition.machine.root)) {
    if (node.path.length === 0) continue;
    const events = new Set<string>();
    for (let n: AnyStateNode | undefined = node; n; n = n.parent) for (const e of n.ownEvents) if (isClientEvent(e)) events.add(e);
    stateEvents[node.path.join('.')] = [...events].sort();
  }
  return Object.freeze({
    id: definition.id,
    version: definition.version,
    description: definition.description,
    definitionHash: hash,
    definition: JSON.parse(JSON.stringify(definition.machine.toJSON())) as JsonObject,
    inputSchema: JSON.parse(JSON.stringify(definition.inputSchema)) as JsonObject,
    stateEvents,
  });
}
