/**
 * Why a tool call failed, as machines branch on it (`event.error.kind`):
 * - `timeout`: an attempt or the whole call ran out of time (retryable per attempt);
 * - `http`: the endpoint answered with an unexpected status (`status` set; 5xx, 408 and 429 retryable);
 * - `network`: connection refused or reset, DNS, socket closed (retryable);
 * - `circuit_open`: the tool's breaker is open, the call failed fast without running;
 * - `bulkhead_full`: too many calls of this tool running and queued, the call was refused;
 * - `invalid_input`: the input is wrong (never retried);
 * - `host_not_allowed`: `http.request` to a host outside the allow-list (never retried);
 * - `not_configured`: the tool lacks configuration (e.g. `LLM_BASE_URL`);
 * - `invalid_response`: the endpoint answered something unreadable;
 * - `cancelled`: the caller aborted (state left, workflow cancelled, engine stopping);
 * - `tool_error`: anything else an adapter threw (not retried).
 */
export type ToolErrorKind =
  | 'timeout'
  | 'http'
  | 'network'
  | 'circuit_open'
  | 'bulkhead_full'
  | 'invalid_input'
  | 'host_not_allowed'
  | 'not_configured'
  | 'invalid_response'
  | 'cancelled'
  | 'tool_error';

/** The structured error a machine receives in `xstate.error.actor.<id>` (`event.error`). */
export interface ToolErrorJson {
  name: 'ToolError';
  /** Same as `kind`, for code that reads `error.code` of any engine error. */
  code: ToolErrorKind;
  tool: string;
  kind: ToolErrorKind;
  /** Calls of the adapter made for this task on this claim (0: refused before running). */
  attempts: number;
  message: string;
  status?: number;
  retryAfterMs?: number;
}

export interface ToolErrorOptions {
  tool?: string;
  status?: number;
  /** Whether another attempt may succeed; defaults by kind (see `RETRYABLE_KINDS`). */
  retryable?: boolean;
  /** From a `Retry-After` header: the earliest the next attempt may start, in ms from now. */
  retryAfterMs?: number;
  attempts?: number;
  cause?: unknown;
}

const RETRYABLE_KINDS: ReadonlySet<ToolErrorKind> = new Set(['timeout', 'network']);

/**
 * The one error type tool policies and adapters throw. `retryable` decides whether the retry
 * policy tries again; `countsForBreaker` whether it counts toward opening the circuit (a caller
 * mistake or a rate limit says nothing about the dependency's health). The engine serialises it
 * through `toJSON` into `ToolErrorJson`.
 */
export class ToolError extends Error {
  override readonly name = 'ToolError';
  readonly kind: ToolErrorKind;
  readonly tool: string;
  readonly status: number | undefined;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly attempts: number;

  constructor(kind: ToolErrorKind, message: string, options: ToolErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.kind = kind;
    this.tool = options.tool ?? '';
    this.status = options.status;
    this.retryable = options.retryable ?? RETRYABLE_KINDS.has(kind);
    this.retryAfterMs = options.retryAfterMs;
    this.attempts = options.attempts ?? 0;
  }

  /** The string code engine code reads off any error. */
  get code(): ToolErrorKind {
    return this.kind;
  }

  /** Timeouts, network errors and 5xx: signs the dependency is unwell. */
  get countsForBreaker(): boolean {
    return this.retryable && this.status !== 429;
  }

  /** A copy naming the tool and the attempts made (set by the policy once the call is over). */
  with(fields: { tool?: string; attempts?: number }): ToolError {
    return new ToolError(this.kind, this.message, {
      tool: fields.tool ?? this.tool,
      attempts: fields.attempts ?? this.attempts,
      retryable: this.retryable,
      ...(this.status === undefined ? {} : { status: this.status }),
      ...(this.retryAfterMs === undefined ? {} : { retryAfterMs: this.retryAfterMs }),
      cause: this.cause,
    });
  }

  toJSON(): ToolErrorJson {
    return {
      name: 'ToolError',
      code: this.kind,
      tool: this.tool,
      kind: this.kind,
      attempts: this.attempts,
      message: this.message,
      ...(this.status === undefined ? {} : { status: this.status }),
      ...(this.retryAfterMs === undefined ? {} : { retryAfterMs: this.retryAfterMs }),
    };
  }
}

/** Socket-level error codes (Node and undici) that mean "the network failed", worth a retry. */
const NETWORK_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH',
  'ENETUNREACH', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT',
]);

/**
 * Any thrown value as a `ToolError`: a `ToolError` stays as is; a socket error (also as the
 * `cause` of fetch's `TypeError: fetch failed`) is `network`; an error with code
 * `invalid_argument` (the local tools' convention) is `invalid_input`; the rest is `tool_error`.
 */
export function toToolError(error: unknown): ToolError {
  if (error instanceof ToolError) return error;
  const code = errorCode(error) ?? errorCode((error as { cause?: unknown } | null)?.cause);
  const message = error instanceof Error ? error.message : String(error);
  if (code && NETWORK_CODES.has(code)) return new ToolError('network', `${message} (${code})`, { cause: error });
  if (code === 'invalid_argument') return new ToolError('invalid_input', message, { cause: error });
  return new ToolError('tool_error', message, { cause: error });
}

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}
