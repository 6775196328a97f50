import { create, type DescMessage, type DescMethodServerStreaming, type DescService, type Message } from '@bufbuild/protobuf';
import { Code, ConnectError, type StreamRequest, type StreamResponse } from '@connectrpc/connect';
import { createAsyncIterable, encodeEnvelope, type Compression } from '@connectrpc/connect/protocol';
import { grpcStatusOk, setTrailerStatus } from '@connectrpc/connect/protocol-grpc';
import { grpcResponseHeader, message as requestMessage, plainGrpcRequest, tooLarge } from './grpc-unary.js';
import { CallRegistry, type CallEntry } from './call-registry.js';
import type { HttpRequest, HttpResponse } from './http-handler.js';
import {
  answerSafely,
  asConnectError,
  callEnded,
  FastPathRequest,
  handlerContext,
  headersOf,
  methodRoutes,
  nodeHeaders,
  readBody,
  type CallExtras,
  type Route,
  type ServerStreamingMethods,
  type ServerStreamingSpec,
  type FastPathHandler,
  type FastPathOptions,
} from './unary-call.js';

/** Messages from this size on are compressed when the client accepts it (connect's `compressMinBytes`). */
const compressMinBytes = 1024;

type Next = (req: StreamRequest) => Promise<StreamResponse>;

/**
 * Server-streaming gRPC calls (HTTP/2, protobuf; WatchWorkflow, WatchWorkflows) without
 * connect-node's generic path: every message of a watch stream went through a chain of async
 * iterables (the implementation's, connect's invoke, serialize, compress, join and catch
 * transforms, the adapter's writer), a few microtasks and promises each, for each transition and
 * watcher. Here the interceptors and the implementation are the same (composed once per method),
 * and each message is serialized, framed with connect's `encodeEnvelope` and written, waiting
 * only when the stream's buffer is full. As connect-node: headers go out with the first message
 * (the implementation may set them until then), the status and the implementation's trailers in
 * trailers, messages from 1 KiB on compressed when the client accepts gzip or brotli, and the
 * call's signal aborts when the client leaves, at the deadline (`grpc-timeout`, for the whole
 * stream), at shutdown and when the call ends. gRPC-Web, Connect streams and anything unusual
 * stay with connect-node. grpc-server-stream.test.ts compares the two paths frame by frame.
 */
export function createGrpcServerStreamHandler(methods: ServerStreamingMethods, options: FastPathOptions): FastPathHandler {
  const routes = methodRoutes(methods, options, implementation);
  const calls = new CallRegistry(options.shutdownSignal);
  return (req, res) => {
    if (req.method !== 'POST') return false;
    const route = routes.get(req.url ?? '');
    if (!route) return false;
    const plain = plainGrpcRequest(req, options);
    if (!plain) return false;
    const { compression, timeoutMs } = plain;
    readBody(req, { max: options.readMaxBytes + 5, tooLarge: (head) => tooLarge(head, options.readMaxBytes, 'server-streaming') }, (error, body) => {
      // Not before: a client that leaves mid-body gets no answer, and leaves no call behind.
      const call = new StreamCall(req, res, route, options, calls, timeoutMs, compression.response);
      if (error) return call.end(error);
      requestMessage(body!, compression.request, options.readMaxBytes, 'server-streaming')
        .then((bytes) => call.run(route.serialization.getI(true).parse(bytes)))
        .catch((e: unknown) => call.end(e));
    });
    return true;
  };
}

/** The implementation as the innermost `next`, with the context connect gives it. */
function implementation(spec: ServerStreamingSpec): Next {
  const { method } = spec;
  return async (req) => {
    const context = handlerContext(method, req as StreamRequest & CallExtras);
    const input = await single(req.message);
    const output = spec.impl(input as never, context) as AsyncIterable<unknown>;
    return { stream: true, service: req.service, method, header: context.responseHeader, trailer: context.responseTrailer, message: messagesOf(method.output, output) };
  };
}

async function single<T>(messages: AsyncIterable<T>): Promise<T> {
  for await (const message of messages) return message;
  throw new ConnectError('protocol error: missing input message for server-streaming method', Code.Unimplemented);
}

/** The implementation's output as messages of `schema` (it may yield plain initializers). */
async function* messagesOf(schema: DescMessage, output: AsyncIterable<unknown>): AsyncIterable<Message> {
  for await (const value of output) yield create(schema, value as never);
}

