import http2 from 'node:http2';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';

/**
 * gRPC calls over one HTTP/2 connection with node:http2 alone: a request is one HEADERS frame and
 * one enveloped message, an answer is checked by its `grpc-status` and its messages are handed
 * over as bytes. The engine part's load generator shares the server's two cores, and
 * connect-node's client spent about as much CPU per SendEvent as the server (0.5 ms: async
 * iterables, abort signals, a ConnectError per call); this keeps the load generator's share
 * small, so the server is what gets measured. Plain gRPC on the wire: the server cannot tell it
 * from any other client.
 */
export class LeanGrpcConnection {
  readonly #session: http2.ClientHttp2Session;
  #failure: Error | undefined;

  constructor(baseUrl: string) {
    this.#session = http2.connect(baseUrl);
    this.#session.on('error', (error) => (this.#failure ??= error));
  }

  /** A unary call: the answer's message bytes, or a rejection naming the gRPC status. */
  unary(path: string, message: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      const messages: Uint8Array[] = [];
      this.#call(path, message, timeoutMs, (bytes) => messages.push(bytes), (error) => {
        if (error) return reject(error);
        if (messages.length !== 1) return reject(new Error(`${path}: ${messages.length} messages in a unary answer`));
        resolve(messages[0]!);
      });
    });
  }

  /** A server stream: `onMessage` for each message; `done` once it ended (an error unless ok). Returns a function that cancels it. */
  serverStream(path: string, message: Uint8Array, onMessage: (bytes: Uint8Array) => void, done: (error: Error | undefined) => void): () => void {
    return this.#call(path, message, undefined, onMessage, done);
  }

  close(): void {
    this.#session.destroy();
  }

  #call(path: string, message: Uint8Array, timeoutMs: number | undefined, onMessage: (bytes: Uint8Array) => void, done: (error: Error | undefined) => void): () => void {
    if (this.#failure) {
      done(this.#failure);
      return () => {};
    }
    const headers: http2.OutgoingHttpHeaders = { ':method': 'POST', ':path': path, 'content-type': 'application/grpc+proto', te: 'trailers' };
    if (timeoutMs !== undefined) headers['grpc-timeout'] = `${timeoutMs}m`;
    const stream = this.#session.request(headers);
    let httpStatus: unknown;
    let status: string | undefined;
    let statusMessage = '';
    let pending: Buffer = Buffer.alloc(0);
    let finished = false;
    const finish = (error: Error | undefined) => {
      if (finished) return;
      finished = true;
      done(error);
    };
    const readStatus = (h: http2.IncomingHttpHeaders) => {
      if (h['grpc-status'] !== undefined) {
        status = String(h['grpc-status']);
        statusMessage = decodeURIComponent(String(h['grpc-message'] ?? ''));
      }
    };
    stream.on('response', (h) => {
      httpStatus = h[':status'];
      readStatus(h); // a trailers-only answer carries the status in its headers
    });
    stream.on('trailers', readStatus);
    stream.on('data', (chunk: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      while (pending.length >= 5) {
        const length = pending.readUInt32BE(1);
        if (pending.length < 5 + length) break;
        if (pending[0]! & 1) return void stream.close(http2.constants.NGHTTP2_PROTOCOL_ERROR, () => finish(new Error(`${path}: a compressed message, none asked for`)));
        onMessage(pending.subarray(5, 5 + length));
        pending = pending.subarray(5 + length);
      }
    });
    stream.on('error', (error) => finish(error));
    stream.on('close', () => {
      if (status === '0' && pending.length === 0) finish(undefined);
      else finish(new Error(`${path}: grpc-status ${status ?? `missing (HTTP ${httpStatus})`} ${statusMessage}${pending.length ? ` (${pending.length} bytes of an incomplete message)` : ''}`));
    });
    const envelope = Buffer.alloc(5 + message.byteLength);
    envelope.writeUInt32BE(message.byteLength, 1);
    envelope.set(message, 5);
    stream.end(envelope);
    return () => {
      finished = true;
      stream.close(http2.constants.NGHTTP2_CANCEL);
    };
  }
}

/**
 * A uint32 field of a message field, read from the wire without decoding the rest (the harness
 * needs only the version of the workflow or history entry an answer carries). Undefined when absent.
 */
export function nestedUint32(bytes: Uint8Array, outerField: number, innerField: number): number | undefined {
  const outer = new BinaryReader(bytes);
  let found: number | undefined;
  while (outer.pos < outer.len) {
    const [no, wireType] = outer.tag();
    if (no !== outerField || wireType !== WireType.LengthDelimited) {
      outer.skip(wireType, no);
      continue;
    }
    const inner = new BinaryReader(outer.bytes());
    while (inner.pos < inner.len) {
      const [innerNo, innerType] = inner.tag();
      if (innerNo === innerField && innerType === WireType.Varint) found = inner.uint32();
      else inner.skip(innerType, innerNo);
    }
  }
  return found;
}
