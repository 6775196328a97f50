import { create, type DescMessage, type DescMethodUnary, type JsonReadOptions, type JsonWriteOptions } from '@bufbuild/protobuf';
import {
  Code,
  ConnectError,
  createContextValues,
  createServiceImplSpec,
  type ConnectRouter,
  type ContextValues,
  type HandlerContext,
  type Interceptor,
  type MethodImplSpec,
  type UnaryRequest,
  type UnaryResponse,
} from '@connectrpc/connect';
import { compressionNegotiate, createMethodSerializationLookup, type Compression, type MethodSerializationLookup } from '@connectrpc/connect/protocol';
import {
  codeToHttpStatus,
  contentTypeUnaryJson,
  contentTypeUnaryProto,
  errorToJsonBytes,
  parseContentType,
  parseTimeout,
  trailerMux,
} from '@connectrpc/connect/protocol-connect';
import { compressionBrotli, compressionGzip } from '@connectrpc/connect-node';
import type { HttpRequest, HttpResponse } from './http-handler.js';

/**
 * Unary calls over the Connect protocol (`POST /pkg.Service/Method`, `application/json` or
 * `application/proto`, with a content length) answered without connect-node's
 * generic machinery. Profiles put that machinery at well over half of a no-op call's CPU: three
 * AbortControllers per call (~10 us each here) and a DOMException built with a stack trace when
 * the call ends, request and response headers converted to and from `Headers`, bodies as async
 * iterables, the interceptor chain composed again for every call.
 *
 * It is the same call, not a second implementation of the service: the same implementations and
 * interceptors run, messages are parsed and written by connect's serializers with the adapter's
 * JSON options and size limit, and errors by connect's `errorToJsonBytes` with its status mapping.
 * Compression is negotiated by connect's `compressionNegotiate` with connect-node's gzip and
 * brotli, and responses from 1 KiB on are compressed, as connect-node does by default. The call's
 * signal is only created when something reads it, and aborts like connect's: client gone,
 * deadline (`connect-timeout-ms`), server shutdown, and the call's end. Everything else (gRPC,
 * gRPC-Web, streams, GET, chunked bodies, an unknown encoding or a bad timeout header) goes to
 * connect-node. tests/rpc/connect-unary.test.ts sends the same requests both ways and compares.
 */
export interface ConnectUnaryOptions {
  interceptors: Interceptor[];
  jsonOptions: Partial<JsonReadOptions & JsonWriteOptions>;
  readMaxBytes: number;
  maxTimeoutMs: number;
  shutdownSignal: AbortSignal;
  contextValues?: (req: HttpRequest) => ContextValues;
}

/** Answers the request and returns true, or returns false without touching it (not ours). */
export type ConnectUnaryHandler = (req: HttpRequest, res: HttpResponse) => boolean;

type UnarySpec = MethodImplSpec & { kind: 'unary' };

/** Unary methods by request path (`/pkg.Service/Method`). */
export type UnaryMethods = Map<string, UnarySpec>;

type Next = (req: UnaryRequest) => Promise<UnaryResponse>;

interface Route {
  method: DescMethodUnary;
  serialization: MethodSerializationLookup<DescMessage, DescMessage>;
  /** The implementation inside the interceptors, composed once. */
  invoke: Next;
}

/**
 * Wraps a router so that every unary method registered through it is also recorded for
 * `createConnectUnaryHandler` (connect-node keeps the implementations to itself).
 */
export function recordUnaryMethods(router: ConnectRouter, into: UnaryMethods): ConnectRouter {
  const recording: ConnectRouter = {
    get handlers() {
      return router.handlers;
    },
    service(service, implementation, options) {
      for (const spec of Object.values(createServiceImplSpec(service, implementation).methods)) {
        if (spec.kind === 'unary') into.set(`/${service.typeName}/${spec.method.name}`, spec);
      }
      router.service(service, implementation, options);
      return recording;
    },
    rpc(method, impl, options) {
      router.rpc(method, impl, options);
      return recording;
    },
  };
  return recording;
}

