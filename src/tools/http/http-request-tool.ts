import { ToolError } from '../tool-error.js';
import type { ToolAdapter } from '../tool-registry.js';
import type { HostAllowList } from './host-allow-list.js';
import { httpExchange } from './http-exchange.js';

/** Input of `http.request`. */
export interface HttpRequestInput {
  /** Default GET. */
  method?: string;
  url: string;
  headers?: Record<string, string>;
  /** A JSON body (sets `content-type: application/json` unless given). */
  json?: unknown;
  /** A text body; give `json` or `body`, not both. */
  body?: string;
  /** Statuses that count as success; default any 2xx. */
  expectStatus?: number[];
}

/** Output of `http.request`: `json` when the response is JSON, `body` always (as text). */
export interface HttpRequestOutput {
  status: number;
  headers: Record<string, string>;
  body: string;
  json?: unknown;
}

export interface HttpRequestToolOptions {
  allowList: HostAllowList;
  /** Default 1 MiB; a larger body fails with `invalid_response`. */
  maxResponseBytes?: number;
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/**
 * `http.request`: one HTTP call to an allowed host. Sends `Idempotency-Key: <workflowId>:<taskId>`
 * on every attempt (overriding any given), so a server can drop repeats after a retry or a crash.
 * Throws `ToolError`: `invalid_input` for a bad input, `host_not_allowed` for a host outside the
 * allow-list (both never retried), and as `httpExchange` for transport and status failures.
 */
export function createHttpRequestTool(options: HttpRequestToolOptions): ToolAdapter<HttpRequestInput, HttpRequestOutput> {
  const maxResponseBytes = options.maxResponseBytes ?? 1024 * 1024;
  return async (input, context) => {
    const { url, method, headers, body, expect } = checkInput(input);
    if (!options.allowList.allows(url)) throw new ToolError('host_not_allowed', `host '${url.host}' is not in HTTP_TOOL_ALLOWED_HOSTS`);
    headers['idempotency-key'] = context.idempotencyKey;
    const response = await httpExchange({ url, method, headers, ...(body === undefined ? {} : { body }), expectStatus: expect, signal: context.signal, maxResponseBytes });
    const output: HttpRequestOutput = { status: response.status, headers: response.headers, body: response.text };
    if (/\bjson\b/i.test(response.headers['content-type'] ?? '') && response.text !== '') {
      try {
        output.json = JSON.parse(response.text);
      } catch {
        throw new ToolError('invalid_response', `the response says it is JSON but is not`, { status: response.status });
      }
    }
    return output;
  };
}

function checkInput(input: HttpRequestInput) {
  const bad = (message: string) => new ToolError('invalid_input', message);
  if (typeof input !== 'object' || input === null) throw bad('input must be an object with a url');
  const method = (input.method ?? 'GET').toUpperCase();
  if (!METHODS.has(method)) throw bad(`method must be one of ${[...METHODS].join(', ')}`);
  let url: URL;
  try {
    url = new URL(String(input.url));
  } catch {
    throw bad(`url is not an absolute URL: ${JSON.stringify(input.url)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw bad('url must be http or https');
  if (url.username || url.password) throw bad('url must not carry credentials');
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(input.headers ?? {})) {
    if (typeof value !== 'string') throw bad(`header '${name}' must be a string`);
    headers[name.toLowerCase()] = value;
  }
  if (input.json !== undefined && input.body !== undefined) throw bad('give json or body, not both');
  let body: string | undefined;
  if (input.json !== undefined) {
    body = JSON.stringify(input.json);
    headers['content-type'] ??= 'application/json';
  } else if (input.body !== undefined) {
    if (typeof input.body !== 'string') throw bad('body must be a string (use json for objects)');
    body = input.body;
  }
  if (body !== undefined && (method === 'GET' || method === 'HEAD')) throw bad(`${method} cannot have a body`);
  const statuses = input.expectStatus;
  if (statuses !== undefined && (!Array.isArray(statuses) || !statuses.every((s) => Number.isInteger(s) && s >= 100 && s <= 599))) {
    throw bad('expectStatus must be a list of HTTP statuses');
  }
  const expect = statuses ? (s: number) => statuses.includes(s) : (s: number) => s >= 200 && s < 300;
  return { url, method, headers, body, expect };
}
