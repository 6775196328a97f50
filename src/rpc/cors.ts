import { cors } from '@connectrpc/connect';
import type { HttpHandler as Handler } from './http-handler.js';

/** Extra headers browsers may send besides Connect's and gRPC-Web's own. */
const extraAllowedHeaders = ['Authorization', 'Traceparent', 'Tracestate'];

/**
 * Lets browser apps (connect-web, gRPC-Web) on the allowed origins call the
 * service: answers preflights and adds the CORS headers to real requests.
 * Requests without an Origin (gRPC, curl) pass through untouched; a
 * disallowed origin gets no CORS headers, so the browser blocks it.
 */
export function withCors(allowedOrigins: readonly string[], next: Handler): Handler {
  const any = allowedOrigins.includes('*');
  const allowed = new Set(allowedOrigins);
  return (req, res) => {
    const origin = req.headers.origin;
    if (typeof origin !== 'string' || !(any || allowed.has(origin))) return next(req, res);
    res.setHeader('Access-Control-Allow-Origin', any ? '*' : origin);
    if (!any) res.setHeader('Vary', 'Origin');
    res.setHeader('Access-Control-Expose-Headers', cors.exposedHeaders.join(', '));
    if (req.method === 'OPTIONS' && req.headers['access-control-request-method']) {
      res.setHeader('Access-Control-Allow-Methods', cors.allowedMethods.join(', '));
      res.setHeader('Access-Control-Allow-Headers', [...cors.allowedHeaders, ...extraAllowedHeaders].join(', '));
      res.setHeader('Access-Control-Max-Age', '7200');
      res.writeHead(204);
      res.end();
      return;
    }
    next(req, res);
  };
}
