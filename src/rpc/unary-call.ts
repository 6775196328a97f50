import { create, type DescMessage, type DescMethod, type DescMethodUnary, type DescService, type JsonReadOptions, type JsonWriteOptions, type Message } from '@bufbuild/protobuf';
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
  type StreamRequest,
  type UnaryRequest,
  type UnaryResponse,
} from '@connectrpc/connect';
import { createMethodSerializationLookup, type Compression, type MethodSerializationLookup } from '@connectrpc/connect/protocol';
import { compressionBrotli, compressionGzip } from '@connectrpc/connect-node';
import { encodeBinary } from './binary-encoder.js';
import type { HttpRequest, HttpResponse } from './http-handler.js';
import { CallRegistry, type CallEntry } from './call-registry.js';

/**
 * What the unary fast paths (connect-unary.ts, grpc-unary.ts) share: the methods as connect
 * registers them, the interceptor chain composed once per method, and the call itself (its
 * context, its signal, its end). The protocol modules only read and write the wire format.
 *
 * Why they exist: profiles put connect-node's generic machinery at well over half of a no-op
 * unary call's CPU: three AbortControllers per call (~10 us each here) and a DOMException built
 * with a stack trace when the call ends, headers converted to and from `Headers` twice, bodies as
 * chains of async iterables, the interceptor chain composed again for every call. The fast paths
 * run the same implementations and interceptors, parse and write messages with connect's
 * serializers and the adapter's options, and encode errors and negotiate compression with
 * connect's own functions; every request they do not recognise as plain goes to connect-node.
 */
export interface FastPathOptions {
  interceptors: Interceptor[];
  jsonOptions: Partial<JsonReadOptions & JsonWriteOptions>;
  readMaxBytes: number;
  maxTimeoutMs: number;
  shutdownSignal: AbortSignal;
  contextValues?: (req: HttpRequest) => ContextValues;
}

/** Answers the request and returns true, or returns false without touching it (not for this path). */
export type FastPathHandler = (req: HttpRequest, res: HttpResponse) => boolean;

export type UnarySpec = MethodImplSpec & { kind: 'unary' };
export type ServerStreamingSpec = MethodImplSpec & { kind: 'server_streaming' };

/** Unary methods by request path (`/pkg.Service/Method`). */
export type UnaryMethods = Map<string, UnarySpec>;
/** Server-streaming methods by request path. */
export type ServerStreamingMethods = Map<string, ServerStreamingSpec>;

type Next = (req: UnaryRequest) => Promise<UnaryResponse>;

/** A method ready to serve: its serializers and its implementation inside the interceptors. */
export interface Route<M, N> {
  method: M;
  serialization: MethodSerializationLookup<DescMessage, DescMessage>;
  invoke: N;
}

export type UnaryRoute = Route<DescMethodUnary, Next>;

/** connect-node's default `acceptCompression`, in its order of preference. */
export const compressions: Compression[] = [compressionGzip, compressionBrotli];

/** Below this many bytes a message is not worth compressing (connect's default `compressMinBytes`). */
const compressMinBytes = 1024;

/**
 * Wraps a router so that the unary (and, given `streams`, server-streaming) methods of every
 * service registered through it are also recorded for the fast paths (connect-node keeps the
 * implementations to itself); a method registered alone with `rpc()` is served by connect-node only.
 */
