import http2 from 'node:http2';

/**
 * Raw gRPC over HTTP/2 for the fast paths' differential tests (grpc-unary.test.ts,
 * grpc-server-stream.test.ts): requests as a gRPC client sends them, answers as the wire has them.
 */
export const grpc = { 'content-type': 'application/grpc' };

/** A length-prefixed message; flags 1 marks it compressed. */
export function envelope(message: Uint8Array, flags = 0): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(flags, 0);
  head.writeUInt32BE(message.byteLength, 1);
  return Buffer.concat([head, message]);
}

export interface Answer {
  status: number;
  headers: Record<string, unknown>;
  trailers: Record<string, unknown>;
  /** The DATA frames' bytes, in hex. */
  body: string;
}

/** One raw HTTP/2 request, read to its end. */
export function send(port: number, path: string, body: Buffer, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const stream = session.request({ ':method': 'POST', ':path': path, te: 'trailers', ...headers });
    const answer: Answer = { status: 0, headers: {}, trailers: {}, body: '' };
    const chunks: Buffer[] = [];
    stream.on('response', (h) => {
      answer.status = Number(h[':status']);
      answer.headers = h;
    });
    stream.on('trailers', (t) => (answer.trailers = t));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      answer.body = Buffer.concat(chunks).toString('hex');
      session.close();
      resolve(answer);
    });
    stream.on('error', reject);
    stream.end(body);
  });
}

/** What a gRPC client depends on (not date). */
export function visible(a: Answer) {
  const pick = (from: Record<string, unknown>, keys: string[]) => Object.fromEntries(keys.map((k) => [k, from[k]]));
  return {
    status: a.status,
    body: a.body,
    headers: pick(a.headers, ['content-type', 'grpc-encoding', 'x-header', 'grpc-status', 'grpc-message']),
    trailers: pick(a.trailers, ['grpc-status', 'grpc-message', 'grpc-status-details-bin', 'x-trailer', 'x-reason']),
  };
}
