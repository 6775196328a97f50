import { Code, createContextKey, createContextValues, type ContextValues } from '@connectrpc/connect';
import { codeToHttpStatus } from '@connectrpc/connect/protocol-connect';
import type { HttpHandler, HttpRequest, HttpResponse } from './http-handler.js';
import { protocolOf, type RpcCall } from './rpc-call.js';

/**
 * Connect answers some requests before any interceptor runs: bodies it cannot parse (malformed
 * JSON, unknown fields, bad protobuf), bodies over the size limit, unsupported content types,
 * procedures it does not serve. The metrics interceptor never sees them, so the HTTP handler counts
 * them when the response closes, and only them: the interceptor marks the requests it observed.
 */

/** Set on a node request: observed by the interceptor, or not an RPC (/metrics, /healthz). */
const COUNTED = Symbol('orchestrator.rpcCounted');
type Marked = HttpRequest & { [COUNTED]?: true };

/** The node request of a call, in the call's context values (see `rpcContextValues`). */
const nodeRequestKey = createContextKey<Marked | undefined>(undefined, { description: 'node request' });

/** For connectNodeAdapter's `contextValues`: lets the interceptor mark the node request it observes. */
export function rpcContextValues(req: HttpRequest): ContextValues {
  return createContextValues().set(nodeRequestKey, req);
}

/** Called by the metrics interceptor for every call it observes (a no-op outside the node adapter). */
export function markObserved(contextValues: ContextValues): void {
  const req = contextValues.get(nodeRequestKey);
  if (req) req[COUNTED] = true;
}

/** Called for plain HTTP routes served beside the RPCs: they are not RPCs. */
export function markNotRpc(req: HttpRequest): void {
  (req as Marked)[COUNTED] = true;
}

/** `code` undefined is ok (only a response that claims success while nothing observed it). */
export type RecordRejected = (call: RpcCall, code: Code | undefined) => void;

/**
 * Wraps the Connect handler: every request ending unmarked is counted once with the code its
 * response carries, when the response closes. gRPC and gRPC-Web carry that code in trailers, and an
 * HTTP/2 stream refused mid-body may stay half open long after the answer (the client stuck on flow
 * control): those are counted as their trailers are written. Per request this costs one shared
 * listener, and for gRPC(-Web) one shared method hook: no closure, no body buffering.
 */
export function countRejectedRequests(next: HttpHandler, record: RecordRejected): HttpHandler {
  const count = (res: HttpResponse, req: Marked, code: Code | undefined) => {
    req[COUNTED] = true;
    record({ ...procedureOf(req.url, res.statusCode), protocol: protocolOf(req.headers['content-type']) }, code);
  };
  function onClose(this: HttpResponse) {
    const req = this.req as Marked;
    if (!req[COUNTED]) count(this, req, responseCode(this));
  }
  function addTrailers(this: HttpResponse, trailers: Record<string, unknown>) {
    const req = this.req as Marked;
    const status = trailers['grpc-status'];
    if (!req[COUNTED] && status !== undefined) count(this, req, grpcCode(status));
    (Object.getPrototypeOf(this) as HttpResponse).addTrailers.call(this, trailers as never);
  }
  function write(this: HttpResponse, chunk: unknown, ...rest: unknown[]): boolean {
    const req = this.req as Marked;
    if (!req[COUNTED]) {
      const status = webTrailerStatus(chunk);
      if (status !== undefined) count(this, req, grpcCode(status));
    }
    return (Object.getPrototypeOf(this).write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  }
  return (req, res) => {
    res.on('close', onClose);
    const protocol = protocolOf(req.headers['content-type']);
    if (protocol === 'grpc') (res as { addTrailers: unknown }).addTrailers = addTrailers;
    else if (protocol === 'grpc_web') (res as { write: unknown }).write = write;
    return next(req, res);
  };
}

/**
 * Service and method from a path Connect routed (`/pkg.Service/Method`): bounded, since only served
 * procedures get there. A 404 is a path nobody serves: `unknown`, never the raw path.
 */
function procedureOf(url: string | undefined, status: number): Pick<RpcCall, 'service' | 'method'> {
  const path = url?.split('?', 1)[0] ?? '';
  const slash = path.lastIndexOf('/');
  if (status === 404 || slash <= 0) return { service: 'unknown', method: 'unknown' };
  return { service: path.slice(1, slash), method: path.slice(slash + 1) };
}

/** The code of an answer with no trailers: grpc-status in its headers (trailers-only), else its HTTP status. */
function responseCode(res: HttpResponse): Code | undefined {
  if (!res.headersSent) return Code.Canceled; // the client went away before an answer
  const status = res.getHeader('grpc-status');
  if (status !== undefined) return grpcCode(status);
  return res.statusCode === 200 ? undefined : codeFromStatus(res.statusCode);
}

/** A grpc-status value as a code (0 is ok). */
function grpcCode(status: unknown): Code | undefined {
  const code = Number(status);
  return code === 0 ? undefined : code >= Code.Canceled && code <= Code.Unauthenticated ? (code as Code) : Code.Unknown;
}

/**
 * The Connect code a refusing HTTP status stands for: the first one Connect pairs with it (400 is
 * invalid_argument), but 404 is a procedure nobody serves (unimplemented, as the fallback answers)
 * and 500 internal. Connect also refuses a request form it does not read (405, 415): the client's
 * error, invalid_argument, never a code that burns the SLO budget.
 */
const CODE_OF_STATUS = new Map<number, Code>();
for (let code = Code.Canceled; code <= Code.Unauthenticated; code++) {
  const status = codeToHttpStatus(code);
  if (!CODE_OF_STATUS.has(status)) CODE_OF_STATUS.set(status, code);
}
CODE_OF_STATUS.set(404, Code.Unimplemented);
CODE_OF_STATUS.set(500, Code.Internal);

function codeFromStatus(status: number): Code {
  return CODE_OF_STATUS.get(status) ?? (status < 500 ? Code.InvalidArgument : Code.Internal);
}

/** The grpc-status of a gRPC-Web trailer frame (flag 0x80) at the start of `chunk`, if it is one. */
function webTrailerStatus(chunk: unknown): string | undefined {
  if (!(chunk instanceof Uint8Array) || chunk.length <= 5 || (chunk[0]! & 0x80) === 0) return undefined;
  const text = Buffer.from(chunk.buffer, chunk.byteOffset + 5, chunk.length - 5).toString('latin1');
  return /grpc-status:\s*(\d+)/i.exec(text)?.[1];
}
