import type { UnaryResponse } from '@connectrpc/connect';
import { compressionNegotiate, type Compression } from '@connectrpc/connect/protocol';
import {
  codeToHttpStatus,
  contentTypeUnaryJson,
  contentTypeUnaryProto,
  errorToJsonBytes,
  parseContentType,
  parseTimeout,
  trailerMux,
} from '@connectrpc/connect/protocol-connect';
import type { HttpResponse } from './http-handler.js';
import {
  answerSafely,
  asConnectError,
  CallRegistry,
  compressions,
  compressMinBytes,
  headerValue,
  nodeHeaders,
  readBody,
  UnaryCall,
  unaryRoutes,
  type UnaryHandler,
  type UnaryMethods,
  type UnaryOptions,
  type UnaryRoute,
} from './unary-call.js';

/**
 * Unary calls over the Connect protocol (`POST /pkg.Service/Method`, `application/json` or
 * `application/proto`, with a content length) without connect-node's generic path (see
 * unary-call.ts for why). Compression is negotiated by connect's `compressionNegotiate` with
 * connect-node's gzip and brotli, and answers from 1 KiB on are compressed, as connect-node does.
 * Everything else (streams, GET, chunked bodies, an unknown encoding, a bad timeout header) is
 * left to connect-node. connect-unary.test.ts sends the same requests both ways and compares.
 */
export function createConnectUnaryHandler(methods: UnaryMethods, options: UnaryOptions): UnaryHandler {
  const routes = unaryRoutes(methods, options);
  const calls = new CallRegistry(options.shutdownSignal);
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
    const reply = { res, route, binary: type.binary, options, compression: compression.response };
    readBody(req, { exact: length, max: options.readMaxBytes }, (error, body) => {
      const responseHeader = new Headers({ 'content-type': type.binary ? contentTypeUnaryProto : contentTypeUnaryJson });
      if (error) return answerSafely(res, () => answer(reply, undefined, error, responseHeader, new Headers()));
      const call = new UnaryCall(req, res, {
        route,
        protocolName: 'connect',
        timeoutMs: timeout.timeoutMs,
        responseHeader,
        responseTrailer: new Headers(),
        options,
        calls,
        answer: (response, e, header, trailer) => answer(reply, response, e, header, trailer),
      });
      const bytes = compression.request ? compression.request.decompress(body!, options.readMaxBytes) : Promise.resolve(body!);
      bytes.then((b) => call.run(route.serialization.getI(type.binary).parse(b))).catch((e: unknown) => call.finish(undefined, e));
    });
    return true;
  };
}

interface Reply {
  res: HttpResponse;
  route: UnaryRoute;
  binary: boolean;
  options: UnaryOptions;
  compression: Compression | null;
}

function answer(reply: Reply, response: UnaryResponse | undefined, error: unknown, header: Headers, trailer: Headers): void {
  const { res, route, binary } = reply;
  let status = 200;
  let body: Uint8Array | undefined;
  if (error === undefined) {
    try {
      body = route.serialization.getO(binary).serialize(response!.message);
    } catch (e) {
      error = e;
    }
  }
  if (error !== undefined) {
    const connectError = asConnectError(error);
    status = codeToHttpStatus(connectError.code);
    header.set('content-type', contentTypeUnaryJson);
    connectError.metadata.forEach((value, key) => header.set(key, value));
    body = errorToJsonBytes(connectError, reply.options.jsonOptions);
  }
  const write = (bytes: Uint8Array) => {
    if (res.destroyed || res.writableEnded) return;
    res.writeHead(status, nodeHeaders(trailerMux(header, trailer), { 'content-length': String(bytes.byteLength) }));
    res.end(bytes);
  };
  const compression = reply.compression;
  if (!compression || body!.byteLength < compressMinBytes) return write(body!);
  header.set('content-encoding', compression.name);
  compression.compress(body!).then((bytes) => answerSafely(res, () => write(bytes)), () => res.destroy());
}
