import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Code, ConnectError, createClient, createRouterTransport } from '@connectrpc/connect';
import { OrchestratorService } from '../../gen/orchestrator/v1/orchestrator_pb.js';
import { Metrics } from '../telemetry/metrics.js';
import { metricsInterceptor } from './metrics-interceptor.js';

/** A service whose watch yields `count` entries, then ends. (An abandoned stream is tested on the real server: tests/e2e/telemetry.test.ts.) */
function setUp(count = 0) {
  const metrics = new Metrics({ version: 'test', commit: 'test' });
  const transport = createRouterTransport(
    (router) =>
      router.service(OrchestratorService, {
        getWorkflow: () => {
          throw new ConnectError('no such workflow', Code.NotFound);
        },
        async *watchWorkflow() {
          for (let i = 0; i < count; i++) yield { entry: { workflowId: 'w', version: i + 1 } };
        },
      }),
    { router: { interceptors: [metricsInterceptor(metrics)] } },
  );
  return { metrics, client: createClient(OrchestratorService, transport) };
}

async function value(metrics: Metrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  // A histogram's samples are `<name>_bucket`, `_sum`, `_count`.
  const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => name === m.name || name.startsWith(`${m.name}_`));
  const values = (metric?.values ?? []) as { labels: Record<string, string | number>; value: number; metricName?: string }[];
  return values
    .filter((v) => (v.metricName ?? metric?.name) === name && Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want))
    .reduce((sum, v) => sum + v.value, 0);
}

describe('metricsInterceptor', () => {
  it('counts a failed unary call with its code and HTTP status, and times it', async () => {
    const { metrics, client } = setUp(0);
    await assert.rejects(client.getWorkflow({ id: 'x' }), (err: unknown) => ConnectError.from(err).code === Code.NotFound);
    const call = { service: 'orchestrator.v1.OrchestratorService', method: 'GetWorkflow', protocol: 'connect' };
    assert.equal(await value(metrics, 'orchestrator_rpc_requests_total', { ...call, code: 'not_found' }), 1);
    assert.equal(await value(metrics, 'http_requests_total', { service: 'orchestrator', method: 'GetWorkflow', status: '404' }), 1);
    assert.equal(await value(metrics, 'orchestrator_rpc_request_duration_seconds_count', call), 1);
    assert.equal(await value(metrics, 'orchestrator_rpc_in_flight'), 0);
  });

  it('keeps a watch stream in flight until it ends, counts it ok, and does not time it', async () => {
    const { metrics, client } = setUp(2);
    let seen = 0;
    for await (const _ of client.watchWorkflow({ workflowId: 'w' })) {
      seen++;
      assert.equal(await value(metrics, 'orchestrator_watch_streams'), 1);
      assert.equal(await value(metrics, 'orchestrator_rpc_in_flight', { method: 'WatchWorkflow' }), 1);
    }
    assert.equal(seen, 2);
    assert.equal(await value(metrics, 'orchestrator_watch_streams'), 0);
    assert.equal(await value(metrics, 'orchestrator_rpc_in_flight', { method: 'WatchWorkflow' }), 0);
    assert.equal(await value(metrics, 'orchestrator_rpc_requests_total', { method: 'WatchWorkflow', code: 'ok' }), 1);
    const histogram = (await metrics.registry.getSingleMetric('orchestrator_rpc_request_duration_seconds')!.get()).values;
    assert.equal(histogram.length, 0, 'streams are not latency');
  });
});