/** One server stream in flight: its signal, its deadline, and how it ends on the wire. */
class StreamCall {
  readonly #controller = new AbortController();
  readonly #deadlineAt: number | undefined;
  readonly #deadline: ReturnType<typeof setTimeout> | undefined;
  readonly #header: Headers;
  readonly #trailer = headersOf({ 'grpc-status': grpcStatusOk });
  #ended = false;
  readonly #onClose = () => this.abort(new ConnectError('the client closed the connection', Code.Canceled));
  readonly #entry: CallEntry;

  constructor(
    private readonly req: HttpRequest,
    private readonly res: HttpResponse,
    private readonly route: Route<DescMethodServerStreaming, Next>,
    private readonly options: FastPathOptions,
    private readonly calls: CallRegistry,
    timeoutMs: number | undefined,
    private readonly compression: Compression | null,
  ) {
    this.#header = grpcResponseHeader(compression);
    if (timeoutMs !== undefined) {
      this.#deadlineAt = Date.now() + timeoutMs;
      this.#deadline = setTimeout(() => this.abort(new ConnectError('the operation timed out', Code.DeadlineExceeded)), timeoutMs);
    }
    if (options.shutdownSignal.aborted) this.abort(options.shutdownSignal.reason);
    this.#entry = calls.add(this);
    res.once('close', this.#onClose);
  }

  abort(reason: unknown): void {
    if (!this.#controller.signal.aborted) this.#controller.abort(reason);
  }

  /** Runs the interceptors and the implementation, and writes each message as it comes. */
  async run(input: unknown): Promise<void> {
    let messages: AsyncIterator<Message> | undefined;
    let done = false;
    try {
      const response = await this.route.invoke(this.#request(input));
      response.header.forEach((value, key) => this.#header.set(key, value));
      messages = response.message[Symbol.asyncIterator]();
      for (;;) {
        const next = await messages.next();
        if (next.done) break;
        if (!(await this.#write(this.route.serialization.getO(true).serialize(next.value)))) return; // the client is gone
      }
      done = true;
      response.trailer.forEach((value, key) => this.#trailer.set(key, value));
      this.end(undefined);
    } catch (error) {
      done = true;
      this.end(error);
    } finally {
      // Stopped early (the client left): let the implementation's generator finish.
      if (!done) messages?.return?.().catch(() => {});
      this.end(undefined);
    }
  }

  /** Writes one message; false when the stream can no longer be written (the client left). */
  async #write(bytes: Uint8Array): Promise<boolean> {
    const { res } = this;
    let flags = 0;
    if (this.compression && bytes.byteLength >= compressMinBytes) {
      bytes = await this.compression.compress(bytes);
      flags = 1;
    }
    if (res.destroyed || res.writableEnded) return false;
    if (!res.headersSent) res.writeHead(200, nodeHeaders(this.#header));
    if (res.write(encodeEnvelope(flags, bytes))) return true;
    return new Promise<boolean>((resolve) => {
      const settle = () => {
        res.off('drain', settle);
        res.off('close', settle);
        resolve(!res.destroyed);
      };
      res.on('drain', settle);
      res.on('close', settle);
    });
  }

  /** Ends the stream once: headers if none went out yet, then the status in trailers. */
  end(error: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#deadline) clearTimeout(this.#deadline);
    this.calls.delete(this.#entry);
    this.res.off('close', this.#onClose);
    this.abort(callEnded);
    const { res } = this;
    if (res.destroyed || res.writableEnded) return;
    const trailer = error === undefined ? this.#trailer : setTrailerStatus(this.#trailer, asConnectError(error));
    answerSafely(res, () => {
      if (!res.headersSent) res.writeHead(200, nodeHeaders(this.#header));
      (res as HttpResponse & { addTrailers(t: Record<string, string | string[]>): void }).addTrailers(nodeHeaders(trailer));
      res.end();
    });
  }

  #request(input: unknown): StreamRequest & CallExtras {
    return new StreamCallRequest(this.req, this.options, this.#deadlineAt, this.#header, this.#trailer, this.route.method, input, this.#controller.signal);
  }
}

/** A server stream's request to the interceptors: one message in, the call's signal. */
class StreamCallRequest extends FastPathRequest implements StreamRequest {
  readonly stream = true;
  readonly service: DescService;
  readonly message: AsyncIterable<Message>;

  constructor(
    req: HttpRequest,
    options: FastPathOptions,
    deadlineAt: number | undefined,
    header: Headers,
    trailer: Headers,
    readonly method: DescMethodServerStreaming,
    input: unknown,
    readonly signal: AbortSignal,
  ) {
    super(req, options, deadlineAt, header, trailer, 'grpc');
    this.service = method.parent;
    this.message = createAsyncIterable([input as Message]);
  }
}
