/**
 * How one tool's calls are protected. Every field has a default (`DEFAULT_TOOL_POLICY`);
 * configuration overrides single fields (see tool-policy-config.ts).
 */
export interface ToolPolicyOptions {
  /** One attempt is aborted after this long (its AbortSignal fires) and counts as a timeout. */
  readonly attemptTimeoutMs: number;
  /** The whole call, waits and retries included, is aborted after this long. */
  readonly totalTimeoutMs: number;
  /** Retries after the first attempt, for retryable errors only: 3 means at most 4 attempts. 0 disables retry. */
  readonly maxRetries: number;
  /** First backoff delay; each retry doubles it, up to `backoffMaxMs`, with equal jitter (a delay d waits between d/2 and d). */
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  /** A `Retry-After` longer than this is not waited for: the call fails at once. */
  readonly maxRetryAfterMs: number;
  /** `consecutive`: open after `breakerThreshold` failures in a row; `sampling`: when the failed share over `breakerSamplingMs` exceeds `breakerThreshold` (0 < t < 1). */
  readonly breaker: 'consecutive' | 'sampling';
  readonly breakerThreshold: number;
  readonly breakerSamplingMs: number;
  /** Sampling breaker only: below this many calls per second it never opens. */
  readonly breakerMinimumRps: number;
  /** How long an open breaker fails fast before letting one test call through (half-open). */
  readonly breakerHalfOpenMs: number;
  /** Calls of this tool running at once in this process. */
  readonly maxConcurrent: number;
  /** Calls waiting for a slot; one more is refused (`bulkhead_full`). 0: refuse at once when full. */
  readonly maxQueue: number;
}

export const DEFAULT_TOOL_POLICY: ToolPolicyOptions = Object.freeze({
  attemptTimeoutMs: 10_000,
  totalTimeoutMs: 60_000,
  maxRetries: 3,
  backoffInitialMs: 200,
  backoffMaxMs: 10_000,
  maxRetryAfterMs: 30_000,
  breaker: 'consecutive',
  breakerThreshold: 5,
  breakerSamplingMs: 30_000,
  breakerMinimumRps: 1,
  breakerHalfOpenMs: 30_000,
  maxConcurrent: 32,
  maxQueue: 128,
});

/** Built-in per-tool defaults, applied over the general ones (models are slow). */
export const BUILTIN_TOOL_DEFAULTS: Readonly<Record<string, Partial<ToolPolicyOptions>>> = Object.freeze({
  'llm.chat': { attemptTimeoutMs: 120_000, totalTimeoutMs: 300_000, maxRetryAfterMs: 60_000, maxConcurrent: 8 },
});

type FieldSpec = { kind: 'int'; min: number; max: number } | { kind: 'number'; min: number; max: number } | { kind: 'enum'; values: readonly string[] };

const DAY = 24 * 60 * 60 * 1000;

/** Each field's type and range: the one place values from files and env are checked. */
export const TOOL_POLICY_FIELDS: Readonly<Record<keyof ToolPolicyOptions, FieldSpec>> = Object.freeze({
  attemptTimeoutMs: { kind: 'int', min: 1, max: DAY },
  totalTimeoutMs: { kind: 'int', min: 1, max: DAY },
  maxRetries: { kind: 'int', min: 0, max: 100 },
  backoffInitialMs: { kind: 'int', min: 0, max: DAY },
  backoffMaxMs: { kind: 'int', min: 0, max: DAY },
  maxRetryAfterMs: { kind: 'int', min: 0, max: DAY },
  breaker: { kind: 'enum', values: ['consecutive', 'sampling'] },
  breakerThreshold: { kind: 'number', min: 0, max: 1_000_000 },
  breakerSamplingMs: { kind: 'int', min: 1, max: DAY },
  breakerMinimumRps: { kind: 'number', min: 0.001, max: 1_000_000 },
  breakerHalfOpenMs: { kind: 'int', min: 1, max: DAY },
  maxConcurrent: { kind: 'int', min: 1, max: 100_000 },
  maxQueue: { kind: 'int', min: 0, max: 1_000_000 },
});

/** A bad policy setting; the message names where it came from and what is allowed. */
export class ToolPolicyConfigError extends Error {
  override readonly name = 'ToolPolicyConfigError';
}

/** Checks one field's value (already a number or string); throws `ToolPolicyConfigError` naming `where`. */
export function checkField(field: string, value: unknown, where: string): number | string {
  const spec = (TOOL_POLICY_FIELDS as Record<string, FieldSpec | undefined>)[field];
  if (!spec) throw new ToolPolicyConfigError(`${where}: unknown policy field '${field}' (known: ${Object.keys(TOOL_POLICY_FIELDS).join(', ')})`);
  if (spec.kind === 'enum') {
    if (typeof value !== 'string' || !spec.values.includes(value)) throw new ToolPolicyConfigError(`${where}: must be one of ${spec.values.join(', ')}, got ${JSON.stringify(value)}`);
    return value;
  }
  const ok = typeof value === 'number' && Number.isFinite(value) && value >= spec.min && value <= spec.max && (spec.kind === 'number' || Number.isInteger(value));
  if (!ok) throw new ToolPolicyConfigError(`${where}: must be a ${spec.kind === 'int' ? 'whole number' : 'number'} from ${spec.min} to ${spec.max}, got ${JSON.stringify(value)}`);
  return value as number;
}

/** Checks rules between fields of a merged policy; throws `ToolPolicyConfigError` naming the tool. */
export function checkPolicy(tool: string, policy: ToolPolicyOptions): ToolPolicyOptions {
  if (policy.breaker === 'consecutive' && (!Number.isInteger(policy.breakerThreshold) || policy.breakerThreshold < 1)) {
    throw new ToolPolicyConfigError(`tool '${tool}': breakerThreshold must be a whole number >= 1 for a consecutive breaker, got ${policy.breakerThreshold}`);
  }
  if (policy.breaker === 'sampling' && !(policy.breakerThreshold > 0 && policy.breakerThreshold < 1)) {
    throw new ToolPolicyConfigError(`tool '${tool}': breakerThreshold must be a share in (0, 1) for a sampling breaker, got ${policy.breakerThreshold}`);
  }
  if (policy.backoffMaxMs < policy.backoffInitialMs) {
    throw new ToolPolicyConfigError(`tool '${tool}': backoffMaxMs (${policy.backoffMaxMs}) is below backoffInitialMs (${policy.backoffInitialMs})`);
  }
  return policy;
}
