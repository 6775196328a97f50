import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { toJson } from '@bufbuild/protobuf';
import { ValueSchema } from '@bufbuild/protobuf/wkt';
import { createClient, Code, ConnectError, type Transport } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from '@connectrpc/connect-node';
import { InfoService } from '../../gen/info/v1/info_pb.js';
import { OrchestratorService } from '../../gen/orchestrator/v1/orchestrator_pb.js';
import { FaultServer } from '../../src/tools/test-support/fault-server.js';
import { parsePrometheusText, sumOf, type Sample } from '../helpers/prometheus-text.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { createTestDatabaseOptions } from '../helpers/test-database.js';

/** Every metric of the catalog (issue 6), and the Node defaults dashboards use. */
const CATALOG = [
  'orchestrator_rpc_requests_total', 'orchestrator_rpc_request_duration_seconds', 'orchestrator_rpc_in_flight',
  'http_requests_total', 'http_request_duration_seconds',
  'orchestrator_workflows_started_total', 'orchestrator_workflows_finished_total', 'orchestrator_workflows_running',
  'orchestrator_transitions_total', 'orchestrator_transition_duration_seconds', 'orchestrator_commit_batch_size', 'orchestrator_commit_duration_seconds', 'orchestrator_transition_conflicts_total', 'orchestrator_store_pool_wait_seconds',
  'orchestrator_timer_lag_seconds', 'orchestrator_timers_fired_total', 'orchestrator_timers_pending',
  'orchestrator_tasks_pending', 'orchestrator_tasks_running', 'orchestrator_task_schedule_to_start_seconds',
  'orchestrator_tool_calls_total', 'orchestrator_tool_call_duration_seconds', 'orchestrator_tool_retries_total', 'orchestrator_tool_timeouts_total',
  'orchestrator_tool_breaker_state', 'orchestrator_tool_bulkhead_rejections_total', 'orchestrator_tool_bulkhead_in_use',
  'orchestrator_store_errors_total', 'orchestrator_store_pool_connections', 'orchestrator_bus_errors_total', 'orchestrator_bus_up',
  'orchestrator_bus_messages_published_total', 'orchestrator_bus_messages_received_total', 'orchestrator_watch_streams', 'orchestrator_up',
  'orchestrator_process_cpu_seconds_total', 'orchestrator_process_resident_memory_bytes', 'orchestrator_nodejs_eventloop_lag_p99_seconds',
];

const PROTOCOLS: Record<'grpc' | 'grpc_web' | 'connect', (baseUrl: string) => Transport> = {
  grpc: (baseUrl) => createGrpcTransport({ baseUrl }),
  grpc_web: (baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion: '1.1' }),
  connect: (baseUrl) => createConnectTransport({ baseUrl, httpVersion: '1.1' }),
};

/** A W3C trace context this test makes up, as a caller outside the service would send it. */
const traceId = randomBytes(16).toString('hex');
const callerSpanId = randomBytes(8).toString('hex');
const traceparent = `00-${traceId}-${callerSpanId}-01`;

/** Small, so a request over it stays cheap to send. */
const MAX_REQUEST_BYTES = 64 * 1024;

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
}

