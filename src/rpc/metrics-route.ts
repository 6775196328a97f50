import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Metrics } from '../telemetry/metrics.js';
import type { Logger } from '../telemetry/logger.js';
import type { HttpRequest, HttpResponse } from './http-handler.js';

/** `GET /metrics`: the Prometheus text exposition; a failed scrape answers 500 with the reason. */
export function metricsRoute(metrics: Metrics, logger: Logger): (req: HttpRequest, res: HttpResponse) => void {
  return (req, res) => {
    metrics.scrape().then(
      ({ contentType, body }) => {
        res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? '' : body);
      },
      (error: unknown) => {
        logger.error('metrics scrape failed', { err: (error as Error).message });
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`metrics scrape failed: ${(error as Error).message}\n`);
      },
    );
  };
}

/** A separate plain-HTTP listener for /metrics only (METRICS_PORT), e.g. an admin port not exposed publicly. */
export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startMetricsServer(options: { port: number; host: string; metrics: Metrics; logger: Logger }): Promise<MetricsServer> {
  const route = metricsRoute(options.metrics, options.logger);
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics' && (req.method === 'GET' || req.method === 'HEAD')) return route(req, res);
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('only GET /metrics is served here\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