export function recordMethods(router: ConnectRouter, into: UnaryMethods, streams?: ServerStreamingMethods): ConnectRouter {
  const recording: ConnectRouter = {
    get handlers() {
      return router.handlers;
    },
    service(service, implementation, options) {
      for (const spec of Object.values(createServiceImplSpec(service, implementation).methods)) {
        if (spec.kind === 'unary') into.set(`/${service.typeName}/${spec.method.name}`, spec);
        if (spec.kind === 'server_streaming') streams?.set(`/${service.typeName}/${spec.method.name}`, spec);
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

/** Each method's route, with the interceptor chain composed once around `implementation(spec)`. */
export function methodRoutes<S extends MethodImplSpec, N>(methods: ReadonlyMap<string, S>, options: FastPathOptions, implementation: (spec: S) => N): Map<string, Route<S['method'], N>> {
  const routes = new Map<string, Route<S['method'], N>>();
  for (const [path, spec] of methods) {
    routes.set(path, {
      method: spec.method,
      serialization: serializationOf(spec.method, options),
      invoke: options.interceptors.reduceRight<N>((next, interceptor) => interceptor(next as never) as N, implementation(spec)),
    });
  }
  return routes;
}

/**
 * connect's serializers for the method, except that binary answers are written by encodeBinary:
 * the same bytes as protobuf-es's toBinary at a sixth of its cost (see binary-encoder.ts).
 * Answers have no size limit here (connect's default), so nothing is lost by leaving out its check.
 */
function serializationOf(method: DescMethod, options: FastPathOptions): MethodSerializationLookup<DescMessage, DescMessage> {
  const lookup = createMethodSerializationLookup(method, undefined, options.jsonOptions, { readMaxBytes: options.readMaxBytes, writeMaxBytes: 0xffffffff });
  const binary = { parse: lookup.getO(true).parse, serialize: (message: object) => encodeBinary(method.output, message) };
  return { getI: (useBinary) => lookup.getI(useBinary), getO: (useBinary) => (useBinary ? binary : lookup.getO(false)) };
}

/** The implementation as the innermost `next`: its context is the request's, as connect builds it. */
function implementation(spec: UnarySpec): Next {
  const { method } = spec;
  return async (req) => {
    const context = handlerContext(method, req as CallRequest);
    const output = await spec.impl(req.message as never, context);
    return { stream: false, service: req.service, method, header: context.responseHeader, trailer: context.responseTrailer, message: create(method.output, output as never) };
  };
}

/** What the fast paths add to connect's request, for the implementation's context. */
export interface CallExtras {
  responseHeader: Headers;
  responseTrailer: Headers;
  protocolName: string;
  timeoutMs: () => number | undefined;
}

type CallRequest = UnaryRequest & CallExtras;

/** The implementation's context from the (intercepted) request, with the fields connect gives it. */
export function handlerContext(method: DescMethod, req: (UnaryRequest | StreamRequest) & CallExtras): HandlerContext {
  return new FastPathContext(method, req);
}

/** A class rather than a literal with a getter, which V8 builds on a slower path (see FastPathRequest). */
class FastPathContext implements HandlerContext {
  readonly service: DescService;
  readonly requestMethod: string;
  readonly protocolName: string;
  readonly url: string;
  readonly requestHeader: Headers;
  readonly responseHeader: Headers;
  readonly responseTrailer: Headers;
  readonly values: ContextValues;
  readonly timeoutMs: () => number | undefined;

  constructor(
    readonly method: DescMethod,
    private readonly req: (UnaryRequest | StreamRequest) & CallExtras,
  ) {
    this.service = req.service;
    this.requestMethod = req.requestMethod;
    this.protocolName = req.protocolName;
    this.url = req.url;
    this.requestHeader = req.header;
    this.responseHeader = req.responseHeader;
    this.responseTrailer = req.responseTrailer;
    this.values = req.contextValues;
    this.timeoutMs = req.timeoutMs;
  }

  /** The request's signal when it is read (a unary call creates it only then). */
  get signal(): AbortSignal {
    return this.req.signal;
  }
}

/**
 * What every fast path's request to the interceptors takes from the HTTP request alike; each
 * path's subclass adds the rest of connect's UnaryRequest or StreamRequest. Classes, so every
 * request has one shape: on Node 20, an object literal that spreads another and then adds
 * properties costs V8 3-13 us to build, as much as the rest of a no-op call's own code.
 */
export abstract class FastPathRequest implements CallExtras {
  readonly requestMethod = 'POST';
  readonly url: string;
  readonly header: Headers;
  readonly contextValues: ContextValues;
  /** An own function (not a method): the handler context hands it out detached. */
  readonly timeoutMs: () => number | undefined;

  constructor(
    req: HttpRequest,
    options: FastPathOptions,
    deadlineAt: number | undefined,
    readonly responseHeader: Headers,
    readonly responseTrailer: Headers,
    readonly protocolName: string,
  ) {
    const authority = 'authority' in req ? req.authority : req.headers.host;
    this.url = `http://${authority ?? ''}${req.url ?? ''}`;
    this.header = requestHeaders(req.headers);
    this.contextValues = options.contextValues?.(req) ?? createContextValues();
    this.timeoutMs = () => (deadlineAt === undefined ? undefined : deadlineAt - Date.now());
  }
}

/** What a protocol module makes of a request it takes: how to read it and how to answer it. */
export interface UnaryExchange {
  protocolName: string;
  /** Protobuf (else JSON) messages. */
  binary: boolean;
  timeoutMs: number | undefined;
  limits: BodyLimits;
  responseHeader: Headers;
  responseTrailer: Headers;
  /** The message's bytes in the body (unwrapped, decompressed); rejects with the protocol's error. */
  decode(body: Uint8Array): Promise<Uint8Array>;
  /** Writes the serialized response message, or the error, with the call's header and trailer. */
  answer(message: Uint8Array | undefined, error: unknown, header: Headers, trailer: Headers): void;
}

/**
 * A fast path for one protocol: `exchange` returns undefined for a request the protocol module
 * does not take (the generic handler gets it untouched), else how to serve it.
 */
export function createUnaryHandler(
  methods: ReadonlyMap<string, UnarySpec>,
  options: FastPathOptions,
  exchange: (req: HttpRequest, res: HttpResponse) => UnaryExchange | undefined,
): FastPathHandler {
  const routes = methodRoutes(methods, options, implementation);
  const calls = new CallRegistry(options.shutdownSignal);
  return (req, res) => {
    if (req.method !== 'POST') return false;
    const route = routes.get(req.url ?? '');
    if (!route) return false;
    const ex = exchange(req, res);
    if (!ex) return false;
    readBody(req, ex.limits, (error, body) => {
      if (error) return answerSafely(res, () => ex.answer(undefined, error, ex.responseHeader, ex.responseTrailer));
      const call = new UnaryCall(req, res, Object.assign(ex, { route, options, calls })); // ex is this request's own
      ex.decode(body!)
        .then((bytes) => call.run(route.serialization.getI(ex.binary).parse(bytes)))
        .catch((e: unknown) => call.finish(undefined, e));
    });
    return true;
  };
}

interface CallInit extends UnaryExchange {
  route: UnaryRoute;
  options: FastPathOptions;
  calls: CallRegistry;
}

/**
 * One call in flight. Its signal is created only when something reads it, and aborts like
 * connect's: client gone, deadline, server shutdown, and the call's end.
 */
class UnaryCall {
  #controller: AbortController | undefined;
  #reason: unknown;
  #aborted = false;
  #deadline: ReturnType<typeof setTimeout> | undefined;
  readonly #deadlineAt: number | undefined;
  readonly #onClose = () => this.abort(new ConnectError('the client closed the connection', Code.Canceled));
  readonly #entry: CallEntry;

  constructor(
    private readonly req: HttpRequest,
    private readonly res: HttpResponse,
    private readonly init: CallInit,
  ) {
    const { timeoutMs, options } = init;
    if (timeoutMs !== undefined) {
      this.#deadlineAt = Date.now() + timeoutMs;
      this.#deadline = setTimeout(() => this.abort(new ConnectError('the operation timed out', Code.DeadlineExceeded)), timeoutMs);
    }
    if (options.shutdownSignal.aborted) this.abort(options.shutdownSignal.reason);
    this.#entry = init.calls.add(this);
    res.once('close', this.#onClose);
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

  /** Runs the interceptors and the implementation on the parsed message, then answers. */
  run(message: unknown): void {
    this.init.route.invoke(this.#request(message)).then(
      (response) => this.finish(response, undefined),
      (error: unknown) => this.finish(undefined, error),
    );
  }

  #request(message: unknown): CallRequest {
    return new UnaryCallRequest(this, this.req, this.init, this.#deadlineAt, message as Message);
  }

  finish(response: UnaryResponse | undefined, error: unknown): void {
    if (this.#deadline) clearTimeout(this.#deadline);
    this.init.calls.delete(this.#entry);
    this.res.off('close', this.#onClose);
    // Whatever the handler left listening learns the call is over, as with connect; a shared
    // reason, because an abort without one builds a DOMException with a stack trace.
    this.abort(callEnded);
    if (this.res.destroyed || this.res.writableEnded) return;
    let message: Uint8Array | undefined;
    if (response && error === undefined) {
      try {
        message = this.init.route.serialization.getO(this.init.binary).serialize(response.message);
      } catch (e) {
        error = e;
      }
    }
    answerSafely(this.res, () => this.init.answer(message, error, response?.header ?? this.init.responseHeader, response?.trailer ?? this.init.responseTrailer));
  }
}

/** A unary call's request to the interceptors. */
class UnaryCallRequest extends FastPathRequest implements CallRequest {
  readonly stream = false;
  readonly service: DescService;
  readonly method: DescMethodUnary;

  constructor(
    private readonly call: UnaryCall,
    req: HttpRequest,
    init: CallInit,
    deadlineAt: number | undefined,
    readonly message: Message,
  ) {
    super(req, init.options, deadlineAt, init.responseHeader, init.responseTrailer, init.protocolName);
    this.method = init.route.method;
    this.service = this.method.parent;
  }

  /** A getter, so that the call's signal is created only when something reads it. */
  get signal(): AbortSignal {
    return this.call.signal;
  }
}

export const callEnded = new ConnectError('the call has ended', Code.Canceled);

/**
 * Runs `answer`; if writing throws (a header value Node refuses, set by a handler), the
 * connection is reset instead of the process failing on an uncaught exception.
 */
export function answerSafely(res: HttpResponse, answer: () => void): void {
  try {
    answer();
  } catch (error) {
    res.destroy(error as Error);
  }
}

/**
 * Writes `body` through `write`, compressed (and `compressed` true) when the client accepts a
 * compression and the body is at least 1 KiB, as connect-node does.
 */
export function writeMaybeCompressed(res: HttpResponse, compression: Compression | null, body: Uint8Array, write: (bytes: Uint8Array, compressed: boolean) => void): void {
  if (!compression || body.byteLength < compressMinBytes) return write(body, false);
  compression.compress(body).then(
    (bytes) => answerSafely(res, () => write(bytes, true)),
    () => res.destroy(),
  );
}

/** What connect answers for anything thrown that is not a ConnectError. */
export function asConnectError(error: unknown): ConnectError {
  return error instanceof ConnectError ? error : new ConnectError('internal error', Code.Internal, undefined, undefined, error);
}

/**
 * Reads the request body: exactly `exact` bytes when the length is known (connect's message for a
 * body that breaks that promise), else at most `max` bytes (`tooLarge` makes the error from what
 * was read). `done` is not called when the client goes away mid-body (nobody to answer).
 */
export interface BodyLimits {
  /** The length the request announced (content-length), when it did. */
  exact?: number;
  max: number;
  /** The error for a body over `max`, from what was read. */
  tooLarge?: (head: Buffer) => ConnectError;
}

export function readBody(
  req: HttpRequest,
  limits: BodyLimits,
  done: (error: ConnectError | undefined, body?: Uint8Array) => void,
): void {
  const chunks: Buffer[] = [];
  let received = 0;
  const broken = () => new ConnectError(`protocol error: promised ${limits.exact} bytes, received ${received}`, Code.InvalidArgument);
  const onData = (chunk: Buffer) => {
    received += chunk.byteLength;
    if (received <= (limits.exact ?? limits.max)) return void chunks.push(chunk);
    cleanup();
    req.resume();
    done(limits.exact !== undefined ? broken() : limits.tooLarge ? limits.tooLarge(Buffer.concat([...chunks, chunk])) : new ConnectError(`message size is larger than configured readMaxBytes ${limits.max}`, Code.ResourceExhausted));
  };
  const onEnd = () => {
    cleanup();
    if (limits.exact !== undefined && received < limits.exact) return done(broken());
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

/**
 * Headers for `writeHead`/`addTrailers` (set-cookie stays a list). With `trailer`, its fields
 * follow as `trailer-<name>`, as connect's `trailerMux` puts a unary Connect answer's trailers
 * (appended to a header of that name, if any), without building the muxed Headers per call.
 */
export function nodeHeaders(headers: Headers, extra: Record<string, string> = {}, trailer?: Headers): Record<string, string | string[]> {
  // Object.assign, not a spread: V8 (Node 20) adds the properties set below to a spread's copy on a slow path.
  const out: Record<string, string | string[]> = Object.assign({}, extra);
  headers.forEach((value, key) => {
    out[key] = key === 'set-cookie' ? headers.getSetCookie() : value;
  });
  trailer?.forEach((value, key) => {
    const name = `trailer-${key}`;
    const before = out[name];
    out[name] = before === undefined ? value : `${String(before)}, ${value}`;
  });
  return out;
}

/** A Headers with these fields (cheaper than `new Headers(init)`, which converts its argument through WebIDL). */
export function headersOf(fields: Record<string, string>): Headers {
  const headers = new Headers();
  for (const key in fields) headers.set(key, fields[key]!);
  return headers;
}

export function headerValue(value: string | string[] | undefined): string | null {
  return value === undefined ? null : Array.isArray(value) ? (value[0] ?? null) : value;
}
