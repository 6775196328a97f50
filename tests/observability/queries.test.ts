import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Metrics } from '../../src/telemetry/metrics.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { createTestDatabaseOptions } from '../helpers/test-database.js';
import { familyOf, listQueries, metricNames, noPrometheus, parseExposition, recordedNames, run, scriptEnv, syncScript, type Query } from './support/observability-files.js';
import { runWorkload } from './support/workload.js';

/** Series Prometheus makes itself, not the service. */
const PROMETHEUS_SERIES = new Set(['up']);

/**
 * Families a short workload on one healthy process cannot give samples to, with the reason. Every
 * other metric a dashboard, alert or SLO query reads must have samples after the workload.
 */
const NO_SAMPLES_EXPECTED: Record<string, string> = {
  orchestrator_store_errors_total: 'counted per operation on database errors only: a healthy run has none',
};

/** Counters and histograms the workload must move (not just zero-initialised series). */
const MOVED_BY_WORKLOAD = [
  'orchestrator_rpc_requests_total',
  'orchestrator_rpc_request_duration_seconds_count',
  'http_requests_total',
  'orchestrator_workflows_started_total',
  'orchestrator_workflows_finished_total',
  'orchestrator_transitions_total',
  'orchestrator_transition_duration_seconds_count',
  'orchestrator_commit_batch_size_count',
  'orchestrator_commit_duration_seconds_count',
  'orchestrator_store_pool_wait_seconds_count',
  'orchestrator_timers_fired_total',
  'orchestrator_timer_lag_seconds_count',
  'orchestrator_task_schedule_to_start_seconds_count',
  'orchestrator_tool_calls_total',
  'orchestrator_tool_call_duration_seconds_count',
  'orchestrator_workflows_running',
];

/** Metric name -> where it is read, over all queries (recording rules and `up` left out). */
function namesRead(queries: readonly Query[]): Map<string, string[]> {
  const recorded = recordedNames(queries);
  const read = new Map<string, string[]>();
  for (const q of queries)
    for (const name of metricNames(q.promql))
      if (!recorded.has(name) && !PROMETHEUS_SERIES.has(name)) read.set(name, [...(read.get(name) ?? []), q.source]);
  return read;
}

describe('the observability queries', () => {
  let queries: Query[];
  before(async () => {
    queries = await listQueries();
  });

  it('cover the dashboard, the alerts, SLO.md and runbook.md', () => {
    for (const where of ['dashboards/orchestrator.json', 'alerts.yaml', 'SLO.md', 'runbook.md'])
      assert.ok(queries.some((q) => q.source.startsWith(where)), `no query found in ${where}`);
  });

  it('all parse, and the files pass the sync script\'s validation', { skip: noPrometheus }, async () => {
    const out = await run(syncScript, ['validate'], scriptEnv(), 120_000);
    assert.equal(out.code, 0, out.stdout + out.stderr);
    assert.match(out.stdout, /queries: \d+ parse/);
  });

  it('name only metrics of the catalog (the service\'s registry), recording rules of alerts.yaml, or up', () => {
    const registry = new Metrics({ version: 'test', commit: 'test' }).registry;
    const catalog = new Set(registry.getMetricsAsArray().map((m) => m.name));
    const recorded = recordedNames(queries);
    for (const q of queries) {
      for (const name of metricNames(q.promql)) {
        const known = catalog.has(familyOf(name, catalog)) || recorded.has(name) || PROMETHEUS_SERIES.has(name);
        assert.ok(known, `${q.source} reads '${name}', which the service does not define`);
      }
    }
  });

  it('extracts metric names the way PromQL reads them', () => {
    assert.deepEqual(
      metricNames('histogram_quantile(0.95, sum by (le, method) (rate(a_bucket{le="0.25",code=~"x|y"}[5m] offset 1h))) > 1e9 and on (instance) b / ignoring(x) c:d:e'),
      ['a_bucket', 'b', 'c:d:e'],
    );
  });
});

describe('every metric the queries read is exported by the running service', () => {
  let server: ServerProcess;
  let store: ReturnType<typeof createTestDatabaseOptions>;
  let exposition: ReturnType<typeof parseExposition>;
  let text: string;
  let read: Map<string, string[]>;

  before(async () => {
    read = namesRead(await listQueries());
    store = createTestDatabaseOptions();
    server = await startServerProcess({ ...store.env });
    await runWorkload(server.baseUrl);
    const res = await fetch(`${server.baseUrl}/metrics`);
    assert.equal(res.status, 200);
    text = await res.text();
    exposition = parseExposition(text);
  });
  after(async () => {
    await server?.stop();
    await store?.cleanup();
  });

  it('declares each of them (# TYPE)', () => {
    const families = new Set(exposition.families.keys());
    const missing = [...read.keys()].filter((name) => !families.has(familyOf(name, families)));
    assert.deepEqual(missing, [], `not exported: ${missing.map((m) => `${m} (${read.get(m)![0]})`).join(', ')}`);
  });

  it('has samples for each of them after a short workload', () => {
    const empty = [...read.keys()].filter((name) => !exposition.withSamples.has(name) && !(name in NO_SAMPLES_EXPECTED));
    assert.deepEqual(empty, [], `no samples: ${empty.map((m) => `${m} (${read.get(m)![0]})`).join(', ')}`);
  });

  it('counts what the workload did (workflows, transitions, timers, tool calls), not only zeros', () => {
    const still = MOVED_BY_WORKLOAD.filter((name) => !new RegExp(`^${name}(\\{[^}]*\\})? [1-9]`, 'm').test(text));
    assert.deepEqual(still, [], `no non-zero sample of: ${still.join(', ')}`);
  });

  it('maps client errors to 4xx in the seed names and produced no server-side error', () => {
    for (const [code, status] of [['ok', '200'], ['not_found', '404'], ['invalid_argument', '400'], ['failed_precondition', '400']] as const) {
      assert.match(text, new RegExp(`^orchestrator_rpc_requests_total\\{[^}]*code="${code}"[^}]*\\} [1-9]`, 'm'), `no ${code} calls counted`);
      assert.match(text, new RegExp(`^http_requests_total\\{[^}]*status="${status}"[^}]*\\} [1-9]`, 'm'), `no status ${status} counted`);
    }
    assert.doesNotMatch(text, /^orchestrator_rpc_requests_total\{[^}]*code="(unknown|internal|unavailable|data_loss|deadline_exceeded)"[^}]*\} [1-9]/m);
  });
});
