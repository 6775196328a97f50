import { ScalarType, protoInt64, toBinary, type DescField, type DescMessage } from '@bufbuild/protobuf';
import { isWrapperDesc } from '@bufbuild/protobuf/wkt';

/**
 * The protobuf binary encoding of a message, byte for byte what protobuf-es's `toBinary` writes,
 * for the hot answers (a SendEvent's Workflow, a watcher's HistoryEntry). `toBinary` goes through
 * a reflective wrapper per message, a TextEncoder call and a new Uint8Array per string, and a
 * chunk list per nested message: 24 us and a third of the server's allocations at 128 in flight
 * for a 158-byte Workflow. This measures the message once (the sizes of nested messages, in
 * pre-order) and writes it into one buffer. What it does not handle (groups, unknown fields or
 * extensions, maps with non-string keys) and values `toBinary` would refuse go to `toBinary`,
 * which then answers or throws exactly as before. binary-encoder.test.ts compares the two.
 */
export function encodeBinary(desc: DescMessage, message: object): Uint8Array<ArrayBuffer> {
  const sizes: number[] = [];
  let size: number;
  try {
    size = measureMessage(desc, message as Fields, sizes);
  } catch {
    return toBinary(desc, message as never);
  }
  const writer = new Writer(size, sizes);
  writeMessage(writer, desc, message as Fields);
  return writer.bytes;
}

type Fields = Record<string, unknown>;

const IMPLICIT = 2; // google.protobuf.FeatureSet.FieldPresence
const VARINT = 0;
const BIT64 = 1;
const LEN = 2;
const BIT32 = 5;
const FLOAT32_MAX = 3.4028234663852886e38;
const STRUCT = 'google.protobuf.Struct';
const VALUE = 'google.protobuf.Value';

/** Fields in wire order (by number), per message type. */
const sortedFields = new WeakMap<DescMessage, DescField[]>();

function fieldsOf(desc: DescMessage): DescField[] {
  let fields = sortedFields.get(desc);
  if (!fields) {
    fields = [...desc.fields].sort((a, b) => a.number - b.number);
    sortedFields.set(desc, fields);
  }
  return fields;
}

/** The field's value if protobuf-es counts it as set (its `isSet`), else undefined. */
function setValue(message: Fields, field: DescField): unknown {
  if (field.oneof) {
    const oneof = message[field.oneof.localName] as { case?: string; value?: unknown };
    return oneof.case === field.localName ? oneof.value : undefined;
  }
  const value = message[field.localName];
  if (field.presence !== IMPLICIT) return value !== undefined && Object.prototype.hasOwnProperty.call(message, field.localName) ? value : undefined;
  switch (field.fieldKind) {
    case 'list':
      return (value as unknown[]).length > 0 ? value : undefined;
    case 'map':
      return Object.keys(value as object).length > 0 ? value : undefined;
    case 'enum':
      return value !== field.enum.values[0]!.number ? value : undefined;
    case 'scalar':
      return isZero(field.scalar, value) ? undefined : value;
    default:
      throw new Error('message field with implicit presence');
  }
}

function isZero(type: ScalarType, value: unknown): boolean {
  switch (type) {
    case ScalarType.BOOL:
      return value === false;
    case ScalarType.STRING:
      return value === '';
    case ScalarType.BYTES:
      return value instanceof Uint8Array && !value.byteLength;
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return Object.is(value, 0);
    default:
      return value == 0; // 0, 0n and "0", as protobuf-es compares
  }
}

/**
 * How a message-typed value is held locally: a JSON object for google.protobuf.Struct (except
 * inside google.protobuf.Value), the bare value for a wrapper in a singular field outside a
 * oneof, else a message. The same rules as protobuf-es's reflection.
 */
function localForm(field: DescField & { message: DescMessage }): LocalForm {
  let form = localForms.get(field);
  if (form === undefined) {
    if (field.message.typeName === STRUCT && field.parent.typeName !== VALUE) form = 'json';
    else if (field.fieldKind === 'message' && !field.oneof && isWrapperDesc(field.message)) form = 'wrapper';
    else form = 'message';
    localForms.set(field, form);
  }
  return form;
}

