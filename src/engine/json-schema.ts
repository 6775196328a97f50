import type { FieldViolation } from './errors.js';
import { isJsonObject } from './json.js';

type JsonType = 'object' | 'array' | 'string' | 'number' | 'integer' | 'boolean' | 'null';

/**
 * The JSON Schema subset machines describe their input (and event payloads) with:
 * type, properties, required, additionalProperties (boolean), enum, items,
 * minLength/maxLength, minimum/maximum, minItems/maxItems, plus description/default
 * for documentation. Anything else in a schema is rejected at registration.
 */
export interface JsonSchema {
  type?: JsonType | JsonType[];
  description?: string;
  default?: unknown;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean;
  enum?: unknown[];
  items?: JsonSchema;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
}

const KNOWN = new Set([
  'type', 'description', 'default', 'properties', 'required', 'additionalProperties', 'enum', 'items',
  'minLength', 'maxLength', 'minimum', 'maximum', 'minItems', 'maxItems', 'title', '$schema',
]);

/** Keywords this validator does not implement, so a schema never silently checks less than it says. */
export function unsupportedSchemaKeywords(schema: JsonSchema, path = '#'): string[] {
  const out = Object.keys(schema).filter((k) => !KNOWN.has(k)).map((k) => `${path}/${k}`);
  for (const [name, sub] of Object.entries(schema.properties ?? {})) out.push(...unsupportedSchemaKeywords(sub, `${path}/properties/${name}`));
  if (schema.items) out.push(...unsupportedSchemaKeywords(schema.items, `${path}/items`));
  return out;
}

/**
 * Checks `value` against `schema`; returns every violation, each naming the field path
 * (`input.tools[1]`) under `root`. An empty list means valid.
 */
export function validateJsonSchema(schema: JsonSchema, value: unknown, root = 'input'): FieldViolation[] {
  const out: FieldViolation[] = [];
  check(schema, value, root, out);
  return out;
}

function check(schema: JsonSchema, value: unknown, path: string, out: FieldViolation[]): void {
  const types = schema.type === undefined ? undefined : Array.isArray(schema.type) ? schema.type : [schema.type];
  if (types && !types.some((t) => hasType(value, t))) {
    out.push({ field: path, description: `must be ${types.map(article).join(' or ')}, got ${describe(value)}` });
    return;
  }
  if (schema.enum && !schema.enum.some((allowed) => JSON.stringify(allowed) === JSON.stringify(value))) {
    out.push({ field: path, description: `must be one of ${schema.enum.map((v) => JSON.stringify(v)).join(', ')}` });
  }
  if (typeof value === 'string') {
    const length = [...value].length;
    if (schema.minLength !== undefined && length < schema.minLength) out.push({ field: path, description: `must be at least ${schema.minLength} characters long` });
    if (schema.maxLength !== undefined && length > schema.maxLength) out.push({ field: path, description: `must be at most ${schema.maxLength} characters long` });
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) out.push({ field: path, description: `must be >= ${schema.minimum}` });
    if (schema.maximum !== undefined && value > schema.maximum) out.push({ field: path, description: `must be <= ${schema.maximum}` });
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) out.push({ field: path, description: `must have at least ${schema.minItems} items` });
    if (schema.maxItems !== undefined && value.length > schema.maxItems) out.push({ field: path, description: `must have at most ${schema.maxItems} items` });
    if (schema.items) value.forEach((item, i) => check(schema.items!, item, `${path}[${i}]`, out));
  }
  if (isJsonObject(value)) {
    for (const name of schema.required ?? []) {
      if (value[name] === undefined) out.push({ field: `${path}.${name}`, description: 'is required' });
    }
    for (const [name, item] of Object.entries(value)) {
      const sub = schema.properties?.[name];
      if (sub) check(sub, item, `${path}.${name}`, out);
      else if (schema.additionalProperties === false) out.push({ field: `${path}.${name}`, description: 'is not a known field' });
    }
  }
}

function hasType(value: unknown, type: JsonType): boolean {
  switch (type) {
    case 'object':
      return isJsonObject(value);
    case 'array':
      return Array.isArray(value);
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'null':
      return value === null;
    default:
      return typeof value === type;
  }
}

function article(type: JsonType): string {
  return type === 'object' || type === 'array' || type === 'integer' ? `an ${type}` : type === 'null' ? 'null' : `a ${type}`;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value === undefined) return 'nothing';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)}`.slice(0, 60);
}
