import { Code, ConnectError, type UnaryResponse } from '@connectrpc/connect';
import { compressionNegotiate, type Compression } from '@connectrpc/connect/protocol';
import { contentTypeProto, grpcStatusOk, parseContentType, parseTimeout, setTrailerStatus } from '@connectrpc/connect/protocol-grpc';
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
 * Unary gRPC calls (HTTP/2, `application/grpc` or `application/grpc+proto`) without
 * connect-node's generic path (see unary-call.ts for why): one length-prefixed message in, one
 * out, the status in trailers, errors with connect's `setTrailerStatus` (metadata, message,
 * details). Compression is negotiated with connect's `compressionNegotiate` (gzip, brotli) and
 * answers from 1 KiB on are compressed, as connect-node does. gRPC-Web, JSON, streams and a bad
 * `grpc-timeout` are left to connect-node. grpc-unary.test.ts calls both with the gRPC client.
 */
export function createGrpcUnaryHandler(methods: UnaryMethods, options: UnaryOptions): UnaryHandler {
  const routes = unaryRoutes(methods, options);
  const calls = new CallRegistry(options.shutdownSignal);
  return (req, res) => {
    if (req.method !== 'POST' || req.httpVersionMajor !== 2) return false;
    const route = routes.get(req.url ?? '');
    if (!route) return false;
    const headers = req.headers;
    const type = parseContentType(headers['content-type'] ?? null);
    if (!type || !type.binary) return false;
    const compression = compressionNegotiate(compressions, headerValue(headers['grpc-encoding']), headerValue(headers['grpc-accept-encoding']), 'grpc-accept-encoding');
    if (compression.error) return false;
    const timeout = parseTimeout(headerValue(headers['grpc-timeout']), options.maxTimeoutMs);
    if (timeout.error) return false;
    const responseHeader = new Headers({ 'content-type': contentTypeProto });
    if (compression.response) responseHeader.set('grpc-encoding', compression.response.name);
    const reply: Reply = { res, route, compression: compression.response };
    readBody(req, { max: options.readMaxBytes + 5, tooLarge: (head) => tooLarge(head, options.readMaxBytes) }, (error, body) => {
      if (error) return answerSafely(res, () => answer(reply, undefined, error, responseHeader, new Headers({ 'grpc-status': grpcStatusOk })));
      const call = new UnaryCall(req, res, {
        route,
        protocolName: 'grpc',
        timeoutMs: timeout.timeoutMs,
        responseHeader,
        responseTrailer: new Headers({ 'grpc-status': grpcStatusOk }),
        options,
        calls,
        answer: (response, e, header, trailer) => answer(reply, response, e, header, trailer),
      });
      message(body!, compression.request, options.readMaxBytes)
        .then((bytes) => call.run(route.serialization.getI(true).parse(bytes)))
        .catch((e: unknown) => call.finish(undefined, e));
    });
    return true;
  };
}

/** A body over one full-size message: the first is too large, or a second one follows. */
function tooLarge(head: Buffer, readMaxBytes: number): ConnectError {
  const length = head.readUInt32BE(1);
  return length > readMaxBytes ? oversize(length, readMaxBytes) : extraMessage();
}

const oversize = (length: number, readMaxBytes: number) => new ConnectError(`message size ${length} is larger than configured readMaxBytes ${readMaxBytes}`, Code.ResourceExhausted);
const extraMessage = () => new ConnectError('protocol error: received extra input message for unary method', Code.Unimplemented);

/** The one message of a unary request body, with connect's errors for anything else. */
async function message(body: Uint8Array, compression: Compression | null, readMaxBytes: number): Promise<Uint8Array> {
  if (body.byteLength === 0) throw new ConnectError('protocol error: missing input message for unary method', Code.Unimplemented);
  if (body.byteLength < 5) throw new ConnectError('protocol error: incomplete envelope', Code.InvalidArgument);
  const length = new DataView(body.buffer, body.byteOffset, body.byteLength).getUint32(1);
  if (length > readMaxBytes) throw oversize(length, readMaxBytes);
  if (body.byteLength < 5 + length) throw new ConnectError('protocol error: incomplete envelope', Code.InvalidArgument);
  if (body.byteLength > 5 + length) throw extraMessage();
  const data = body.subarray(5);
  if ((body[0]! & 0b1) === 0) return data;
  if (!compression) throw new ConnectError('received compressed envelope, but do not know how to decompress', Code.Internal);
  return compression.decompress(data, readMaxBytes);
}

interface Reply {
  res: HttpResponse;
  route: UnaryRoute;
  compression: Compression | null;
}

function answer(reply: Reply, response: UnaryResponse | undefined, error: unknown, header: Headers, trailer: Headers): void {
  const { res, route } = reply;
  let body: Uint8Array | undefined;
  if (error === undefined) {
    try {
      body = route.serialization.getO(true).serialize(response!.message);
    } catch (e) {
      error = e;
    }
  }
  const write = (envelope: Uint8Array | undefined) => {
    if (res.destroyed || res.writableEnded) return;
    res.writeHead(200, nodeHeaders(header));
    if (envelope) res.write(envelope);
    (res as HttpResponse & { addTrailers(t: Record<string, string | string[]>): void }).addTrailers(nodeHeaders(error === undefined ? trailer : setTrailerStatus(trailer, asConnectError(error))));
    res.end();
  };
  if (error !== undefined) return write(undefined);
  const compression = reply.compression;
  if (!compression || body!.byteLength < compressMinBytes) return write(envelope(0, body!));
  compression.compress(body!).then((compressed) => answerSafely(res, () => write(envelope(1, compressed))), () => res.destroy());
}

function envelope(flags: number, data: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(5 + data.byteLength);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, flags);
  view.setUint32(1, data.byteLength);
  bytes.set(data, 5);
  return bytes;
}