type LocalForm = 'json' | 'wrapper' | 'message';
const localForms = new WeakMap<DescField, LocalForm>();

// ---- measuring: the encoded size, pushing each nested message's size in pre-order ----

function measureMessage(desc: DescMessage, message: Fields, sizes: number[]): number {
  const unknown = message.$unknown as unknown[] | undefined;
  if (unknown?.length) throw new Error('unknown fields');
  let size = 0;
  for (const field of fieldsOf(desc)) {
    const value = setValue(message, field);
    if (value !== undefined) size += measureField(field, value, sizes);
  }
  return size;
}

function measureField(field: DescField, value: unknown, sizes: number[]): number {
  const tag = varintSize(field.number << 3);
  switch (field.fieldKind) {
    case 'scalar':
      return tag + measureScalar(field.scalar, value);
    case 'enum':
      return tag + measureScalar(ScalarType.INT32, value);
    case 'message':
      if (field.delimitedEncoding) throw new Error('group');
      return tag + measureNested(field, value, sizes);
    case 'list': {
      const items = value as unknown[];
      if (field.listKind === 'message') {
        if (field.delimitedEncoding) throw new Error('group');
        let size = 0;
        for (const item of items) size += tag + measureNested(field, item, sizes);
        return size;
      }
      const type = field.listKind === 'enum' ? ScalarType.INT32 : field.scalar;
      let size = 0;
      for (const item of items) size += measureScalar(type, item);
      if (field.packed) {
        sizes.push(size);
        return tag + varintSize(size) + size;
      }
      return size + tag * items.length;
    }
    case 'map': {
      if (field.mapKey !== ScalarType.STRING) throw new Error('map key');
      let size = 0;
      for (const [key, item] of Object.entries(value as Fields)) {
        const at = sizes.push(0) - 1;
        let entry = 1 + measureScalar(ScalarType.STRING, key);
        if (field.mapKind === 'message') entry += 1 + measureNested(field, item, sizes);
        else entry += 1 + measureScalar(field.mapKind === 'enum' ? ScalarType.INT32 : field.scalar, item);
        sizes[at] = entry;
        size += tag + varintSize(entry) + entry;
      }
      return size;
    }
  }
}

/** Length prefix + body of a message-typed value; the body's size goes to `sizes`. */
function measureNested(field: DescField & { message: DescMessage }, value: unknown, sizes: number[]): number {
  const at = sizes.push(0) - 1;
  const form = localForm(field);
  const size =
    form === 'json'
      ? measureJsonStruct(value as Fields, sizes)
      : form === 'wrapper'
        ? measureMessage(field.message, { value }, sizes)
        : measureMessage(field.message, value as Fields, sizes);
  sizes[at] = size;
  return varintSize(size) + size;
}

/** google.protobuf.Struct from JSON: map<string, Value> fields = 1, entries as protobuf-es writes them. */
function measureJsonStruct(json: Fields, sizes: number[]): number {
  let size = 0;
  for (const [key, item] of Object.entries(json)) {
    const at = sizes.push(0) - 1;
    const entry = 1 + measureScalar(ScalarType.STRING, key) + 1 + measureJsonValue(item, sizes);
    sizes[at] = entry;
    size += 1 + varintSize(entry) + entry;
  }
  return size;
}

/** A google.protobuf.Value from JSON, with its length prefix. */
function measureJsonValue(json: unknown, sizes: number[]): number {
  const at = sizes.push(0) - 1;
  let size = 0;
  switch (typeof json) {
    case 'number':
      size = 1 + 8;
      break;
    case 'string':
      size = 1 + measureScalar(ScalarType.STRING, json);
      break;
    case 'boolean':
      size = 1 + 1;
      break;
    case 'object':
      if (json === null) size = 1 + 1;
      else if (Array.isArray(json)) {
        const list = sizes.push(0) - 1;
        let values = 0;
        for (const item of json) values += 1 + measureJsonValue(item, sizes);
        sizes[list] = values;
        size = 1 + varintSize(values) + values;
      } else {
        const struct = sizes.push(0) - 1;
        const fields = measureJsonStruct(json as Fields, sizes);
        sizes[struct] = fields;
        size = 1 + varintSize(fields) + fields;
      }
      break;
    default:
      size = 0; // undefined and the like: a Value with no kind, as protobuf-es makes it
  }
  sizes[at] = size;
  return varintSize(size) + size;
}

