import { compressionNegotiate, type Compression } from '@connectrpc/connect/protocol';
import {
  codeToHttpStatus,
  contentTypeUnaryJson,
  contentTypeUnaryProto,
  errorToJsonBytes,
  parseContentType,
  parseTimeout,
} from '@connectrpc/connect/protocol-connect';
import type { HttpResponse } from './http-handler.js';
import { asConnectError, compressions, createUnaryHandler, headersOf, headerValue, nodeHeaders, writeMaybeCompressed } from './unary-call.js';
import type { FastPathHandler, UnaryMethods, FastPathOptions } from './unary-call.js';

/**
 * Unary calls over the Connect protocol (`POST /pkg.Service/Method`, `application/json` or
 * `application/proto`) without connect-node's generic path (see
 * unary-call.ts for why). Compression is negotiated by connect's `compressionNegotiate` with
 * connect-node's gzip and brotli, and answers from 1 KiB on are compressed, as connect-node does.
 * Everything else (streams, GET, a length over the limit, an unknown encoding, a bad timeout header) is
 * left to connect-node. connect-unary.test.ts sends the same requests both ways and compares.
 */
export function createConnectUnaryHandler(methods: UnaryMethods, options: FastPathOptions): FastPathHandler {
  return createUnaryHandler(methods, options, (req, res) => {
    const headers = req.headers;
    const type = parseContentType(headers['content-type'] ?? null);
    if (!type || type.stream) return undefined;
    const compression = compressionNegotiate(compressions, headerValue(headers['content-encoding']), headerValue(headers['accept-encoding']), 'accept-encoding');
    if (compression.error) return undefined;
    // Without a length (a chunked body: connect-node's own client over HTTP/1.1) read at most the limit.
    const length = headers['content-length'] === undefined ? undefined : Number(headers['content-length']);
    if (length !== undefined && !(length >= 0 && length <= options.readMaxBytes)) return undefined; // over the limit
    const timeout = parseTimeout(headerValue(headers['connect-timeout-ms']), options.maxTimeoutMs);
    if (timeout.error) return undefined;
    const reply: Reply = { res, options, compression: compression.response };
    return {
      protocolName: 'connect',
      binary: type.binary,
      timeoutMs: timeout.timeoutMs,
      limits: length === undefined ? { max: options.readMaxBytes } : { exact: length, max: options.readMaxBytes },
      responseHeader: headersOf({ 'content-type': type.binary ? contentTypeUnaryProto : contentTypeUnaryJson }),
      responseTrailer: new Headers(),
      decode: (body) => (compression.request ? compression.request.decompress(body, options.readMaxBytes) : Promise.resolve(body)),
      answer: (response, error, header, trailer) => answer(reply, response, error, header, trailer),
    };
  });
}

interface Reply {
  res: HttpResponse;
  options: FastPathOptions;
  compression: Compression | null;
}

function answer(reply: Reply, message: Uint8Array | undefined, error: unknown, header: Headers, trailer: Headers): void {
  let status = 200;
  let body = message;
  if (error !== undefined) {
    const connectError = asConnectError(error);
    status = codeToHttpStatus(connectError.code);
    header.set('content-type', contentTypeUnaryJson);
    connectError.metadata.forEach((value, key) => header.set(key, value));
    body = errorToJsonBytes(connectError, reply.options.jsonOptions);
  }
  const { res } = reply;
  writeMaybeCompressed(res, reply.compression, body!, (bytes, compressed) => {
    if (res.destroyed || res.writableEnded) return;
    if (compressed) header.set('content-encoding', reply.compression!.name);
    res.writeHead(status, nodeHeaders(header, { 'content-length': String(bytes.byteLength) }, trailer));
    res.end(bytes);
  });
}