describe('telemetry: /metrics and traces from the real server', () => {
  let server: ServerProcess;
  let store: ReturnType<typeof createTestDatabaseOptions>;
  let toolServer: FaultServer;
  let collector: FaultServer;
  let metricsPort: number;
  let orchestrator: ReturnType<typeof createClient<typeof OrchestratorService>>;
  const ids: string[] = [];

  before(async () => {
    store = createTestDatabaseOptions();
    toolServer = await FaultServer.start();
    collector = await FaultServer.start();
    metricsPort = await freePort();
    server = await startServerProcess({
      ...store.env,
      EXTRA_MODULES: 'tests/fixtures/telemetry-machines.ts',
      HTTP_TOOL_ALLOWED_HOSTS: toolServer.host,
      METRICS_PORT: String(metricsPort),
      MAX_REQUEST_BYTES: String(MAX_REQUEST_BYTES),
      // The SDK path end to end: OTLP/HTTP (JSON) to a fake collector, exported every 100 ms.
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.origin,
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_SERVICE_NAME: 'orchestrator-test',
    });
    orchestrator = createClient(OrchestratorService, PROTOCOLS.connect(server.baseUrl));
  });
  after(async () => {
    await server?.stop();
    await toolServer?.close();
    await collector?.close();
    await store?.cleanup();
  });

  it('counts RPCs by service, method, protocol and code over gRPC, gRPC-Web and Connect', async () => {
    const before = await scrape(server.baseUrl);
    for (const [protocol, transport] of Object.entries(PROTOCOLS)) {
      await createClient(InfoService, transport(server.baseUrl)).getInfo({});
      const missing = createClient(OrchestratorService, transport(server.baseUrl)).getWorkflow({ id: `missing-${protocol}` });
      await assert.rejects(missing, (err: unknown) => ConnectError.from(err).code === Code.NotFound);
    }
    const after = await scrape(server.baseUrl);
    for (const protocol of Object.keys(PROTOCOLS)) {
      const ok = { service: 'info.v1.InfoService', method: 'GetInfo', protocol, code: 'ok' };
      assert.equal(sumOf(after, 'orchestrator_rpc_requests_total', ok) - sumOf(before, 'orchestrator_rpc_requests_total', ok), 1, protocol);
      const notFound = { service: 'orchestrator.v1.OrchestratorService', method: 'GetWorkflow', protocol, code: 'not_found' };
      assert.equal(sumOf(after, 'orchestrator_rpc_requests_total', notFound) - sumOf(before, 'orchestrator_rpc_requests_total', notFound), 1, protocol);
      const timed = { service: 'info.v1.InfoService', method: 'GetInfo', protocol };
      assert.equal(sumOf(after, 'orchestrator_rpc_request_duration_seconds_count', timed) - sumOf(before, 'orchestrator_rpc_request_duration_seconds_count', timed), 1, protocol);
    }
    // The seed's names, with the HTTP status equivalent of the code.
    assert.ok(sumOf(after, 'http_requests_total', { service: 'orchestrator', method: 'GetWorkflow', status: '404' }) >= 3, 'three GetWorkflow 404s counted');
    assert.ok(sumOf(after, 'http_requests_total', { service: 'orchestrator', method: 'GetInfo', status: '200' }) >= 3, 'three GetInfo 200s counted');
    assert.equal(sumOf(after, 'orchestrator_rpc_in_flight', { method: 'GetInfo' }), 0);
  });

  it('counts once the requests Connect refuses before any interceptor, with their code and protocol', async () => {
    const getWorkflow = `${server.baseUrl}/orchestrator.v1.OrchestratorService/GetWorkflow`;
    const json = { 'content-type': 'application/json' };
    const refused: { send: () => Promise<unknown>; labels: Record<string, string> }[] = [
      { send: () => fetch(getWorkflow, { method: 'POST', headers: json, body: '{"id":' }), labels: { method: 'GetWorkflow', protocol: 'connect', code: 'invalid_argument' } },
      { send: () => fetch(getWorkflow, { method: 'POST', headers: json, body: '{"nope":1}' }), labels: { method: 'GetWorkflow', protocol: 'connect', code: 'invalid_argument' } },
      { send: () => fetch(getWorkflow, { method: 'POST', headers: json, body: JSON.stringify({ id: 'x'.repeat(MAX_REQUEST_BYTES) }) }), labels: { method: 'GetWorkflow', protocol: 'connect', code: 'resource_exhausted' } },
      { send: () => fetch(getWorkflow, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' }), labels: { method: 'GetWorkflow', protocol: 'connect', code: 'invalid_argument' } },
      { send: () => fetch(`${server.baseUrl}/orchestrator.v1.OrchestratorService/NoSuchMethod`, { method: 'POST', headers: json, body: '{}' }), labels: { service: 'unknown', method: 'unknown', protocol: 'connect', code: 'unimplemented' } },
      ...(['grpc', 'grpc_web'] as const).map((protocol) => ({
        send: () => assert.rejects(createClient(OrchestratorService, PROTOCOLS[protocol](server.baseUrl)).getWorkflow({ id: 'x'.repeat(MAX_REQUEST_BYTES) }), (err: unknown) => ConnectError.from(err).code === Code.ResourceExhausted),
        labels: { method: 'GetWorkflow', protocol, code: 'resource_exhausted' },
      })),
    ];
    for (const { send, labels } of refused) {
      const before = await scrape(server.baseUrl);
      const res = await send();
      if (res instanceof Response) await res.arrayBuffer();
      const after = await waitForScrape(server.baseUrl, (samples) => sumOf(samples, 'orchestrator_rpc_requests_total') > sumOf(before, 'orchestrator_rpc_requests_total'));
      const name = JSON.stringify(labels);
      assert.equal(sumOf(after, 'orchestrator_rpc_requests_total', labels) - sumOf(before, 'orchestrator_rpc_requests_total', labels), 1, name);
      assert.equal(sumOf(after, 'orchestrator_rpc_requests_total') - sumOf(before, 'orchestrator_rpc_requests_total'), 1, `${name} counted once`);
      assert.equal(sumOf(after, 'http_requests_total') - sumOf(before, 'http_requests_total'), 1, `${name} counted once in the seed names`);
    }
    // An invalid_argument from a handler is the interceptor's to count, once.
    const before = await scrape(server.baseUrl);
    await assert.rejects(orchestrator.sendEvent({ workflowId: 'x' }), (err: unknown) => ConnectError.from(err).code === Code.InvalidArgument);
    const after = await waitForScrape(server.baseUrl, (samples) => sumOf(samples, 'orchestrator_rpc_requests_total') > sumOf(before, 'orchestrator_rpc_requests_total'));
    assert.equal(sumOf(after, 'orchestrator_rpc_requests_total', { method: 'SendEvent', protocol: 'connect', code: 'invalid_argument' }) - sumOf(before, 'orchestrator_rpc_requests_total', { method: 'SendEvent', protocol: 'connect', code: 'invalid_argument' }), 1);
    assert.equal(sumOf(after, 'orchestrator_rpc_requests_total') - sumOf(before, 'orchestrator_rpc_requests_total'), 1);
  });

  it('exports every catalog metric after a workload of starts, events, a tool call, a timer and a cancel', async () => {
    const url = toolServer.url('/probe');
    const run = await orchestrator.startWorkflow({ machineId: 'telemetry-probe', input: { url, delayMs: 20 } });
    ids.push(run.workflow!.id);
    await orchestrator.sendEvent({ workflowId: run.workflow!.id, event: { type: 'fetch' } }, { headers: { traceparent } });
    await waitForState(orchestrator, run.workflow!.id, 'waiting');
    await orchestrator.sendEvent({ workflowId: run.workflow!.id, event: { type: 'finish' } });
    const cancelled = await orchestrator.startWorkflow({ machineId: 'telemetry-probe', input: { url } });
    ids.push(cancelled.workflow!.id);
    await orchestrator.cancelWorkflow({ workflowId: cancelled.workflow!.id, reason: 'test' });

    // The engine publishes a transition just after its answer is written (see #afterCommit).
    const samples = await waitForScrape(server.baseUrl, (s) => sumOf(s, 'orchestrator_bus_messages_published_total') >= 7);
    const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
    const { types } = parsePrometheusText(text);
    for (const name of CATALOG) {
      const type = types.get(name);
      assert.ok(type, `${name} is registered`);
      const sampled = type === 'histogram' ? `${name}_count` : name;
      assert.ok(samples.some((s) => s.name === sampled), `${name} has a sample`);
    }
    const machine = { machine: 'telemetry-probe' };
    assert.equal(sumOf(samples, 'orchestrator_workflows_started_total', machine), 2);
    assert.equal(sumOf(samples, 'orchestrator_workflows_finished_total', { ...machine, outcome: 'done' }), 1);
    assert.equal(sumOf(samples, 'orchestrator_workflows_finished_total', { ...machine, outcome: 'cancelled' }), 1);
    // start x2, fetch, tool result, timer, finish, cancel
    assert.equal(sumOf(samples, 'orchestrator_transitions_total', machine), 7);
    for (const source of ['start', 'client', 'task', 'timer', 'cancel']) {
      assert.ok(sumOf(samples, 'orchestrator_transitions_total', { ...machine, source }) >= 1, source);
      assert.ok(sumOf(samples, 'orchestrator_transition_duration_seconds_count', { source }) >= 1, source);
    }
    // fetch, the timer and finish went through group commit (the tool result commits alone).
    const batches = sumOf(samples, 'orchestrator_commit_duration_seconds_count');
    assert.ok(batches >= 3, `three group commits timed, got ${batches}`);
    assert.equal(batches, sumOf(samples, 'orchestrator_commit_batch_size_count'), 'every batch timed once and sized once');
    assert.ok(sumOf(samples, 'orchestrator_commit_duration_seconds_sum') > 0, 'the commits took time');
    // Every query takes a connection: at least one per transition committed, plus the reads.
    const waits = sumOf(samples, 'orchestrator_store_pool_wait_seconds_count');
    assert.ok(waits >= 7, `every query's connection wait observed, got ${waits}`);
    assert.ok(sumOf(samples, 'orchestrator_timers_fired_total') >= 1, 'a timer fired');
    assert.ok(sumOf(samples, 'orchestrator_timer_lag_seconds_count') >= 1, 'a timer lag observed');
    assert.equal(sumOf(samples, 'orchestrator_tool_calls_total', { tool: 'http.request', outcome: 'ok' }), 1);
    assert.equal(sumOf(samples, 'orchestrator_tool_call_duration_seconds_count', { tool: 'http.request' }), 1);
    assert.equal(sumOf(samples, 'orchestrator_task_schedule_to_start_seconds_count', { tool: 'http.request' }), 1);
    assert.equal(sumOf(samples, 'orchestrator_tool_breaker_state', { tool: 'http.request' }), 0);
    assert.ok(sumOf(samples, 'orchestrator_bus_messages_published_total') >= 7, 'every transition published');
    assert.equal(sumOf(samples, 'orchestrator_bus_up'), 1);
    assert.ok(sumOf(samples, 'orchestrator_store_pool_connections', { state: 'total' }) >= 1, 'the pool has connections');
    assert.equal(sumOf(samples, 'orchestrator_up'), 1);
  });

  it('uses the SLO thresholds as buckets and never an id as a label', async () => {
    const samples = await scrape(server.baseUrl);
    for (const histogram of ['orchestrator_rpc_request_duration_seconds', 'http_request_duration_seconds', 'orchestrator_transition_duration_seconds', 'orchestrator_commit_duration_seconds']) {
      const bounds = new Set(samples.filter((s) => s.name === `${histogram}_bucket`).map((s) => s.labels.le));
      for (const le of ['0.005', '0.25', '1', '10', '+Inf']) assert.ok(bounds.has(le), `${histogram} has le=${le}`);
    }
    const values = samples.flatMap((s) => Object.values(s.labels));
    assert.ok(ids.length > 0, 'the workload left workflow ids');
    for (const id of [...ids, 'missing-grpc', traceId]) assert.ok(!values.some((v) => v.includes(id)), `no label carries ${id}`);
    assert.ok(!values.some((v) => /[0-9a-f]{8}-[0-9a-f]{4}-/.test(v)), 'no label carries a uuid');
  });

  it('keeps an open watch stream in the gauges, and counts it canceled when the client leaves', async () => {
    const { workflow } = await orchestrator.startWorkflow({ machineId: 'telemetry-probe', input: { url: toolServer.url('/probe') } });
    ids.push(workflow!.id);
    const controller = new AbortController();
    const stream = orchestrator.watchWorkflow({ workflowId: workflow!.id, fromVersion: 1 }, { signal: controller.signal });
    for await (const _ of stream) {
      const open = await scrape(server.baseUrl);
      assert.equal(sumOf(open, 'orchestrator_watch_streams'), 1);
      assert.equal(sumOf(open, 'orchestrator_rpc_in_flight', { method: 'WatchWorkflow' }), 1);
      controller.abort();
      break;
    }
    const deadline = Date.now() + 10_000;
    let samples = await scrape(server.baseUrl);
    while (sumOf(samples, 'orchestrator_watch_streams') !== 0 && Date.now() < deadline) samples = await scrape(server.baseUrl);
    assert.equal(sumOf(samples, 'orchestrator_watch_streams'), 0);
    assert.equal(sumOf(samples, 'orchestrator_rpc_in_flight', { method: 'WatchWorkflow' }), 0);
    assert.equal(sumOf(samples, 'orchestrator_rpc_requests_total', { method: 'WatchWorkflow', code: 'canceled' }), 1, JSON.stringify(samples.filter((s) => s.name === 'orchestrator_rpc_requests_total' && s.labels.method === 'WatchWorkflow')));
    await orchestrator.cancelWorkflow({ workflowId: workflow!.id, reason: 'test' });
  });

  it('serves /metrics on METRICS_PORT too, and nothing else there', async () => {
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    assert.match(await res.text(), /^orchestrator_up\{/m);
    assert.equal((await fetch(`http://127.0.0.1:${metricsPort}/other`)).status, 404);
  });

  it('carries the caller trace through the server span, the transition and the tool call to the tool server', async () => {
    // The fetch event was sent with `traceparent`: the tool call it caused carries the same trace.
    const toolCall = toolServer.requests.find((r) => r.path === '/probe');
    assert.ok(toolCall, 'the tool server was called');
    const sent = String(toolCall.headers.traceparent ?? '');
    assert.match(sent, new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));

    const spans = await waitForSpans(collector, (all) => ['orchestrator.tool_call', 'orchestrator.transition'].every((n) => all.some((s) => s.traceId === traceId && s.name === n)));
    const ours = spans.filter((s) => s.traceId === traceId);
    const rpc = ours.find((s) => s.name === 'orchestrator.v1.OrchestratorService/SendEvent');
    assert.ok(rpc, `a server span for SendEvent in ${ours.map((s) => s.name).join(', ')}`);
    assert.equal(rpc.parentSpanId, callerSpanId, 'the server span is a child of the caller span');
    assert.equal(rpc.kind, 2, 'SPAN_KIND_SERVER');
    const transition = ours.find((s) => s.name === 'orchestrator.transition' && s.parentSpanId === rpc.spanId);
    assert.ok(transition, 'the transition span is a child of the server span');
    assert.ok(ours.some((s) => s.name === 'orchestrator.store.commitTransition' && s.parentSpanId === transition.spanId), 'the commit span is a child of the transition');
    const tool = ours.find((s) => s.name === 'orchestrator.tool_call');
    assert.ok(tool, 'the tool server was called');
    assert.equal(sent.split('-')[2], tool.spanId, 'the tool server saw the tool call span as its parent');
    const resource = collector.requests.find((r) => r.path === '/v1/traces')!.body;
    assert.match(resource, /"orchestrator-test"/, 'OTEL_SERVICE_NAME names the service');
  });
});

async function scrape(baseUrl: string): Promise<Sample[]> {
  const res = await fetch(`${baseUrl}/metrics`);
  assert.equal(res.status, 200);
  return parsePrometheusText(await res.text()).samples;
}

/**
 * A scrape once `done` holds for it (bounded: 10 s): a refused request is counted when its
 * response closes on the server, and a transition published, just after the client has read
 * the answer.
 */
async function waitForScrape(baseUrl: string, done: (samples: Sample[]) => boolean): Promise<Sample[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const samples = await scrape(baseUrl);
    if (done(samples) || Date.now() > deadline) return samples;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Polls the instance until its state value is `state` (bounded: 20 s). */
async function waitForState(client: ReturnType<typeof createClient<typeof OrchestratorService>>, id: string, state: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const { workflow } = await client.getWorkflow({ id });
    const now = workflow?.state ? toJson(ValueSchema, workflow.state) : null;
    if (now === state) return;
    if (Date.now() > deadline) throw new Error(`workflow ${id} did not reach ${state}; it is in ${JSON.stringify(now)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Spans the fake collector received (OTLP/HTTP JSON), once `done` holds for them (bounded: 20 s). */
async function waitForSpans(collector: FaultServer, done: (spans: OtlpSpan[]) => boolean): Promise<OtlpSpan[]> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const spans = collector.requests.filter((r) => r.path === '/v1/traces').flatMap((r) => otlpSpans(r.body));
    if (done(spans)) return spans;
    if (Date.now() > deadline) throw new Error(`the collector did not get the spans; it has ${spans.map((s) => s.name).join(', ')}`);
    await new Promise((resolve) => collector.once('request', resolve).once('closed', resolve));
  }
}

function otlpSpans(body: string): OtlpSpan[] {
  const payload = JSON.parse(body) as { resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[] };
  return payload.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}
