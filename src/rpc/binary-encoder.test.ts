import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create, createFileRegistry, protoInt64, ScalarType, toBinary, type DescField, type DescMessage } from '@bufbuild/protobuf';
import {
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  file_google_protobuf_struct,
  file_google_protobuf_wrappers,
  FileDescriptorProtoSchema,
  type FieldDescriptorProto,
} from '@bufbuild/protobuf/wkt';
import { file_grpc_health_v1_health } from '../../gen/grpc/health/v1/health_pb.js';
import { file_grpc_reflection_v1_reflection } from '../../gen/grpc/reflection/v1/reflection_pb.js';
import { file_health_v1_health } from '../../gen/health/v1/health_pb.js';
import { file_info_v1_info } from '../../gen/info/v1/info_pb.js';
import { file_orchestrator_v1_orchestrator, HistoryEntrySchema, SendEventResponseSchema } from '../../gen/orchestrator/v1/orchestrator_pb.js';
import { encodeBinary } from './binary-encoder.js';
import { historyEntryMessage, workflowMessage } from './workflow-messages.js';

/**
 * encodeBinary must write exactly the bytes protobuf-es's toBinary writes: every message of the
 * service's files, and a synthetic one with every scalar type, packed and unpacked lists, maps,
 * oneofs, wrappers and Struct/Value/ListValue, filled at random (seeded) with edge values.
 */
describe('encodeBinary', () => {
  const files = [file_orchestrator_v1_orchestrator, file_health_v1_health, file_info_v1_info, file_grpc_health_v1_health, file_grpc_reflection_v1_reflection];

  it("writes toBinary's bytes for random messages of every type the service declares", () => {
    const random = seeded(7);
    let compared = 0;
    for (const file of files) {
      for (const desc of file.messages) {
        for (let i = 0; i < 60; i++) {
          const message = create(desc, randomInit(desc, random, 0));
          assertSameBytes(desc, message);
          compared++;
        }
      }
    }
    assert.ok(compared > 1_000, 'compared more than 1,000 messages');
  });

  it("writes toBinary's bytes for every scalar type, list, map, oneof, wrapper and Struct", () => {
    const random = seeded(11);
    const kitchen = kitchenSink();
    for (let i = 0; i < 500; i++) assertSameBytes(kitchen, create(kitchen, randomInit(kitchen, random, 0)));
  });

  it('writes what the server answers: a Workflow and a HistoryEntry', () => {
    const at = new Date(Date.UTC(2026, 10, 26, 9, 30, 15, 123));
    const workflow = workflowMessage({
      id: 'w-1',
      machineId: 'agent',
      machineVersion: 2,
      status: 'active',
      state: { working: 'thinking' },
      context: { count: 17, name: 'naïve ☃ 𝄞', nested: { list: [1, 'two', null, true, { deep: [] }] }, none: null },
      output: undefined,
      error: undefined,
      version: 18,
      createdAt: at,
      updatedAt: at,
      timers: [{ id: 'xstate.after.5000.agent.waiting', dueAt: at }],
      tasks: [{ id: 't1', actorId: 'llm', src: 'llm.chat', status: 'running', attempts: 2 }],
      acceptedEvents: ['counter.increment', 'cancel'],
      parentWorkflowId: undefined,
    } as never);
    assertSameBytes(SendEventResponseSchema, create(SendEventResponseSchema, { workflow }));
    const entry = historyEntryMessage({ workflowId: 'w-1', version: 18, eventType: 'go', event: { type: 'go', n: -0.5 }, eventId: null, fromState: null, toState: 'done', status: 'done', context: {}, at } as never);
    assertSameBytes(HistoryEntrySchema, entry);
  });

  it('hands what it does not write itself to toBinary: unknown fields, and values toBinary refuses', () => {
    const kitchen = kitchenSink();
    const withUnknown = create(kitchen, { u32: 5 });
    (withUnknown as { $unknown?: unknown[] }).$unknown = [{ no: 99, wireType: 0, data: new Uint8Array([7]) }];
    assertSameBytes(kitchen, withUnknown);
    for (const [field, value] of [['u32', -1], ['i32', 2 ** 31], ['f', 1e39], ['u64', -1n]] as const) {
      const message = create(kitchen);
      (message as Record<string, unknown>)[field] = value;
      assert.throws(() => toBinary(kitchen, message));
      assert.throws(() => encodeBinary(kitchen, message), (error: Error) => {
        assert.throws(() => toBinary(kitchen, message), { message: error.message });
        return true;
      });
    }
  });
});

