import { readFileSync } from 'node:fs';
import type { ToolPolicyOptions } from './tool-policy-options.js';
import { BUILTIN_TOOL_DEFAULTS, DEFAULT_TOOL_POLICY, TOOL_POLICY_FIELDS, ToolPolicyConfigError, checkField, checkPolicy } from './tool-policy-options.js';

type Overrides = Partial<Record<keyof ToolPolicyOptions, number | string>>;

/**
 * Policy overrides from configuration: `defaults` apply to every tool, `tools` by tool key
 * (`toolKey(name)`: `http.request` -> `HTTP_REQUEST`). Checked field by field when loaded.
 */
export interface ToolPolicyOverrides {
  readonly defaults: Overrides;
  readonly tools: Readonly<Record<string, Overrides>>;
}

export const NO_OVERRIDES: ToolPolicyOverrides = Object.freeze({ defaults: {}, tools: {} });

/** A tool name as it appears in env names: upper case, non-alphanumerics as `_`. */
export function toolKey(tool: string): string {
  return tool.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

const ENV_PREFIX = 'TOOL_POLICY_';
/** `attemptTimeoutMs` -> `ATTEMPT_TIMEOUT_MS`, longest first so suffix matching is unambiguous. */
const ENV_FIELDS = Object.keys(TOOL_POLICY_FIELDS)
  .map((field) => [field.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase(), field] as const)
  .sort((a, b) => b[0].length - a[0].length);

/**
 * Reads overrides from a JSON file (`TOOL_POLICIES_FILE`) and from env
 * `TOOL_POLICY_<TOOL>_<FIELD>` (`TOOL_POLICY_HTTP_REQUEST_MAX_RETRIES=5`,
 * `TOOL_POLICY_DEFAULT_ATTEMPT_TIMEOUT_MS=5000`); env wins over the file. The file:
 * `{ "defaults": { "maxRetries": 2 }, "tools": { "http.request": { "breaker": "sampling", ... } } }`.
 * Throws `ToolPolicyConfigError` with the file or variable name on any bad value or unknown field.
 */
export function loadToolPolicyOverrides(env: Record<string, string | undefined>, file?: string): ToolPolicyOverrides {
  const fromFile = file ? readPolicyFile(file) : NO_OVERRIDES;
  const defaults: Overrides = { ...fromFile.defaults };
  const tools: Record<string, Overrides> = {};
  for (const [key, value] of Object.entries(fromFile.tools)) tools[key] = { ...value };
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || raw === undefined || raw.trim() === '') continue;
    const rest = name.slice(ENV_PREFIX.length);
    const match = ENV_FIELDS.find(([suffix]) => rest.endsWith(`_${suffix}`) && rest.length > suffix.length + 1);
    if (!match) throw new ToolPolicyConfigError(`${name}: expected TOOL_POLICY_<TOOL|DEFAULT>_<FIELD> with FIELD one of ${ENV_FIELDS.map(([s]) => s).join(', ')}`);
    const [suffix, field] = match;
    const target = rest.slice(0, rest.length - suffix.length - 1);
    const spec = TOOL_POLICY_FIELDS[field as keyof ToolPolicyOptions];
    const value = spec.kind === 'enum' ? raw.trim() : /^-?\d+(\.\d+)?$/.test(raw.trim()) ? Number(raw.trim()) : raw.trim();
    const checked = checkField(field, value, name);
    if (target === 'DEFAULT') defaults[field as keyof ToolPolicyOptions] = checked;
    else (tools[target] ??= {})[field as keyof ToolPolicyOptions] = checked;
  }
  return Object.freeze({ defaults: Object.freeze(defaults), tools: Object.freeze(tools) });
}

function readPolicyFile(file: string): ToolPolicyOverrides {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ToolPolicyConfigError(`TOOL_POLICIES_FILE ${file}: cannot read it as JSON: ${(error as Error).message}`);
  }
  if (!isObject(parsed)) throw new ToolPolicyConfigError(`TOOL_POLICIES_FILE ${file}: expected an object with "defaults" and/or "tools"`);
  for (const key of Object.keys(parsed)) {
    if (key !== 'defaults' && key !== 'tools') throw new ToolPolicyConfigError(`TOOL_POLICIES_FILE ${file}: unknown key '${key}' (expected "defaults", "tools")`);
  }
  const defaults = section(parsed.defaults, `${file}: defaults`);
  const toolsRaw = parsed.tools ?? {};
  if (!isObject(toolsRaw)) throw new ToolPolicyConfigError(`TOOL_POLICIES_FILE ${file}: "tools" must be an object keyed by tool name`);
  const tools: Record<string, Overrides> = {};
  for (const [tool, value] of Object.entries(toolsRaw)) tools[toolKey(tool)] = section(value, `${file}: tools["${tool}"]`);
  return { defaults, tools };
}

function section(value: unknown, where: string): Overrides {
  if (value === undefined) return {};
  if (!isObject(value)) throw new ToolPolicyConfigError(`TOOL_POLICIES_FILE ${where}: expected an object of policy fields`);
  const out: Overrides = {};
  for (const [field, v] of Object.entries(value)) out[field as keyof ToolPolicyOptions] = checkField(field, v, `TOOL_POLICIES_FILE ${where}.${field}`);
  return out;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The policy of one tool: general defaults < configured defaults < built-in tool defaults <
 * configured tool overrides (the more specific setting wins). Throws `ToolPolicyConfigError`
 * when the merged policy is inconsistent.
 */
export function resolveToolPolicy(tool: string, overrides: ToolPolicyOverrides = NO_OVERRIDES): ToolPolicyOptions {
  const merged = {
    ...DEFAULT_TOOL_POLICY,
    ...overrides.defaults,
    ...BUILTIN_TOOL_DEFAULTS[tool],
    ...overrides.tools[toolKey(tool)],
  } as ToolPolicyOptions;
  return Object.freeze(checkPolicy(tool, merged));
}

/** Throws when overrides name tools that do not exist (a typo would silently do nothing). */
export function checkOverridesKnown(overrides: ToolPolicyOverrides, tools: readonly string[]): void {
  const known = new Map(tools.map((t) => [toolKey(t), t]));
  if (known.size !== tools.length) throw new ToolPolicyConfigError(`two tools share one policy key: ${tools.join(', ')}`);
  for (const key of Object.keys(overrides.tools)) {
    if (!known.has(key)) throw new ToolPolicyConfigError(`tool policy for unknown tool '${key}' (known: ${[...known.keys()].join(', ')})`);
  }
}