export function createConnectUnaryHandler(methods: ReadonlyMap<string, UnarySpec>, options: ConnectUnaryOptions): ConnectUnaryHandler {
  const routes = new Map<string, Route>();
  for (const [path, spec] of methods) {
    routes.set(path, {
      method: spec.method,
      serialization: createMethodSerializationLookup(spec.method, undefined, options.jsonOptions, { readMaxBytes: options.readMaxBytes, writeMaxBytes: 0xffffffff }),
      invoke: options.interceptors.reduceRight<Next>((next, interceptor) => interceptor(next as never) as Next, implementation(spec)),
    });
  }
  const calls = new Set<Call>();
  options.shutdownSignal.addEventListener('abort', () => {
    for (const call of calls) call.abort(options.shutdownSignal.reason);
  });
  return (req, res) => {
    if (req.method !== 'POST') return false;
    const route = routes.get(req.url ?? '');
    if (!route) return false;
    const headers = req.headers;
    const type = parseContentType(headers['content-type'] ?? null);
    if (!type || type.stream) return false;
    const compression = compressionNegotiate(compressions, headerValue(headers['content-encoding']), headerValue(headers['accept-encoding']), 'accept-encoding');
    if (compression.error) return false;
    const length = Number(headers['content-length']);
    if (!(length >= 0 && length <= options.readMaxBytes)) return false; // absent (chunked) or over the limit
    const timeout = parseTimeout(headerValue(headers['connect-timeout-ms']), options.maxTimeoutMs);
    if (timeout.error) return false;
    const reply: Reply = { res, route, binary: type.binary, jsonOptions: options.jsonOptions, compression: compression.response };
    readBody(req, length, (error, body) => {
      if (error) return answer(reply, undefined, error, new Headers(), new Headers());
      const call = new Call(req, reply, timeout.timeoutMs, options, calls);
      const parsed = compression.request ? compression.request.decompress(body!, options.readMaxBytes) : Promise.resolve(body!);
      parsed
        .then((bytes) => route.invoke(call.request(route.serialization.getI(type.binary).parse(bytes))))
        .then(
          (response) => call.finish(response, undefined),
          (e: unknown) => call.finish(undefined, e),
        );
    });
    return true;
  };
}

/** The implementation as the innermost `next`: its context is the request's, as connect builds it. */
function implementation(spec: UnarySpec): Next {
  const { method } = spec;
  return async (req) => {
    const responseHeader = (req as CallRequest).responseHeader;
    const responseTrailer = (req as CallRequest).responseTrailer;
    const context: HandlerContext = {
      method,
      service: req.service,
      requestMethod: req.requestMethod,
      protocolName: 'connect',
      url: req.url,
      requestHeader: req.header,
      responseHeader,
      responseTrailer,
      values: req.contextValues,
      timeoutMs: (req as CallRequest).timeoutMs,
      get signal() {
        return req.signal;
      },
    };
    const output = await spec.impl(req.message as never, context);
    return { stream: false, service: req.service, method, header: responseHeader, trailer: responseTrailer, message: create(method.output, output as never) };
  };
}

/** Connect-node's default `acceptCompression`. */
const compressions: Compression[] = [compressionGzip, compressionBrotli];

/** What an answer needs besides its message. */
interface Reply {
  res: HttpResponse;
  route: Route;
  binary: boolean;
  jsonOptions: ConnectUnaryOptions['jsonOptions'];
  compression: Compression | null;
}

type CallRequest = UnaryRequest & { responseHeader: Headers; responseTrailer: Headers; timeoutMs: () => number | undefined };

/** One call in flight: its signal (created on first read), its abort causes, and its answer. */
class Call {
  #controller: AbortController | undefined;
  #reason: unknown;
  #aborted = false;
  #deadline: ReturnType<typeof setTimeout> | undefined;
  readonly #deadlineAt: number | undefined;
  readonly #onClose = () => this.abort(new ConnectError('the client closed the connection', Code.Canceled));
  readonly #responseHeader: Headers;
  readonly #responseTrailer = new Headers();

  constructor(
    private readonly req: HttpRequest,
    private readonly reply: Reply,
    timeoutMs: number | undefined,
    private readonly options: ConnectUnaryOptions,
    private readonly calls: Set<Call>,
  ) {
    this.#responseHeader = new Headers({ 'content-type': reply.binary ? contentTypeUnaryProto : contentTypeUnaryJson });
    if (timeoutMs !== undefined) {
      this.#deadlineAt = Date.now() + timeoutMs;
      this.#deadline = setTimeout(() => this.abort(new ConnectError('the operation timed out', Code.DeadlineExceeded)), timeoutMs);
    }
    if (options.shutdownSignal.aborted) this.abort(options.shutdownSignal.reason);
    calls.add(this);
    reply.res.once('close', this.#onClose);
  }

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
  }

