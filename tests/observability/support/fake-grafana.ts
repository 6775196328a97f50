import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  authorization: string | undefined;
  body: any;
}

export interface FakeGrafana {
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** Dashboards saved by POST /api/dashboards/db, by uid. */
  readonly dashboards: Map<string, { dashboard: any; version: number }>;
  close(): Promise<void>;
}

/**
 * The parts of Grafana's HTTP API the sync script uses (GET /api/dashboards/uid/:uid, POST
 * /api/dashboards/db), with Grafana's answers; only `Bearer <apiKey>` is let in (401 otherwise).
 * Also answers Alertmanager's GET /-/ready. Records every request.
 */
export async function startFakeGrafana(apiKey: string): Promise<FakeGrafana> {
  const requests: RecordedRequest[] = [];
  const dashboards = new Map<string, { dashboard: any; version: number }>();
  const server = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8').on('data', (c: string) => (raw += c));
    req.on('end', () => {
      const path = req.url ?? '/';
      const body = raw ? JSON.parse(raw) : undefined;
      requests.push({ method: req.method ?? '', path, authorization: req.headers.authorization, body });
      const reply = (status: number, json: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(json));
      };
      if (req.method === 'GET' && path === '/-/ready') return reply(200, { ready: true });
      if (req.headers.authorization !== `Bearer ${apiKey}`) return reply(401, { message: 'invalid API key' });
      const byUid = /^\/api\/dashboards\/uid\/([^/?]+)$/.exec(path);
      if (req.method === 'GET' && byUid) {
        const saved = dashboards.get(byUid[1]!);
        return saved ? reply(200, { dashboard: { ...saved.dashboard, version: saved.version }, meta: { version: saved.version } }) : reply(404, { message: 'Dashboard not found' });
      }
      if (req.method === 'POST' && path === '/api/dashboards/db') {
        const uid = body?.dashboard?.uid;
        const saved = dashboards.get(uid);
        if (saved && !body.overwrite) return reply(412, { status: 'version-mismatch', message: 'The dashboard has been changed by someone else' });
        const version = (saved?.version ?? 0) + 1;
        dashboards.set(uid, { dashboard: body.dashboard, version });
        return reply(200, { id: 1, uid, url: `/d/${uid}/orchestrator`, status: 'success', version, slug: 'orchestrator' });
      }
      reply(404, { message: 'not found' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    dashboards,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