function assertSameBytes(desc: DescMessage, message: object): void {
  const expected = toBinary(desc, message as never);
  const actual = encodeBinary(desc, message);
  assert.deepEqual(Buffer.from(actual).toString('hex'), Buffer.from(expected).toString('hex'), `${desc.typeName}: ${JSON.stringify(message, (_, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))}`);
}

type Random = () => number;

function seeded(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = <T>(random: Random, values: readonly T[]): T => values[Math.floor(random() * values.length)]!;

const STRINGS = ['', 'a', 'workflow', 'naïve', '☃ snow', '𝄞 clef', 'lone \ud800 high', 'lone \udc00 low', 'x'.repeat(200), 'é'.repeat(70)];
const INT32 = [0, 1, -1, 127, 128, 16_383, 16_384, 2 ** 31 - 1, -(2 ** 31), 300];
const UINT32 = [0, 1, 127, 128, 2 ** 21, 2 ** 28, 2 ** 32 - 1];
const DOUBLES = [0, -0, 1.5, -2.25, Number.NaN, Infinity, -Infinity, 1e300, 5e-324];
const FLOATS = [0, -0, 1.5, -2.25, Number.NaN, Infinity, 3.4e38];
const INT64 = ['0', '1', '-1', '127', '128', '4294967295', '4294967296', '9223372036854775807', '-9223372036854775808', '-300'];
const UINT64 = ['0', '1', '127', '128', '4294967296', '18446744073709551615', '34359738368'];

function randomScalar(type: ScalarType, random: Random): unknown {
  switch (type) {
    case ScalarType.STRING:
      return pick(random, STRINGS);
    case ScalarType.BYTES:
      return new Uint8Array(Math.floor(random() * 4) * 70).map((_, i) => i);
    case ScalarType.BOOL:
      return random() < 0.5;
    case ScalarType.DOUBLE:
      return pick(random, DOUBLES);
    case ScalarType.FLOAT:
      return pick(random, FLOATS);
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return pick(random, INT32);
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return pick(random, UINT32);
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return protoInt64.parse(pick(random, INT64));
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return protoInt64.uParse(pick(random, UINT64));
  }
}

function randomJson(random: Random, depth: number): unknown {
  const kind = Math.floor(random() * (depth > 2 ? 5 : 8));
  switch (kind) {
    case 0:
      return null;
    case 1:
      return pick(random, DOUBLES.filter((d) => Number.isFinite(d)));
    case 2:
      return pick(random, STRINGS);
    case 3:
      return random() < 0.5;
    case 4:
      return undefined;
    case 5:
    case 6:
      return Array.from({ length: Math.floor(random() * 4) }, () => randomJson(random, depth + 1));
    default:
      return randomObject(random, depth + 1);
  }
}

function randomObject(random: Random, depth: number): Record<string, unknown> {
  const object: Record<string, unknown> = {};
  for (let i = Math.floor(random() * 4); i > 0; i--) object[pick(random, [...STRINGS, '1', '0', 'b', '10'])] = randomJson(random, depth);
  return object;
}

function randomSingle(field: DescField, random: Random, depth: number): unknown {
  switch (field.fieldKind) {
    case 'scalar':
      return randomScalar(field.scalar, random);
    case 'enum':
      return random() < 0.8 ? pick(random, field.enum.values).number : pick(random, [7, -3, 1_000]);
    case 'message':
      return randomMessageValue(field, field.message, random, depth);
    default:
      throw new Error(field.fieldKind);
  }
}

function randomMessageValue(field: DescField, message: DescMessage, random: Random, depth: number): unknown {
  if (message.typeName === 'google.protobuf.Struct' && field.parent.typeName !== 'google.protobuf.Value') return randomObject(random, depth);
  if (field.fieldKind === 'message' && !field.oneof && message.typeName.startsWith('google.protobuf.') && message.typeName.endsWith('Value') && message.fields.length === 1) {
    return randomScalar(message.fields[0]!.scalar!, random); // a wrapper: the bare value
  }
  return create(message, randomInit(message, random, depth + 1));
}

function randomInit(desc: DescMessage, random: Random, depth: number): Record<string, unknown> {
  const init: Record<string, unknown> = {};
  if (depth > 2) return init;
  for (const oneof of desc.oneofs) {
    if (random() < 0.25) continue;
    const field = pick(random, oneof.fields);
    init[oneof.localName] = { case: field.localName, value: randomSingle(field, random, depth) };
  }
  for (const field of desc.fields) {
    if (field.oneof || random() < 0.2) continue;
    if (field.fieldKind === 'list') {
      init[field.localName] = Array.from({ length: Math.floor(random() * 4) }, () =>
        field.listKind === 'message'
          ? randomMessageValue(field, field.message, random, depth)
          : field.listKind === 'enum'
            ? pick(random, field.enum.values).number
            : randomScalar(field.scalar, random),
      );
    } else if (field.fieldKind === 'map') {
      const map: Record<string, unknown> = {};
      for (let i = Math.floor(random() * 4); i > 0; i--) {
        map[pick(random, STRINGS)] =
          field.mapKind === 'message'
            ? randomMessageValue(field, field.message, random, depth)
            : field.mapKind === 'enum'
              ? pick(random, field.enum.values).number
              : randomScalar(field.scalar, random);
      }
      init[field.localName] = map;
    } else {
      // Zero values often: implicit presence leaves them off the wire.
      init[field.localName] = field.fieldKind === 'scalar' && random() < 0.3 ? undefined : randomSingle(field, random, depth);
    }
  }
  return init;
}

type FieldInit = Omit<Partial<FieldDescriptorProto>, '$typeName'>;

/** A proto3 message with every field shape the encoder handles, built at run time. */
function kitchenSink(): DescMessage {
  const T = FieldDescriptorProto_Type;
  const scalars: [string, FieldDescriptorProto_Type][] = [
    ['d', T.DOUBLE], ['f', T.FLOAT], ['i64', T.INT64], ['u64', T.UINT64], ['i32', T.INT32], ['fx64', T.FIXED64], ['fx32', T.FIXED32],
    ['b', T.BOOL], ['s', T.STRING], ['by', T.BYTES], ['u32', T.UINT32], ['sf32', T.SFIXED32], ['sf64', T.SFIXED64], ['s32', T.SINT32], ['s64', T.SINT64],
  ];
  const fields: FieldInit[] = [];
  let number = 1;
  for (const [name, type] of scalars) {
    fields.push({ name, number: number++, type });
    fields.push({ name: `${name}_list`, number: number++, type, label: FieldDescriptorProto_Label.REPEATED });
  }
  fields.push({ name: 'unpacked', number: number++, type: T.INT32, label: FieldDescriptorProto_Label.REPEATED, options: { $typeName: 'google.protobuf.FieldOptions', packed: false } as never });
  fields.push({ name: 'color', number: number++, type: T.ENUM, typeName: '.kitchen.Color' });
  fields.push({ name: 'colors', number: number++, type: T.ENUM, typeName: '.kitchen.Color', label: FieldDescriptorProto_Label.REPEATED });
  fields.push({ name: 'child', number: number++, type: T.MESSAGE, typeName: '.kitchen.Sink' });
  fields.push({ name: 'children', number: number++, type: T.MESSAGE, typeName: '.kitchen.Sink', label: FieldDescriptorProto_Label.REPEATED });
  for (const [name, typeName] of [['struct', 'Struct'], ['value', 'Value'], ['list_value', 'ListValue'], ['i64_wrapper', 'Int64Value'], ['text_wrapper', 'StringValue'], ['u32_wrapper', 'UInt32Value'], ['bytes_wrapper', 'BytesValue'], ['double_wrapper', 'DoubleValue']]) {
    fields.push({ name: name!, number: number++, type: T.MESSAGE, typeName: `.google.protobuf.${typeName}` });
  }
  fields.push({ name: 'structs', number: number++, type: T.MESSAGE, typeName: '.google.protobuf.Struct', label: FieldDescriptorProto_Label.REPEATED });
  fields.push({ name: 'wrappers', number: number++, type: T.MESSAGE, typeName: '.google.protobuf.Int32Value', label: FieldDescriptorProto_Label.REPEATED });
  for (const [name, entry] of [['by_name', 'ByNameEntry'], ['sinks', 'SinksEntry'], ['structs_by_name', 'StructsByNameEntry'], ['colors_by_name', 'ColorsByNameEntry']]) {
    fields.push({ name: name!, number: number++, type: T.MESSAGE, typeName: `.kitchen.Sink.${entry}`, label: FieldDescriptorProto_Label.REPEATED });
  }
  const choice = number;
  fields.push({ name: 'pick_text', number: number++, type: T.STRING, oneofIndex: 0 });
  fields.push({ name: 'pick_number', number: number++, type: T.SINT64, oneofIndex: 0 });
  fields.push({ name: 'pick_struct', number: number++, type: T.MESSAGE, typeName: '.google.protobuf.Struct', oneofIndex: 0 });
  fields.push({ name: 'pick_wrapper', number: number++, type: T.MESSAGE, typeName: '.google.protobuf.StringValue', oneofIndex: 0 });
  fields.push({ name: 'pick_sink', number: number++, type: T.MESSAGE, typeName: '.kitchen.Sink', oneofIndex: 0 });
  fields.push({ name: 'maybe', number: number++, type: T.UINT32, oneofIndex: 1, proto3Optional: true });
  assert.ok(number > choice, 'the oneof fields got numbers');
  const entry = (name: string, value: FieldInit) => ({
    name,
    field: [{ name: 'key', number: 1, type: T.STRING, label: FieldDescriptorProto_Label.OPTIONAL }, { name: 'value', number: 2, label: FieldDescriptorProto_Label.OPTIONAL, ...value }],
    options: { $typeName: 'google.protobuf.MessageOptions', mapEntry: true } as never,
  });
  const file = create(FileDescriptorProtoSchema, {
    name: 'kitchen.proto',
    package: 'kitchen',
    syntax: 'proto3',
    dependency: ['google/protobuf/struct.proto', 'google/protobuf/wrappers.proto'],
    enumType: [{ name: 'Color', value: [{ name: 'COLOR_UNSPECIFIED', number: 0 }, { name: 'COLOR_RED', number: 1 }, { name: 'COLOR_NEGATIVE', number: -2 }] }],
    messageType: [
      {
        name: 'Sink',
        field: fields.map((f) => ({ label: FieldDescriptorProto_Label.OPTIONAL, jsonName: undefined, ...f })),
        oneofDecl: [{ name: 'pick' }, { name: '_maybe' }],
        nestedType: [
          entry('ByNameEntry', { type: T.INT64 }),
          entry('SinksEntry', { type: T.MESSAGE, typeName: '.kitchen.Sink' }),
          entry('StructsByNameEntry', { type: T.MESSAGE, typeName: '.google.protobuf.Struct' }),
          entry('ColorsByNameEntry', { type: T.ENUM, typeName: '.kitchen.Color' }),
        ],
      },
    ],
  });
  const registry = createFileRegistry(file, (name) =>
    name === 'google/protobuf/struct.proto' ? file_google_protobuf_struct : name === 'google/protobuf/wrappers.proto' ? file_google_protobuf_wrappers : undefined,
  );
  return registry.getMessage('kitchen.Sink')!;
}
