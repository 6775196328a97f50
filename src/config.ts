import type { LogLevel } from './telemetry/logger.js';
import { HostAllowList } from './tools/http/host-allow-list.js';
import { loadToolPolicyOverrides } from './tools/policy/tool-policy-config.js';
import type { ToolPolicyOverrides } from './tools/policy/tool-policy-config.js';

/** Everything the service reads from its environment, validated once at start. */
export interface Config {
  readonly port: number;
  readonly host: string;
  /**
   * A second port (on `host`) serving only `GET /metrics`, for scraping from a network the RPC
   * port is not exposed to; undefined when METRICS_PORT is unset or 0. /metrics is also always
   * served on the RPC port.
   */
  readonly metricsPort: number | undefined;
  /** Postgres connection string; unset means the embedded PGlite store. */
  readonly databaseUrl: string | undefined;
  /** PGlite data directory, or ':memory:' for a throw-away store (tests). */
  readonly dataDir: string;
  /** Postgres schema to keep the tables in (created when missing). */
  readonly databaseSchema: string;
  readonly databasePoolSize: number;
  /** A Postgres query with no answer after this fails with `unavailable`, in ms; 0: no bound. */
  readonly databaseQueryTimeoutMs: number;
  /** Redis connection string; unset means the in-process bus. */
  readonly redisUrl: string | undefined;
  readonly logLevel: LogLevel;
  /** Origins allowed to call from a browser; ['*'] allows any. */
  readonly corsOrigins: readonly string[];
  /** Largest request message accepted, in bytes. */
  readonly maxRequestBytes: number;
  /** Largest deadline a client may ask for, in ms. */
  readonly maxTimeoutMs: number;
  /** How long in-flight calls may take to finish on shutdown, in ms. */
  readonly shutdownGraceMs: number;
  /** How long start-up keeps retrying an unreachable database or Redis, in ms. */
  readonly startupTimeoutMs: number;
  /** How often the store is probed for the health status, in ms. */
  readonly healthIntervalMs: number;
  /** How long a claimed tool task stays leased without renewal; a dead replica's tasks run again after it, in ms. */
  readonly taskLeaseMs: number;
  /** How long a claimed due timer is ours before another replica may fire it, in ms. */
  readonly timerLeaseMs: number;
  /** How far ahead of their due time timers are claimed and held in memory, in ms (0: only due ones). */
  readonly timerLookaheadMs: number;
  /**
   * Modules loaded at start, resolved from the working directory (for tests and extensions).
   * Each may export `machines: WorkflowDefinition[]` and `tools: Record<string, ToolAdapter>`.
   */
  readonly extraModules: readonly string[];
  /**
   * Fault injection for crash tests: SIGKILL this process right after its n-th committed
   * transition, before that transition is published or its effects start. Unset: never.
   */
  readonly faultKillAfterCommit: number | undefined;
  /** Hosts (`host`, `host:port`, `*.domain`) the `http.request` tool may call; empty: none. */
  readonly httpToolAllowedHosts: readonly string[];
  /** OpenAI-compatible API base of `llm.chat`, including `/v1` (`<base>/chat/completions` is called). */
  readonly llmBaseUrl: string | undefined;
  readonly llmModel: string | undefined;
  /** Sent as a bearer token; never logged. */
  readonly llmApiKey: string | undefined;
  /**
   * Where traces go, from the standard OpenTelemetry variables: `otlp` when OTEL_TRACES_EXPORTER
   * is `otlp`, or unset with an OTLP endpoint set (OTEL_EXPORTER_OTLP_ENDPOINT or
   * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT); `console` when asked for; undefined (tracing off) otherwise,
   * or when OTEL_SDK_DISABLED=true. The SDK reads the other OTEL_* variables itself.
   */
  readonly tracesExporter: 'otlp' | 'console' | undefined;
  /** Per-tool policy overrides from TOOL_POLICIES_FILE (JSON) and TOOL_POLICY_<TOOL>_<FIELD> env. */
  readonly toolPolicies: ToolPolicyOverrides;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

export function loadConfig(env: Env = process.env): Config {
  return Object.freeze({
    port: integer(env, 'PORT', 8002, 0, 65535),
    host: text(env, 'HOST', '0.0.0.0'),
    metricsPort: integer(env, 'METRICS_PORT', 0, 0, 65535) || undefined,
    databaseUrl: url(env, 'DATABASE_URL', ['postgres:', 'postgresql:']),
    dataDir: text(env, 'DATA_DIR', './data/pglite'),
    databaseSchema: identifier(env, 'DATABASE_SCHEMA', 'public'),
    databasePoolSize: integer(env, 'DATABASE_POOL_SIZE', 10, 1, 1000),
    databaseQueryTimeoutMs: integer(env, 'DATABASE_QUERY_TIMEOUT_MS', 0, 0, 24 * 60 * 60 * 1000),
    redisUrl: url(env, 'REDIS_URL', ['redis:', 'rediss:']),
    logLevel: oneOf(env, 'LOG_LEVEL', ['debug', 'info', 'warn', 'error'] as const, 'info'),
    corsOrigins: list(env, 'CORS_ORIGINS', ['*']),
    maxRequestBytes: integer(env, 'MAX_REQUEST_BYTES', 4 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    maxTimeoutMs: integer(env, 'MAX_TIMEOUT_MS', 10 * 60 * 1000, 1, 24 * 60 * 60 * 1000),
    shutdownGraceMs: integer(env, 'SHUTDOWN_GRACE_MS', 10_000, 0, 10 * 60 * 1000),
    startupTimeoutMs: integer(env, 'STARTUP_TIMEOUT_MS', 60_000, 0, 60 * 60 * 1000),
    healthIntervalMs: integer(env, 'HEALTH_INTERVAL_MS', 2_000, 50, 10 * 60 * 1000),
    taskLeaseMs: integer(env, 'TASK_LEASE_MS', 30_000, 100, 24 * 60 * 60 * 1000),
    timerLeaseMs: integer(env, 'TIMER_LEASE_MS', 30_000, 100, 24 * 60 * 60 * 1000),
    timerLookaheadMs: integer(env, 'TIMER_LOOKAHEAD_MS', 1_000, 0, 60_000),
    extraModules: list(env, 'EXTRA_MODULES', []),
    faultKillAfterCommit: raw(env, 'FAULT_KILL_AFTER_COMMIT') === undefined ? undefined : integer(env, 'FAULT_KILL_AFTER_COMMIT', 0, 1, Number.MAX_SAFE_INTEGER),
    httpToolAllowedHosts: allowedHosts(env, 'HTTP_TOOL_ALLOWED_HOSTS'),
    llmBaseUrl: url(env, 'LLM_BASE_URL', ['http:', 'https:']),
    llmModel: raw(env, 'LLM_MODEL'),
    llmApiKey: raw(env, 'LLM_API_KEY'),
    toolPolicies: toolPolicies(env),
    tracesExporter: tracesExporter(env),
  });
}

function raw(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === '' ? undefined : value;
}

function text(env: Env, name: string, fallback: string): string {
  return raw(env, name) ?? fallback;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  const parsed = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, got '${value}'`);
  }
  return parsed;
}

function url(env: Env, name: string, protocols: string[]): string | undefined {
  const value = raw(env, name);
  if (value === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new ConfigError(`${name} is not a URL (expected ${protocols[0]}//host:port/...)`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(`${name} must start with ${protocols.map((p) => p + '//').join(' or ')}, got '${parsed.protocol}//'`);
  }
  return value;
}

function identifier(env: Env, name: string, fallback: string): string {
  const value = raw(env, name) ?? fallback;
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(value)) {
    throw new ConfigError(`${name} must be a lower-case SQL identifier, got '${value}'`);
  }
  return value;
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new ConfigError(`${name} must be one of ${allowed.join(', ')}, got '${value}'`);
  }
  return value as T;
}

