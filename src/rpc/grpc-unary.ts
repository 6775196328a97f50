import { Code, ConnectError } from '@connectrpc/connect';
import { compressionNegotiate, encodeEnvelope, type Compression } from '@connectrpc/connect/protocol';
import { contentTypeProto, grpcStatusOk, parseContentType, parseTimeout, setTrailerStatus } from '@connectrpc/connect/protocol-grpc';
import { noteAnswerTrailers } from '../engine/answer-turn.js';
import type { HttpRequest, HttpResponse } from './http-handler.js';
import { asConnectError, compressions, createUnaryHandler, headersOf, headerValue, nodeHeaders, writeMaybeCompressed } from './unary-call.js';
import type { FastPathHandler, UnaryMethods, FastPathOptions } from './unary-call.js';

/**
 * Unary gRPC calls (HTTP/2, `application/grpc` or `application/grpc+proto`) without
 * connect-node's generic path (see unary-call.ts for why): one length-prefixed message in, one
 * out, the status in trailers, errors with connect's `setTrailerStatus` (metadata, message,
 * details). Compression is negotiated with connect's `compressionNegotiate` (gzip, brotli) and
 * answers from 1 KiB on are compressed, as connect-node does. gRPC-Web, JSON, streams and a bad
 * `grpc-timeout` are left to connect-node. grpc-unary.test.ts calls both with the gRPC client.
 */
export function createGrpcUnaryHandler(methods: UnaryMethods, options: FastPathOptions): FastPathHandler {
  return createUnaryHandler(methods, options, (req, res) => {
    const plain = plainGrpcRequest(req, options);
    if (!plain) return undefined;
    const { compression, timeoutMs } = plain;
    const reply: Reply = { res, compression: compression.response };
    return {
      protocolName: 'grpc',
      binary: true,
      timeoutMs,
      limits: { max: options.readMaxBytes + 5, tooLarge: (head) => tooLarge(head, options.readMaxBytes) },
      responseHeader: grpcResponseHeader(compression.response),
      responseTrailer: headersOf({ 'grpc-status': grpcStatusOk }),
      decode: (body) => message(body, compression.request, options.readMaxBytes),
      answer: (response, error, header, trailer) => answer(reply, response, error, header, trailer),
    };
  });
}

/**
 * What a gRPC fast path needs to know of a request it can take: HTTP/2, protobuf, a compression
 * it knows, a valid `grpc-timeout`. Undefined for anything else (connect-node answers it).
 */
export function plainGrpcRequest(req: HttpRequest, options: Pick<FastPathOptions, 'maxTimeoutMs'>): { compression: ReturnType<typeof compressionNegotiate>; timeoutMs: number | undefined } | undefined {
  if (req.httpVersionMajor !== 2) return undefined;
  const headers = req.headers;
  const type = parseContentType(headers['content-type'] ?? null);
  if (!type || !type.binary) return undefined;
  const compression = compressionNegotiate(compressions, headerValue(headers['grpc-encoding']), headerValue(headers['grpc-accept-encoding']), 'grpc-accept-encoding');
  if (compression.error) return undefined;
  const timeout = parseTimeout(headerValue(headers['grpc-timeout']), options.maxTimeoutMs);
  if (timeout.error) return undefined;
  return { compression, timeoutMs: timeout.timeoutMs };
}

/** The response header a gRPC answer starts with. */
export function grpcResponseHeader(compression: Compression | null): Headers {
  return headersOf(compression ? { 'content-type': contentTypeProto, 'grpc-encoding': compression.name } : { 'content-type': contentTypeProto });
}

/** A body over one full-size message: the first is too large, or a second one follows. */
export function tooLarge(head: Buffer, readMaxBytes: number, kind: MethodKind = 'unary'): ConnectError {
  const length = head.readUInt32BE(1);
  return length > readMaxBytes ? oversize(length, readMaxBytes) : extraMessage(kind);
}

/** How connect names the method kind in its protocol errors. */
export type MethodKind = 'unary' | 'server-streaming';

const oversize = (length: number, readMaxBytes: number) => new ConnectError(`message size ${length} is larger than configured readMaxBytes ${readMaxBytes}`, Code.ResourceExhausted);
const extraMessage = (kind: MethodKind) => new ConnectError(`protocol error: received extra input message for ${kind} method`, Code.Unimplemented);

/** The one message of a request body, with connect's errors for anything else. */
export async function message(body: Uint8Array, compression: Compression | null, readMaxBytes: number, kind: MethodKind = 'unary'): Promise<Uint8Array> {
  if (body.byteLength === 0) throw new ConnectError(`protocol error: missing input message for ${kind} method`, Code.Unimplemented);
  if (body.byteLength < 5) throw new ConnectError('protocol error: incomplete envelope', Code.InvalidArgument);
  const length = new DataView(body.buffer, body.byteOffset, body.byteLength).getUint32(1);
  if (length > readMaxBytes) throw oversize(length, readMaxBytes);
  if (body.byteLength < 5 + length) throw new ConnectError('protocol error: incomplete envelope', Code.InvalidArgument);
  if (body.byteLength > 5 + length) throw extraMessage(kind);
  const data = body.subarray(5);
  if ((body[0]! & 0b1) === 0) return data;
  if (!compression) throw new ConnectError('received compressed envelope, but do not know how to decompress', Code.Internal);
  return compression.decompress(data, readMaxBytes);
}

interface Reply {
  res: HttpResponse;
  compression: Compression | null;
}

function answer(reply: Reply, message: Uint8Array | undefined, error: unknown, header: Headers, trailer: Headers): void {
  const { res } = reply;
  const write = (envelope: Uint8Array | undefined) => {
    if (res.destroyed || res.writableEnded) return;
    res.writeHead(200, nodeHeaders(header));
    if (envelope) res.write(envelope);
    (res as HttpResponse & { addTrailers(t: Record<string, string | string[]>): void }).addTrailers(nodeHeaders(error === undefined ? trailer : setTrailerStatus(trailer, asConnectError(error))));
    res.end();
    // node:http2 submits the trailers from an immediate: the engine's fan-out lets them out first.
    noteAnswerTrailers();
  };
  if (error !== undefined) return write(undefined);
  writeMaybeCompressed(res, reply.compression, message!, (bytes, compressed) => write(encodeEnvelope(compressed ? 1 : 0, bytes)));
}
