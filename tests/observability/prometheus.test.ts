import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { createTestDatabaseOptions } from '../helpers/test-database.js';
import { listQueries, noPrometheus, type Query } from './support/observability-files.js';
import { eventually, startLocalPrometheus, type LocalPrometheus } from './support/local-prometheus.js';
import { runWorkload } from './support/workload.js';

/**
 * Dashboard queries that cannot return data a minute after Prometheus started on one healthy
 * process, with the reason. Every other dashboard query must.
 */
const NO_DATA_EXPECTED: Record<string, string> = {
  'Availability error budget left (30 d)': 'recording rule of a group evaluated every 5 m',
  'Latency error budget left (30 d)': 'recording rule of a group evaluated every 5 m',
  'Store errors': 'no database error in a healthy run',
};

/** RPCs the server has counted so far, from its own /metrics (GET /metrics is no RPC). */
async function servedCalls(baseUrl: string): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  return [...text.matchAll(/^orchestrator_rpc_requests_total\{[^}]*\} (\S+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
}

/** A result with at least one number (histogram_quantile of no observations, 0/0 ratios: NaN). */
const hasValue = (result: { value: [number, string] }[]) => result.some((r) => r.value[1] !== 'NaN');

/** Recording-rule panels: data once their 30 s group has been evaluated, which the test does not wait for. */
const readsRecordingRules = (q: Query) => /orchestrator:\w+:\w+/.test(q.promql);

describe('a real Prometheus scraping the service under load', { skip: noPrometheus }, () => {
  let server: ServerProcess;
  let store: ReturnType<typeof createTestDatabaseOptions>;
  let prometheus: LocalPrometheus;
  let queries: Query[];

  before(async () => {
    queries = await listQueries();
    store = createTestDatabaseOptions();
    server = await startServerProcess({ ...store.env });
    prometheus = await startLocalPrometheus({ target: `127.0.0.1:${server.port}` });
    await eventually('first scrape', async () => ((await prometheus.query('up{job="orchestrator"} == 1')).length === 1 ? true : undefined));
    // Prometheus sees no increase in a series' first sample: a series created and incremented
    // between two scrapes rates 0. So: a first pass creates the series (methods, codes, buckets),
    // a second pass, scraped, moves them.
    const scraped = async () => Number((await prometheus.query('sum(orchestrator_rpc_requests_total)'))[0]?.value[1] ?? 0);
    for (let pass = 0; pass < 2; pass++) {
      await runWorkload(server.baseUrl);
      const served = await servedCalls(server.baseUrl);
      await eventually('a scrape after the workload', async () => ((await scraped()) >= served ? true : undefined));
    }
    // Store-derived gauges are cached up to 10 s by the service: wait for the waiting workflow.
    await eventually('workflows running', async () => ((await prometheus.query('orchestrator_workflows_running')).length > 0 ? true : undefined), 20_000);
  });
  after(async () => {
    await prometheus?.stop();
    await server?.stop();
    await store?.cleanup();
  });

  it('loads every rule group of alerts.yaml without errors', async () => {
    const { groups } = await prometheus.api<{ groups: { name: string; rules: { name: string; health: string; lastError?: string }[] }[] }>('/api/v1/rules');
    assert.deepEqual(groups.map((g) => g.name).sort(), ['orchestrator-components', 'orchestrator-seed', 'orchestrator-slo', 'orchestrator-slo-budget', 'orchestrator-slo-recording']);
    const broken = groups.flatMap((g) => g.rules).filter((r) => r.health === 'err');
    assert.deepEqual(broken.map((r) => `${r.name}: ${r.lastError}`), []);
  });

  it('answers the SLO queries of SLO.md with values', async () => {
    const slo = queries.filter((q) => q.source.startsWith('SLO.md'));
    assert.ok(slo.length >= 10, 'at least 10 SLO rules');
    for (const q of slo) {
      const result = await prometheus.query(q.promql); // throws on a Prometheus error
      if (readsRecordingRules(q)) continue; // their 30 s / 5 m groups may not have run yet
      assert.ok(hasValue(result), `${q.source} returned no data:\n${q.expr}`);
    }
  });

  it('measures the workload as it was: no server errors, every call within the latency SLO bucket range', async () => {
    const errors = await prometheus.query('(sum(rate(orchestrator_rpc_requests_total{code=~"unknown|internal|unavailable|data_loss|deadline_exceeded"}[5m])) or vector(0)) / sum(rate(orchestrator_rpc_requests_total[5m]))');
    assert.equal(Number(errors[0]!.value[1]), 0);
    const within = await prometheus.query('sum(rate(orchestrator_rpc_request_duration_seconds_bucket{le="10"}[5m])) / sum(rate(orchestrator_rpc_request_duration_seconds_count[5m]))');
    assert.equal(Number(within[0]!.value[1]), 1);
    const clientErrors = await prometheus.query('sum(rate(http_requests_total{service="orchestrator",status=~"4.."}[5m]))');
    assert.ok(Number(clientErrors[0]!.value[1]) > 0, 'the workload\'s client errors are not in the seed metric');
  });

  it('raises no alert about errors, outages or failing dependencies for a healthy service', async () => {
    const alerts = await prometheus.query('ALERTS{alertname=~"OrchestratorAvailability.*|OrchestratorHighErrorRate|OrchestratorDown|OrchestratorTargetMissing|OrchestratorBusDown|OrchestratorStoreErrors|OrchestratorToolBreakerOpen|OrchestratorToolBulkheadFull"}');
    assert.deepEqual(alerts.map((a) => `${a.metric.alertname} ${a.metric.alertstate}`), []);
  });

  it('returns data for the dashboard queries (numbers, not NaN)', async () => {
    const dashboard = queries.filter((q) => q.source.startsWith('dashboards/'));
    const empty: string[] = [];
    for (const q of dashboard) {
      const result = await prometheus.query(q.promql);
      const panel = /panel '(.*)'/.exec(q.source)?.[1] ?? q.source;
      if (!hasValue(result) && !(panel in NO_DATA_EXPECTED) && !readsRecordingRules(q)) empty.push(`${q.source}: ${q.expr}`);
    }
    assert.deepEqual(empty, []);
  });
});