function list(env: Env, name: string, fallback: string[]): string[] {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  return value.split(',').map((s) => s.trim()).filter(Boolean);
}

function allowedHosts(env: Env, name: string): string[] {
  const hosts = list(env, name, []);
  try {
    new HostAllowList(hosts);
  } catch (error) {
    throw new ConfigError(`${name}: ${(error as Error).message}`);
  }
  return hosts;
}

function tracesExporter(env: Env): 'otlp' | 'console' | undefined {
  if (raw(env, 'OTEL_SDK_DISABLED')?.toLowerCase() === 'true') return undefined;
  const chosen = raw(env, 'OTEL_TRACES_EXPORTER');
  if (chosen === undefined) {
    const endpoint = url(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', ['http:', 'https:']) ?? url(env, 'OTEL_EXPORTER_OTLP_ENDPOINT', ['http:', 'https:']);
    return endpoint === undefined ? undefined : 'otlp';
  }
  const exporter = oneOf(env, 'OTEL_TRACES_EXPORTER', ['otlp', 'console', 'none'] as const, 'none');
  return exporter === 'none' ? undefined : exporter;
}

function toolPolicies(env: Env): ToolPolicyOverrides {
  try {
    return loadToolPolicyOverrides(env, raw(env, 'TOOL_POLICIES_FILE'));
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
}
