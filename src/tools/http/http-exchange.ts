import { context, propagation } from '@opentelemetry/api';
import { ToolError } from '../tool-error.js';
import { parseRetryAfter } from './retry-after.js';

/** One HTTP request as the tools send it. */
export interface HttpExchangeRequest {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body?: string;
  /** Statuses that count as success (anything else throws a `ToolError` of kind `http`). */
  expectStatus: (status: number) => boolean;
  /** Aborting it aborts the request and closes its connection. */
  signal: AbortSignal;
  /** A longer response body is refused (`invalid_response`). */
  maxResponseBytes: number;
}

export interface HttpExchangeResponse {
  status: number;
  headers: Record<string, string>;
  /** The body as text (decoded as UTF-8). */
  text: string;
}

/** The headers plus the active trace context; the caller's own trace headers win. */
function withTraceContext(headers: Record<string, string>): Record<string, string> {
  const trace: Record<string, string> = {};
  propagation.inject(context.active(), trace);
  return { ...trace, ...headers };
}

/** Statuses worth another attempt: overload, rate limit, gateway trouble. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/**
 * Sends one request with fetch, no redirects followed (a redirect could leave the host
 * allow-list; 3xx is an ordinary status). Throws `ToolError`:
 * `network` (retryable) when the connection fails or breaks mid-body; `http` with `status` when
 * the status is not expected: retryable for 408, 429 and 5xx (with `retryAfterMs` from
 * `Retry-After`), terminal for the rest; `invalid_response` for a body over the limit.
 * When `signal` aborts it rethrows the abort, so the policy reports timeout or cancellation.
 * The active trace context goes along as `traceparent`/`tracestate` (when tracing is on) unless
 * the request names those headers itself.
 */
export async function httpExchange(request: HttpExchangeRequest): Promise<HttpExchangeResponse> {
  let response: Response;
  try {
    response = await fetch(request.url, {
      method: request.method,
      headers: withTraceContext(request.headers),
      ...(request.body === undefined ? {} : { body: request.body }),
      redirect: 'manual',
      signal: request.signal,
    });
  } catch (error) {
    if (request.signal.aborted) throw error;
    if (error instanceof TypeError && error.message === 'fetch failed') throw networkError(error);
    throw new ToolError('invalid_input', `the request could not be sent: ${(error as Error).message}`, { cause: error });
  }
  const text = await readBody(response, request);
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => (headers[name] = value));
  if (!request.expectStatus(response.status)) {
    const retryable = isRetryableStatus(response.status);
    const retryAfterMs = retryable ? parseRetryAfter(response.headers.get('retry-after')) : undefined;
    const snippet = text.length > 200 ? `${text.slice(0, 200)}…` : text;
    throw new ToolError('http', `${request.method} ${request.url.origin}${request.url.pathname} answered ${response.status}${snippet ? `: ${snippet}` : ''}`, {
      status: response.status,
      retryable,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
  }
  return { status: response.status, headers, text };
}

async function readBody(response: Response, request: HttpExchangeRequest): Promise<string> {
  if (!response.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = response.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > request.maxResponseBytes) {
        await reader.cancel();
        throw new ToolError('invalid_response', `the response body is over the limit of ${request.maxResponseBytes} bytes`, { status: response.status });
      }
      chunks.push(value);
    }
  } catch (error) {
    if (error instanceof ToolError || request.signal.aborted) throw error;
    throw networkError(error);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function networkError(error: unknown): ToolError {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
  const detail = typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message : (error as Error).message;
  return new ToolError('network', `the connection failed: ${detail}`, { cause: error });
}
