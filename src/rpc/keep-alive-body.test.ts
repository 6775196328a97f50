import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { create, toBinary } from '@bufbuild/protobuf';
import { HealthCheckRequestSchema } from '../../gen/grpc/health/v1/health_pb.js';
import { envelope } from './test-support/grpc-wire.js';
import { serve, until, type Served } from './test-support/unary-fixture.js';

/** One HTTP/1.1 connection, read as text; `until` waits for what has arrived so far to match. */
class Connection {
  readonly socket: net.Socket;
  received = '';

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.setEncoding('latin1').on('data', (text: string) => (this.received += text));
  }

  async until(pattern: RegExp, what: string): Promise<void> {
    // A bound on waiting, not a measurement: without the fix the connection never answers.
    await until(() => pattern.test(this.received), 10_000).catch(() =>
      assert.fail(`${what}: the server did not answer; got ${JSON.stringify(this.received.slice(-300))}`),
    );
  }
}

/** One chunk of a chunked body, as bytes (a length over 0x7f must not pass through UTF-8). */
const chunk = (bytes: Buffer) => Buffer.concat([Buffer.from(`${bytes.byteLength.toString(16)}\r\n`), bytes, Buffer.from('\r\n')]);

/**
 * A request body the server refuses after its first bytes (it announces a message over the 4 KiB
 * limit), whose rest arrives only after the answer: the next request on the same connection must
 * still be served.
 */
const refused: { name: string; path: string; contentType: string; body: Buffer; answer: RegExp }[] = [
  {
    name: 'gRPC-Web unary',
    path: '/grpc.health.v1.Health/Check',
    contentType: 'application/grpc-web+proto',
    body: envelope(toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service: 'x'.repeat(5000) }))),
    answer: /grpc-status:\s*8/,
  },
  {
    name: 'a Connect server stream',
    path: '/grpc.health.v1.Health/Watch',
    contentType: 'application/connect+json',
    body: envelope(Buffer.from(JSON.stringify({ service: 'x'.repeat(5000) }))),
    answer: /resource_exhausted/,
  },
];

describe('HTTP/1.1 keep-alive after connect-node refuses a body midway', () => {
  let served: Served;
  before(async () => (served = await serve(true)));
  after(async () => served.server.close(100));

  for (const c of refused) {
    it(`serves the next request after refusing ${c.name}`, async () => {
      const connection = new Connection(served.server.port);
      await once(connection.socket, 'connect');
      const head = `POST ${c.path} HTTP/1.1\r\nhost: localhost\r\ncontent-type: ${c.contentType}\r\ntransfer-encoding: chunked\r\n\r\n`;
      connection.socket.write(Buffer.concat([Buffer.from(head), chunk(c.body.subarray(0, 100))]));
      await connection.until(/\r\n0\r\n\r\n/, 'the refusal');
      assert.match(connection.received, c.answer);
      connection.received = '';
      // The rest of the body, its last chunk and the next request apart, as a client's writes may come.
      for (const bytes of [chunk(c.body.subarray(100)), Buffer.from('0\r\n\r\n')]) {
        connection.socket.write(bytes);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const next = JSON.stringify({ service: '' });
      connection.socket.write(`POST /grpc.health.v1.Health/Check HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: ${next.length}\r\n\r\n${next}`);
      await connection.until(/"status":"SERVING"/, 'the next request');
      assert.match(connection.received, /^HTTP\/1\.1 200 /);
      connection.socket.destroy();
    });
  }
});
