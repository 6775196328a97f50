import type { ConnectRouter, Interceptor } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { createConnectUnaryHandler } from './connect-unary.js';
import { createGrpcServerStreamHandler } from './grpc-server-stream.js';
import { createGrpcUnaryHandler } from './grpc-unary.js';
import { recordMethods, type ServerStreamingMethods, type UnaryMethods } from './unary-call.js';
import { withCors } from './cors.js';
import { discardBodyOnEarlyReturn } from './keep-alive-body.js';
import type { HttpHandler } from './http-handler.js';
import { countRejectedRequests, markNotRpc, rpcContextValues, type RecordRejected } from './rejected-requests.js';

export interface RpcHandlerOptions {
  routes: (router: ConnectRouter) => void;
  corsOrigins: readonly string[];
  maxRequestBytes: number;
  maxTimeoutMs: number;
  /** Aborted (with an `unavailable` ConnectError) when the server shuts down. */
  shutdownSignal: AbortSignal;
  interceptors: Interceptor[];
  /** Plain HTTP paths served beside the RPCs (e.g. /healthz, /metrics). */
  httpRoutes?: Record<string, HttpHandler>;
  /** Counts the requests Connect refuses before any interceptor runs (see rejected-requests.ts). */
  recordRejected?: RecordRejected;
  /** Answer plain unary Connect and gRPC calls and gRPC server streams without connect-node's generic path (default true; see unary-call.ts). */
  fastPaths?: boolean;
}

/** Protocols served on the one port. */
export const protocols = ['grpc', 'grpc-web', 'connect'] as const;

/** The request handler for both the HTTP/1.1 and the HTTP/2 server. */
export function createRpcHandler(options: RpcHandlerOptions): HttpHandler {
  const httpRoutes = options.httpRoutes ?? {};
  const jsonOptions = { ignoreUnknownFields: false };
  const contextValues = options.recordRejected ? rpcContextValues : undefined;
  const unaryMethods: UnaryMethods = new Map();
  const streamMethods: ServerStreamingMethods = new Map();
  const generic = connectNodeAdapter({
    routes: (router) => options.routes(recordMethods(router, unaryMethods, streamMethods)),
    grpc: true,
    grpcWeb: true,
    connect: true,
    readMaxBytes: options.maxRequestBytes,
    maxTimeoutMs: options.maxTimeoutMs,
    shutdownSignal: options.shutdownSignal,
    // A misspelt field or enum value in hand-written JSON (curl, scripts) is an error, not silently dropped.
    jsonOptions,
    interceptors: options.interceptors,
    contextValues,
    fallback: (req, res) => {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      const route = httpRoutes[path];
      if (route && (req.method === 'GET' || req.method === 'HEAD')) {
        markNotRpc(req);
        return route(req, res);
      }
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ code: 'unimplemented', message: `no such procedure or path: ${path}` }));
    },
  });
  const unaryOptions = {
    interceptors: options.interceptors,
    jsonOptions,
    readMaxBytes: options.maxRequestBytes,
    maxTimeoutMs: options.maxTimeoutMs,
    shutdownSignal: options.shutdownSignal,
    contextValues,
  };
  const fast =
    options.fastPaths === false
      ? []
      : [createConnectUnaryHandler(unaryMethods, unaryOptions), createGrpcUnaryHandler(unaryMethods, unaryOptions), createGrpcServerStreamHandler(streamMethods, unaryOptions)];
  const slow: HttpHandler = (req, res) => {
    discardBodyOnEarlyReturn(req);
    generic(req, res);
  };
  const rpc: HttpHandler = fast.length ? (req, res) => { if (!fast.some((handle) => handle(req, res))) slow(req, res); } : slow;
  // Inside CORS: a preflight is not an RPC.
  return withCors(options.corsOrigins, options.recordRejected ? countRejectedRequests(rpc, options.recordRejected) : rpc);
}
