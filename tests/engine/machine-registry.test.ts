import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMachine, fromPromise, setup } from 'xstate';
import { MachineDefinitionError, MachineNotFoundError } from '../../src/engine/errors.js';
import { defineWorkflow, tool } from '../../src/engine/machine-kit.js';
import { MachineRegistry } from '../../src/engine/machine-registry.js';
import { validateJsonSchema } from '../../src/engine/json-schema.js';
import { shippedMachines } from '../../machines/index.js';

function counter(version: number, extraState = false) {
  const machine = setup({ actors: { 'x.do': tool<{ a: number }, number>() } }).createMachine({
    id: 'counter',
    initial: 'a',
    states: {
      a: { on: { 'c.next': 'b' } },
      b: { invoke: { id: 'doer', src: 'x.do', input: { a: 1 }, onDone: 'a', onError: 'a' }, on: { 'c.back': 'a' } },
      ...(extraState ? { c: {} } : {}),
    },
  });
  return defineWorkflow({ id: 'counter', version, description: 'test', inputSchema: { type: 'object' }, machine });
}

describe('MachineRegistry', () => {
  it('loads several versions side by side and gives the latest by default', () => {
    const registry = new MachineRegistry([counter(1), counter(2, true)]);
    assert.equal(registry.get('counter').info.version, 2);
    assert.equal(registry.get('counter', 1).info.version, 1);
    assert.deepEqual(registry.list().map((m) => `${m.info.id}@${m.info.version}`), ['counter@1', 'counter@2']);
    assert.notEqual(registry.get('counter', 1).hash, registry.get('counter', 2).hash);
  });

  it('refuses a different definition under a taken id and version, accepts the same one again', () => {
    const registry = new MachineRegistry([counter(1)]);
    assert.doesNotThrow(() => registry.register(counter(1)));
    assert.throws(() => registry.register(counter(1, true)), MachineDefinitionError);
  });

  it('hashes equal definitions equally and depends on the version', () => {
    const a = new MachineRegistry([counter(1)]).get('counter').hash;
    const b = new MachineRegistry([counter(1)]).get('counter').hash;
    assert.equal(a, b);
    assert.match(a, /^[0-9a-f]{64}$/);
    const c = new MachineRegistry([counter(3)]).get('counter').hash;
    assert.notEqual(a, c);
  });

  it('throws MachineNotFoundError for unknown ids and versions', () => {
    const registry = new MachineRegistry([counter(1)]);
    assert.throws(() => registry.get('nope'), MachineNotFoundError);
    assert.throws(() => registry.get('counter', 9), MachineNotFoundError);
  });

  it('lists the client events each state accepts, ancestors included, xstate events excluded', () => {
    const info = new MachineRegistry([counter(1)]).get('counter').info;
    assert.deepEqual(info.stateEvents, { a: ['c.next'], b: ['c.back'] });
    assert.equal((info.definition as { id: string }).id, 'counter');
  });

  it('refuses actors that would run in-process, invokes without id or onError, and unsupported schema keywords', () => {
    const inline = setup({ actors: { 'x.do': fromPromise(async () => 1) } }).createMachine({ id: 'm', initial: 'a', states: { a: {} } });
    assert.throws(() => new MachineRegistry([defineWorkflow({ id: 'm', version: 1, description: '', inputSchema: {}, machine: inline })]), /not a tool/);
    const noOnError = setup({ actors: { 'x.do': tool() } }).createMachine({ id: 'm', initial: 'a', states: { a: { invoke: { id: 'i', src: 'x.do' } } } });
    assert.throws(() => new MachineRegistry([defineWorkflow({ id: 'm', version: 1, description: '', inputSchema: {}, machine: noOnError })]), /no onError/);
    const noId = setup({ actors: { 'x.do': tool() } }).createMachine({ id: 'm', initial: 'a', states: { a: { invoke: { src: 'x.do', onError: 'a' } } } });
    assert.throws(() => new MachineRegistry([defineWorkflow({ id: 'm', version: 1, description: '', inputSchema: {}, machine: noId })]), /explicit id/);
    const plain = createMachine({ id: 'm', initial: 'a', states: { a: {} } });
    assert.throws(
      () => new MachineRegistry([defineWorkflow({ id: 'm', version: 1, description: '', inputSchema: { oneOf: [] } as never, machine: plain })]),
      /unsupported JSON Schema keywords #\/oneOf/,
    );
    assert.throws(() => new MachineRegistry([defineWorkflow({ id: 'Bad Id', version: 1, description: '', inputSchema: {}, machine: plain })]), /machine id/);
    assert.throws(() => new MachineRegistry([defineWorkflow({ id: 'm', version: 0, description: '', inputSchema: {}, machine: plain })]), /positive integer/);
  });

  it('accepts the shipped machines', () => {
    const registry = new MachineRegistry(shippedMachines);
    assert.deepEqual(registry.list().map((m) => `${m.info.id}@${m.info.version}`), ['agent-task@1', 'agent-task@2', 'incident-triage@1', 'incident-triage@2']);
    assert.deepEqual(registry.get('agent-task', 1).tools, ['llm.plan', 'tools.call']);
    assert.deepEqual([...registry.get('agent-task').tools].sort(), ['http.request', 'llm.chat', 'llm.plan', 'tools.call']);
  });

  it('keeps released definitions as they were (a change must ship as a new version)', () => {
    // Live instances are pinned to these hashes; start-up refuses to run when one changes.
    const registry = new MachineRegistry(shippedMachines);
    assert.equal(registry.get('agent-task', 1).hash, '6c88b51e8e91c066eb21897c5211676e7caefa6c99c42c366ad225c12d58960a');
    assert.equal(registry.get('incident-triage', 1).hash, '04d707f2ca62972b240cb7ae259d2bad3436f2dcde50f3bd0c6e9e19ac36ccd4');
  });
});

describe('validateJsonSchema', () => {
  const schema = {
    type: 'object' as const,
    required: ['goal'],
    additionalProperties: false,
    properties: {
      goal: { type: 'string' as const, minLength: 2, maxLength: 5 },
      steps: { type: 'integer' as const, minimum: 1, maximum: 3 },
      tools: { type: 'array' as const, maxItems: 2, items: { type: 'string' as const, enum: ['a', 'b'] } },
      nested: { type: 'object' as const, properties: { flag: { type: ['boolean', 'null'] as ('boolean' | 'null')[] } } },
    },
  };

  it('accepts a valid value', () => {
    assert.deepEqual(validateJsonSchema(schema, { goal: 'abc', steps: 2, tools: ['a'], nested: { flag: null } }), []);
  });

  it('names the path of every wrong field', () => {
    const violations = validateJsonSchema(schema, { goal: 'x', steps: 1.5, tools: ['a', 'c', 'b'], nested: { flag: 'yes' }, extra: 1 });
    assert.deepEqual(
      violations.map((v) => v.field),
      ['input.goal', 'input.steps', 'input.tools', 'input.tools[1]', 'input.nested.flag', 'input.extra'],
    );
    assert.match(violations[1]!.description, /must be an integer/);
    assert.deepEqual(validateJsonSchema(schema, {}).map((v) => `${v.field} ${v.description}`), ['input.goal is required']);
    assert.deepEqual(validateJsonSchema(schema, []).map((v) => v.field), ['input']);
  });
});
