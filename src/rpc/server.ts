import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { HttpHandler as Handler } from './http-handler.js';
import type { Logger } from '../telemetry/logger.js';

/** A listening server; `close` drains it within a grace period. */
export interface RunningServer {
  readonly port: number;
  readonly address: string;
  /**
   * Stops accepting connections, lets in-flight requests finish for up to `graceMs`,
   * then destroys what is left. Resolves when every socket is closed.
   */
  close(graceMs: number): Promise<void>;
}

export interface ServerOptions {
  port: number;
  host: string;
  handler: Handler;
  logger: Logger;
}

/** The first bytes of every HTTP/2 connection with prior knowledge (RFC 9113, 3.4). */
const h2Preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/**
 * One port for gRPC (HTTP/2 cleartext), gRPC-Web and Connect over HTTP/1.1 and HTTP/2.
 *
 * Node ignores `allowHTTP1` on a cleartext http2 server, so a plain TCP server owns
 * the socket, reads the first bytes, and hands the connection to the HTTP/2 server
 * when they are the HTTP/2 preface, to the HTTP/1.1 server otherwise. The bytes
 * read are put back with `unshift`; the http2 session takes them from the socket's
 * readable buffer. Every socket is tracked here so shutdown can see them all.
 */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const { logger } = options;
  const h1 = http.createServer(options.handler);
  // Longer than the idle timeout of typical clients and load balancers (60 s), so the server is not
  // the side closing an idle keep-alive connection while a client starts writing on it (EPIPE).
  h1.keepAliveTimeout = 65_000;
  h1.headersTimeout = 66_000;
  const h2 = http2.createServer({}, options.handler);
  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.ServerHttp2Session>();
  let active = 0; // HTTP/1 requests in flight
  let closing = false;

  h1.on('request', (_req, res) => {
    active++;
    res.once('close', () => active--);
    if (closing) res.setHeader('connection', 'close');
  });
  h2.on('session', (session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
    if (closing) session.close();
  });
  for (const server of [h1, h2]) {
    server.on('clientError', (err: Error, socket: net.Socket) => {
      logger.debug('client error', { err });
      socket.destroy();
    });
  }

  // noDelay: replies are small writes; with Nagle's algorithm each would wait for the peer's
  // delayed ACK (tens of ms). http.createServer sets this itself, but we own the socket.
  const tcp = net.createServer({ noDelay: true, keepAlive: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', (err) => logger.debug('socket error', { err }));
    route(socket, h1, h2);
  });
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(options.port, options.host, () => {
      tcp.off('error', reject);
      resolve();
    });
  });
  const bound = tcp.address() as net.AddressInfo;

  return {
    port: bound.port,
    address: bound.address,
    async close(graceMs: number) {
      if (closing) return;
      closing = true;
      const closed = new Promise<void>((resolve) => tcp.close(() => resolve()));
      for (const session of sessions) session.close(); // GOAWAY; open streams may finish
      h1.closeIdleConnections();
      const deadline = Date.now() + graceMs;
      while ((active > 0 || sessions.size > 0) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        h1.closeIdleConnections();
      }
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

/** Reads just enough of a new connection to tell HTTP/2 from HTTP/1.x. */
function route(socket: net.Socket, h1: http.Server, h2: http2.Http2Server): void {
  let seen = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    seen = Buffer.concat([seen, chunk]);
    const n = Math.min(seen.length, h2Preface.length);
    const isH2 = seen.subarray(0, n).equals(h2Preface.subarray(0, n));
    if (isH2 && seen.length < h2Preface.length) return; // need more bytes to decide
    socket.off('data', onData);
    socket.pause();
    if (isH2) {
      // The http2 session drains the socket's readable buffer before reading the handle.
      socket.unshift(seen);
      h2.emit('connection', socket);
    } else {
      // The HTTP/1 parser reads the handle directly and would miss unshifted bytes: feed them as data.
      h1.emit('connection', socket);
      socket.emit('data', seen);
      socket.resume();
    }
  };
  socket.on('data', onData);
}
