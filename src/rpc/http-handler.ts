import type { connectNodeAdapter } from '@connectrpc/connect-node';

/** A request handler for both node:http and node:http2 servers, as connect-node makes them. */
export type HttpHandler = ReturnType<typeof connectNodeAdapter>;
export type HttpRequest = Parameters<HttpHandler>[0];
export type HttpResponse = Parameters<HttpHandler>[1];