function measureScalar(type: ScalarType, value: unknown): number {
  switch (type) {
    case ScalarType.STRING:
      if (typeof value !== 'string') throw new Error('string');
      return lengthDelimited(utf8Length(value));
    case ScalarType.BYTES:
      if (!(value instanceof Uint8Array)) throw new Error('bytes');
      return lengthDelimited(value.byteLength);
    case ScalarType.BOOL:
      return 1;
    case ScalarType.DOUBLE:
      return 8;
    case ScalarType.FIXED64:
      protoInt64.uEnc(value as bigint); // throws where toBinary would
      return 8;
    case ScalarType.SFIXED64:
      protoInt64.enc(value as bigint);
      return 8;
    case ScalarType.FLOAT:
      checkFloat32(value);
      return 4;
    case ScalarType.FIXED32:
      checkUint32(value);
      return 4;
    case ScalarType.SFIXED32:
      checkInt32(value);
      return 4;
    case ScalarType.UINT32:
      checkUint32(value);
      return varintSize(value as number);
    case ScalarType.INT32:
      checkInt32(value);
      return (value as number) < 0 ? 10 : varintSize(value as number);
    case ScalarType.SINT32:
      checkInt32(value);
      return varintSize(zigzag32(value as number));
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.UINT64: {
      const { lo, hi } = long(type, value);
      return varint64Size(lo, hi);
    }
  }
}

function lengthDelimited(length: number): number {
  return varintSize(length) + length;
}

function checkUint32(value: unknown): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new Error('uint32');
}

function checkInt32(value: unknown): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < -0x80000000 || value > 0x7fffffff) throw new Error('int32');
}

function checkFloat32(value: unknown): void {
  if (typeof value !== 'number' || (Number.isFinite(value) && (value > FLOAT32_MAX || value < -FLOAT32_MAX))) throw new Error('float');
}

function zigzag32(value: number): number {
  return ((value << 1) ^ (value >> 31)) >>> 0;
}

/** Low and high 32 bits as protobuf-es encodes the 64-bit types (sint64 zigzagged). */
function long(type: ScalarType, value: unknown): { lo: number; hi: number } {
  if (type === ScalarType.UINT64) return protoInt64.uEnc(value as bigint);
  const { lo, hi } = protoInt64.enc(value as bigint);
  if (type !== ScalarType.SINT64) return { lo, hi };
  const sign = hi >> 31;
  return { lo: ((lo << 1) ^ sign) >>> 0, hi: (((hi << 1) | (lo >>> 31)) ^ sign) >>> 0 };
}

function varintSize(value: number): number {
  return value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x200000 ? 3 : value < 0x10000000 ? 4 : 5;
}

function varint64Size(lo: number, hi: number): number {
  if (hi === 0) return varintSize(lo >>> 0);
  let size = 5; // the low 28 bits and the 4 bits that straddle both words take five groups at most
  for (let rest = hi >>> 3; rest > 0; rest >>>= 7) size++;
  return size;
}

/** UTF-8 length of a string as TextEncoder encodes it (a lone surrogate becomes U+FFFD). */
function utf8Length(text: string): number {
  let length = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) length += 1;
    else if (c < 0x800) length += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      length += 4;
      i++;
    } else length += 3;
  }
  return length;
}

// ---- writing, in the order measured ----

class Writer {
  readonly bytes: Uint8Array<ArrayBuffer>;
  readonly #view: DataView;
  readonly #sizes: number[];
  #next = 0;
  pos = 0;

  constructor(size: number, sizes: number[]) {
    this.bytes = new Uint8Array(size);
    this.#view = new DataView(this.bytes.buffer);
    this.#sizes = sizes;
  }