  request(message: unknown): CallRequest {
    const { req } = this;
    const { route } = this.reply;
    const authority = 'authority' in req ? req.authority : req.headers.host;
    const deadlineAt = this.#deadlineAt;
    const call = this;
    return {
      stream: false,
      service: route.method.parent,
      method: route.method,
      requestMethod: 'POST',
      url: `http://${authority ?? ''}${req.url ?? ''}`,
      header: requestHeaders(req.headers),
      contextValues: this.options.contextValues?.(req) ?? createContextValues(),
      message: message as never,
      get signal() {
        return call.signal;
      },
      responseHeader: this.#responseHeader,
      responseTrailer: this.#responseTrailer,
      timeoutMs: () => (deadlineAt === undefined ? undefined : deadlineAt - Date.now()),
    };
  }

  finish(response: UnaryResponse | undefined, error: unknown): void {
    if (this.#deadline) clearTimeout(this.#deadline);
    this.calls.delete(this);
    this.reply.res.off('close', this.#onClose);
    // Whatever the handler left listening learns the call is over, as with connect; a shared
    // reason, because an abort without one builds a DOMException with a stack trace.
    this.abort(callEnded);
    answer(this.reply, response?.message, error, response?.header ?? this.#responseHeader, response?.trailer ?? this.#responseTrailer);
  }
}

const callEnded = new ConnectError('the call has ended', Code.Canceled);

/** Below this many bytes a response is not worth compressing (connect's default `compressMinBytes`). */
const compressMinBytes = 1024;

function answer(reply: Reply, output: unknown, error: unknown, header: Headers, trailer: Headers): void {
  const { res, route, binary } = reply;
  if (res.destroyed || res.writableEnded) return;
  let status = 200;
  let body: Uint8Array | undefined;
  if (error === undefined) {
    try {
      body = route.serialization.getO(binary).serialize(output as never);
    } catch (e) {
      error = e;
    }
  }
  if (error !== undefined) {
    const connectError = error instanceof ConnectError ? error : new ConnectError('internal error', Code.Internal, undefined, undefined, error);
    status = codeToHttpStatus(connectError.code);
    header.set('content-type', contentTypeUnaryJson);
    connectError.metadata.forEach((value, key) => header.set(key, value));
    body = errorToJsonBytes(connectError, reply.jsonOptions);
  }
  if (reply.compression && body!.byteLength >= compressMinBytes) {
    const compression = reply.compression;
    compression.compress(body!).then(
      (compressed) => {
        header.set('content-encoding', compression.name);
        write(res, status, compressed, header, trailer);
      },
      () => res.destroy(),
    );
  } else write(res, status, body!, header, trailer);
}

function write(res: HttpResponse, status: number, body: Uint8Array, header: Headers, trailer: Headers): void {
  if (res.destroyed || res.writableEnded) return;
  const all = trailerMux(header, trailer);
  const nodeHeaders: Record<string, string | string[]> = { 'content-length': String(body.byteLength) };
  all.forEach((value, key) => {
    nodeHeaders[key] = key === 'set-cookie' ? all.getSetCookie() : value;
  });
  res.writeHead(status, nodeHeaders);
  res.end(body);
}

/** Reads exactly `length` bytes (with connect's message for a body that breaks that promise). */
function readBody(req: HttpRequest, length: number, done: (error: ConnectError | undefined, body?: Uint8Array) => void): void {
  const chunks: Buffer[] = [];
  let received = 0;
  const broken = () => new ConnectError(`protocol error: promised ${length} bytes, received ${received}`, Code.InvalidArgument);
  const onData = (chunk: Buffer) => {
    received += chunk.byteLength;
    if (received <= length) return void chunks.push(chunk);
    cleanup();
    req.resume();
    done(broken());
  };
  const onEnd = () => {
    cleanup();
    if (received < length) return done(broken());
    done(undefined, chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, received));
  };
  const cleanup = () => {
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('error', cleanup);
    req.off('close', cleanup);
  };
  req.on('data', onData);
  req.once('end', onEnd);
  // The client went away mid-body: nobody to answer.
  req.once('error', cleanup);
  req.once('close', cleanup);
}

/** As connect-node converts them: pseudo-headers dropped, repeated fields appended. */
function requestHeaders(nodeHeaders: HttpRequest['headers']): Headers {
  const header = new Headers();
  for (const key in nodeHeaders) {
    if (key.startsWith(':')) continue;
    const value = nodeHeaders[key];
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) header.append(key, v);
    else header.append(key, String(value));
  }
  return header;
}

function headerValue(value: string | string[] | undefined): string | null {
  return value === undefined ? null : Array.isArray(value) ? (value[0] ?? null) : value;
}
