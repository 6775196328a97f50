import http from 'node:http';
import type { Transport } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport, Http2SessionManager } from '@connectrpc/connect-node';

/** Wire protocols the harness drives; each name says the protocol and the HTTP version. */
export type Protocol = 'grpc' | 'grpc-web' | 'connect-json';

/**
 * Who drives the engine part: `lean` speaks the wire protocols with node:http2 / node:http alone
 * (lean-grpc.ts, RawConnectJsonClient), `connect` uses connect-node's clients.
 */
export const ENGINE_CLIENTS = ['lean', 'connect'] as const;
export type EngineClient = (typeof ENGINE_CLIENTS)[number];

export const PROTOCOL_LABELS: Record<Protocol, string> = {
  grpc: 'gRPC (h2)',
  'grpc-web': 'gRPC-Web (HTTP/1.1)',
  'connect-json': 'Connect JSON (HTTP/1.1)',
};

/** A transport and what it holds open; `close` drops the connections. */
export interface BenchTransport {
  readonly transport: Transport;
  close(): void;
}

/**
 * A connect-node transport for `protocol`. HTTP/1.1 transports get a keep-alive agent with
 * `sockets` connections (one per request in flight, so requests never queue in the client);
 * gRPC multiplexes everything over one HTTP/2 connection, as a real gRPC client does.
 */
export function createBenchTransport(protocol: Protocol, baseUrl: string, sockets: number): BenchTransport {
  if (protocol === 'grpc') {
    const sessionManager = new Http2SessionManager(baseUrl);
    return { transport: createGrpcTransport({ baseUrl, sessionManager }), close: () => sessionManager.abort() };
  }
  const agent = keepAliveAgent(sockets);
  const transport =
    protocol === 'grpc-web'
      ? createGrpcWebTransport({ baseUrl, httpVersion: '1.1', nodeOptions: { agent } })
      : createConnectTransport({ baseUrl, httpVersion: '1.1', useBinaryFormat: false, nodeOptions: { agent } });
  return { transport, close: () => agent.destroy() };
}

export function keepAliveAgent(sockets: number): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets });
}

/**
 * Connect JSON unary calls with node:http alone, as curl would send them: `POST
 * /<service>/<method>` with a JSON body, over keep-alive connections. Much less client work
 * per call than connect-node, so the server, not the client, is what gets measured.
 * A non-200 answer rejects with the Connect error JSON in the message.
 */
export class RawConnectJsonClient {
  readonly #agent: http.Agent;
  readonly #url: URL;

  constructor(baseUrl: string, sockets: number) {
    this.#url = new URL(baseUrl);
    this.#agent = keepAliveAgent(sockets);
  }

  call(procedure: string, body: unknown): Promise<unknown> {
    const payload = JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          agent: this.#agent,
          host: this.#url.hostname,
          port: this.#url.port,
          method: 'POST',
          path: `/${procedure}`,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if (res.statusCode !== 200) return reject(new Error(`${procedure}: HTTP ${res.statusCode} ${text}`));
            try {
              resolve(JSON.parse(text));
            } catch (error) {
              reject(error);
            }
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}