  /** The next nested size measured. */
  size(): number {
    return this.#sizes[this.#next++]!;
  }

  tag(number: number, wireType: number): void {
    this.varint(((number << 3) | wireType) >>> 0);
  }

  varint(value: number): void {
    while (value > 0x7f) {
      this.bytes[this.pos++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    this.bytes[this.pos++] = value;
  }

  varint64(lo: number, hi: number): void {
    for (let i = 0; i < 28; i += 7) {
      const shift = lo >>> i;
      const more = !(shift >>> 7 === 0 && hi === 0);
      this.bytes[this.pos++] = (more ? shift | 0x80 : shift) & 0xff;
      if (!more) return;
    }
    const middle = ((lo >>> 28) & 0x0f) | ((hi & 0x07) << 4);
    const more = hi >> 3 !== 0;
    this.bytes[this.pos++] = (more ? middle | 0x80 : middle) & 0xff;
    if (!more) return;
    for (let i = 3; i < 31; i += 7) {
      const shift = hi >>> i;
      const rest = !(shift >>> 7 === 0);
      this.bytes[this.pos++] = (rest ? shift | 0x80 : shift) & 0xff;
      if (!rest) return;
    }
    this.bytes[this.pos++] = (hi >>> 31) & 0x01;
  }

  int32(value: number): void {
    if (value >= 0) this.varint(value);
    else this.varint64(value >>> 0, 0xffffffff); // sign-extended: ten bytes
  }

  string(text: string): void {
    this.varint(utf8Length(text));
    const bytes = this.bytes;
    let pos = this.pos;
    for (let i = 0; i < text.length; i++) {
      let c = text.charCodeAt(i);
      if (c < 0x80) {
        bytes[pos++] = c;
        continue;
      }
      if (c < 0x800) {
        bytes[pos++] = 0xc0 | (c >> 6);
        bytes[pos++] = 0x80 | (c & 0x3f);
        continue;
      }
      if (c >= 0xd800 && c <= 0xdfff) {
        const next = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
        if (c <= 0xdbff && (next & 0xfc00) === 0xdc00) {
          c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
          i++;
          bytes[pos++] = 0xf0 | (c >> 18);
          bytes[pos++] = 0x80 | ((c >> 12) & 0x3f);
          bytes[pos++] = 0x80 | ((c >> 6) & 0x3f);
          bytes[pos++] = 0x80 | (c & 0x3f);
          continue;
        }
        c = 0xfffd;
      }
      bytes[pos++] = 0xe0 | (c >> 12);
      bytes[pos++] = 0x80 | ((c >> 6) & 0x3f);
      bytes[pos++] = 0x80 | (c & 0x3f);
    }
    this.pos = pos;
  }

  raw(data: Uint8Array): void {
    this.bytes.set(data, this.pos);
    this.pos += data.byteLength;
  }

  double(value: number): void {
    this.#view.setFloat64(this.pos, value, true);
    this.pos += 8;
  }

  float(value: number): void {
    this.#view.setFloat32(this.pos, value, true);
    this.pos += 4;
  }

  fixed32(value: number, signed: boolean): void {
    if (signed) this.#view.setInt32(this.pos, value, true);
    else this.#view.setUint32(this.pos, value, true);
    this.pos += 4;
  }

  fixed64(lo: number, hi: number): void {
    this.#view.setInt32(this.pos, lo, true);
    this.#view.setInt32(this.pos + 4, hi, true);
    this.pos += 8;
  }
}

function writeMessage(w: Writer, desc: DescMessage, message: Fields): void {
  for (const field of fieldsOf(desc)) {
    const value = setValue(message, field);
    if (value !== undefined) writeField(w, field, value);
  }
}

function writeField(w: Writer, field: DescField, value: unknown): void {
  switch (field.fieldKind) {
    case 'scalar':
      w.tag(field.number, wireTypeOf(field.scalar));
      writeScalar(w, field.scalar, value);
      return;
    case 'enum':
      w.tag(field.number, VARINT);
      w.int32(value as number);
      return;
    case 'message':
      w.tag(field.number, LEN);
      writeNested(w, field, value);
      return;
    case 'list': {
      const items = value as unknown[];
      if (field.listKind === 'message') {
        for (const item of items) {
          w.tag(field.number, LEN);
          writeNested(w, field, item);
        }
        return;
      }
      const type = field.listKind === 'enum' ? ScalarType.INT32 : field.scalar;
      if (field.packed) {
        w.tag(field.number, LEN);
        w.varint(w.size());
        for (const item of items) writeScalar(w, type, item);
        return;
      }
      for (const item of items) {
        w.tag(field.number, wireTypeOf(type));
        writeScalar(w, type, item);
      }
      return;
    }
    case 'map':
      for (const [key, item] of Object.entries(value as Fields)) {
        w.tag(field.number, LEN);
        w.varint(w.size());
        w.tag(1, LEN);
        w.string(key);
        if (field.mapKind === 'message') {
          w.tag(2, LEN);
          writeNested(w, field, item);
        } else {
          const type = field.mapKind === 'enum' ? ScalarType.INT32 : field.scalar;
          w.tag(2, wireTypeOf(type));
          writeScalar(w, type, item);
        }
      }
  }
}

function writeNested(w: Writer, field: DescField & { message: DescMessage }, value: unknown): void {
  w.varint(w.size());
  const form = localForm(field);
  if (form === 'json') writeJsonStruct(w, value as Fields);
  else if (form === 'wrapper') writeMessage(w, field.message, { value });
  else writeMessage(w, field.message, value as Fields);
}

function writeJsonStruct(w: Writer, json: Fields): void {
  for (const [key, item] of Object.entries(json)) {
    w.tag(1, LEN);
    w.varint(w.size());
    w.tag(1, LEN);
    w.string(key);
    w.tag(2, LEN);
    writeJsonValue(w, item);
  }
}

function writeJsonValue(w: Writer, json: unknown): void {
  w.varint(w.size());
  switch (typeof json) {
    case 'number':
      w.tag(2, BIT64);
      w.double(json);
      return;
    case 'string':
      w.tag(3, LEN);
      w.string(json);
      return;
    case 'boolean':
      w.tag(4, VARINT);
      w.varint(json ? 1 : 0);
      return;
    case 'object':
      if (json === null) {
        w.tag(1, VARINT);
        w.varint(0);
      } else if (Array.isArray(json)) {
        w.tag(6, LEN);
        w.varint(w.size());
        for (const item of json) {
          w.tag(1, LEN);
          writeJsonValue(w, item);
        }
      } else {
        w.tag(5, LEN);
        w.varint(w.size());
        writeJsonStruct(w, json as Fields);
      }
  }
}

function writeScalar(w: Writer, type: ScalarType, value: unknown): void {
  switch (type) {
    case ScalarType.STRING:
      w.string(value as string);
      return;
    case ScalarType.BYTES:
      w.varint((value as Uint8Array).byteLength);
      w.raw(value as Uint8Array);
      return;
    case ScalarType.BOOL:
      w.varint(value ? 1 : 0);
      return;
    case ScalarType.DOUBLE:
      w.double(value as number);
      return;
    case ScalarType.FLOAT:
      w.float(value as number);
      return;
    case ScalarType.FIXED32:
      w.fixed32(value as number, false);
      return;
    case ScalarType.SFIXED32:
      w.fixed32(value as number, true);
      return;
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64: {
      const { lo, hi } = type === ScalarType.FIXED64 ? protoInt64.uEnc(value as bigint) : protoInt64.enc(value as bigint);
      w.fixed64(lo, hi);
      return;
    }
    case ScalarType.UINT32:
      w.varint(value as number);
      return;
    case ScalarType.INT32:
      w.int32(value as number);
      return;
    case ScalarType.SINT32:
      w.varint(zigzag32(value as number));
      return;
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.UINT64: {
      const { lo, hi } = long(type, value);
      w.varint64(lo, hi);
    }
  }
}

function wireTypeOf(type: ScalarType): number {
  switch (type) {
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return LEN;
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return BIT64;
    case ScalarType.FLOAT:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      return BIT32;
    default:
      return VARINT;
  }
}
