import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { BacklogReader } from './backlog-reader.js';
import { CounterFamily, GaugeFamily, HistogramFamily } from './labelled-series.js';
import type { MetricSources } from './metric-sources.js';

/**
 * Latency buckets in seconds, shared by every duration histogram. The SLO thresholds (0.25 s and
 * 1 s) are bucket bounds, so `le="0.25"` and `le="1"` are exact and burn-rate queries need no
 * interpolation.
 */
export const SECONDS_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Transitions committed per database round trip. */
export const BATCH_BUCKETS: readonly number[] = [1, 2, 4, 8, 16, 32, 64, 128];
/**
 * A group commit's time: a healthy database answers in a millisecond or two (a WAL flush), so the
 * buckets start below the RPC ones; the SLO threshold 0.25 s is a bound here too.
 */
const COMMIT_SECONDS_BUCKETS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];
/**
 * A query's wait for a pooled connection: none to speak of while one is idle (well under 0.1 ms),
 * up to the connect timeout (5 s by default) when every connection is busy or the database is gone.
 */
const POOL_WAIT_BUCKETS: readonly number[] = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Timers fire up to a poll interval late by design, and much later after an outage. */
const LAG_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

export type TransitionSource = 'start' | 'client' | 'task' | 'timer' | 'cancel';
export type WorkflowOutcome = 'done' | 'failed' | 'cancelled';
export type ToolCallOutcome = 'ok' | 'error' | 'timeout' | 'circuit_open' | 'bulkhead_full' | 'cancelled';

const BREAKER_VALUES: Record<string, number> = { closed: 0, half_open: 1, open: 2, isolated: 2 };

export const TRANSITION_SOURCES: readonly TransitionSource[] = ['start', 'client', 'task', 'timer', 'cancel'];
export const WORKFLOW_OUTCOMES: readonly WorkflowOutcome[] = ['done', 'failed', 'cancelled'];
export const TOOL_CALL_OUTCOMES: readonly ToolCallOutcome[] = ['ok', 'error', 'timeout', 'circuit_open', 'bulkhead_full', 'cancelled'];

/**
 * Every metric of the service (the catalog in issue 6), on its own registry so tests can build
 * several. Labels never carry ids (workflow, task, request): only bounded sets such as machine,
 * tool, method and code. Gauges read from the store, the pool, the bus and the tool policies are
 * filled at scrape time from `sources` (see metric-sources.ts).
 */
export class Metrics {
  readonly registry = new Registry();
  /** Set by the composition root once the parts exist; read at every scrape. */
  readonly sources: MetricSources = {};
  #machines: readonly string[] = [];
  readonly #backlog = new BacklogReader(() => this.sources.backlog, () => this.storeErrors.inc({ operation: 'backlog' }));

  // RPC (the Connect interceptor in rpc/metrics-interceptor.ts).
  // Updated on every call: series looked up once per method (labelled-series.ts).
  readonly rpcRequests = new CounterFamily('orchestrator_rpc_requests_total', 'RPCs finished, by Connect code (ok when it succeeded)', ['service', 'method', 'protocol', 'code'], this.registry);
  readonly rpcDuration = new HistogramFamily('orchestrator_rpc_request_duration_seconds', 'Time to answer a unary RPC', ['service', 'method', 'protocol'], SECONDS_BUCKETS, this.registry);
  readonly rpcInFlight = new GaugeFamily('orchestrator_rpc_in_flight', 'RPCs being served now, streams included', ['service', 'method'], this.registry);
  /** The seed's names: `status` is the HTTP status equivalent of the Connect code. */
  readonly httpRequests = new CounterFamily('http_requests_total', 'RPCs finished, by the HTTP status equivalent of their code (seed name)', ['service', 'method', 'status'], this.registry);
  readonly httpDuration = new HistogramFamily('http_request_duration_seconds', 'Time to answer a unary RPC, by HTTP status equivalent (seed name)', ['service', 'method', 'status'], SECONDS_BUCKETS, this.registry);
  readonly watchStreams = this.#gauge('orchestrator_watch_streams', 'Open workflow watch streams', []);

  // Engine (through the EngineObserver in engine-metrics.ts).
  readonly workflowsStarted = new CounterFamily('orchestrator_workflows_started_total', 'Workflow instances started', ['machine'], this.registry);
  readonly workflowsFinished = new CounterFamily('orchestrator_workflows_finished_total', 'Workflow instances that reached a final status', ['machine', 'outcome'], this.registry);
  readonly workflowsRunning = this.#gauge('orchestrator_workflows_running', 'Active workflow instances in the store (all replicas; cached up to 10 s)', ['machine'], async (g) => {
    const backlog = await this.#backlog.read();
    if (!backlog) return;
    g.reset();
    // Loaded machines with no active instance read 0, not "no data".
    for (const machine of this.#machines) g.set({ machine }, 0);
    for (const { machine, count } of backlog.runningByMachine) g.set({ machine }, count);
  });
  readonly transitions = new CounterFamily('orchestrator_transitions_total', 'Transitions committed, by what caused them', ['machine', 'source'], this.registry);
  readonly transitionDuration = new HistogramFamily('orchestrator_transition_duration_seconds', 'From an input accepted to its transition committed', ['source'], SECONDS_BUCKETS, this.registry);
  readonly commitBatchSize = new HistogramFamily('orchestrator_commit_batch_size', 'Transitions committed per database round trip', [], BATCH_BUCKETS, this.registry);
  readonly commitDuration = new HistogramFamily('orchestrator_commit_duration_seconds', 'One group commit, from taking a pooled connection until every member has its result (one statement; each member alone after a failed one)', [], COMMIT_SECONDS_BUCKETS, this.registry);
  readonly transitionConflicts = new CounterFamily('orchestrator_transition_conflicts_total', 'Optimistic commits that found the workflow changed by another writer', [], this.registry);
  readonly timerLag = new HistogramFamily('orchestrator_timer_lag_seconds', 'Timer fired minus due', [], LAG_BUCKETS, this.registry);
  readonly timersFired = new CounterFamily('orchestrator_timers_fired_total', 'Timers fired', [], this.registry);
  readonly timersPending = this.#gauge('orchestrator_timers_pending', 'Armed timers in the store (all replicas; cached up to 10 s)', [], async (g) => {
    const backlog = await this.#backlog.read();
    if (backlog) g.set(backlog.timersPending);
  });
  readonly tasksPending = this.#gauge('orchestrator_tasks_pending', 'Tool tasks waiting for a replica to claim them (all replicas; cached up to 10 s)', [], async (g) => {
    const backlog = await this.#backlog.read();
    if (backlog) g.set(backlog.tasksPending);
  });
  readonly tasksRunning = this.#gauge('orchestrator_tasks_running', 'Tool tasks leased to a replica (all replicas; cached up to 10 s)', [], async (g) => {
    const backlog = await this.#backlog.read();
    if (backlog) g.set(backlog.tasksRunning);
  });
  readonly taskScheduleToStart = this.#histogram('orchestrator_task_schedule_to_start_seconds', 'From a tool task committed to its call started', ['tool'], LAG_BUCKETS);

  // Tools (cockatiel policy events, tool-metrics.ts).
  readonly toolCalls = this.#counter('orchestrator_tool_calls_total', 'Tool calls finished (all attempts of one call count once)', ['tool', 'outcome']);
  readonly toolCallDuration = this.#histogram('orchestrator_tool_call_duration_seconds', 'Time of a tool call, retries and backoff included', ['tool'], SECONDS_BUCKETS);
  readonly toolRetries = this.#counter('orchestrator_tool_retries_total', 'Tool call attempts retried', ['tool']);
  readonly toolTimeouts = this.#counter('orchestrator_tool_timeouts_total', 'Tool attempts or calls cut off by a timeout', ['tool']);
  readonly toolBreakerState = this.#gauge('orchestrator_tool_breaker_state', 'Circuit breaker: 0 closed, 1 half-open, 2 open (or isolated)', ['tool'], (g) => {
    for (const t of this.sources.tools?.() ?? []) g.set({ tool: t.tool }, BREAKER_VALUES[t.breaker] ?? 2);
  });
  readonly toolBulkheadRejections = this.#counter('orchestrator_tool_bulkhead_rejections_total', 'Tool calls refused because the bulkhead and its queue were full', ['tool']);
  readonly toolBulkheadInUse = this.#gauge('orchestrator_tool_bulkhead_in_use', 'Tool calls running in the bulkhead now', ['tool'], (g) => {
    for (const t of this.sources.tools?.() ?? []) g.set({ tool: t.tool }, t.active);
  });

  // Store and bus.
  readonly storeErrors = this.#counter('orchestrator_store_errors_total', 'Store operations that failed (database errors)', ['operation']);
  readonly storePoolWait = new HistogramFamily('orchestrator_store_pool_wait_seconds', 'Time a query waited for a pooled database connection (PGlite: for its one session)', [], POOL_WAIT_BUCKETS, this.registry);
  readonly storePoolConnections = this.#gauge('orchestrator_store_pool_connections', 'Database connections: total, idle, and requests waiting for one (PGlite: one connection)', ['state'], (g) => {
    const pool = this.sources.pool?.();
    if (!pool) return;
    g.set({ state: 'total' }, pool.total);
    g.set({ state: 'idle' }, pool.idle);
    g.set({ state: 'waiting' }, pool.waiting);
  });
  readonly busErrors = this.#counter('orchestrator_bus_errors_total', 'Bus publishes dropped or failed, and connection losses', []);
  readonly busUp = this.#gauge('orchestrator_bus_up', '1 when the event bus is connected, else 0', [], (g) => {
    const up = this.sources.busUp?.();
    if (up !== undefined) g.set(up ? 1 : 0);
  });
  readonly busPublished = new CounterFamily('orchestrator_bus_messages_published_total', 'Transition messages published', [], this.registry);
  readonly busReceived = new CounterFamily('orchestrator_bus_messages_received_total', 'Transition messages delivered to subscribers of this process', [], this.registry);

  readonly up = this.#gauge('orchestrator_up', 'Always 1 while the process serves; labels name the build', ['version', 'commit']);

  constructor(build: { version: string; commit: string }) {
    this.up.set({ version: build.version, commit: build.commit }, 1);
    collectDefaultMetrics({ register: this.registry, prefix: 'orchestrator_' });
  }

  /** Series at zero for the label values known up front, so queries see them before the first event. */
  initialise(known: { machines: readonly string[]; tools: readonly string[] }): void {
    this.#machines = [...known.machines];
    for (const machine of known.machines) {
      this.workflowsStarted.inc({ machine }, 0);
      for (const outcome of WORKFLOW_OUTCOMES) this.workflowsFinished.inc({ machine, outcome }, 0);
      for (const source of TRANSITION_SOURCES) this.transitions.inc({ machine, source }, 0);
    }
    for (const tool of known.tools) {
      for (const outcome of TOOL_CALL_OUTCOMES) this.toolCalls.inc({ tool, outcome }, 0);
      this.toolRetries.inc({ tool }, 0);
      this.toolTimeouts.inc({ tool }, 0);
      this.toolBulkheadRejections.inc({ tool }, 0);
    }
  }

  /** The exposition text and its content type. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  #counter<L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  #gauge<L extends string>(name: string, help: string, labelNames: readonly L[], collect?: (self: Gauge<L>) => Promise<void> | void): Gauge<L> {
    return new Gauge({ name, help, labelNames, registers: [this.registry], ...(collect ? { collect(this: Gauge<L>) { return collect(this); } } : {}) });
  }

  #histogram<L extends string>(name: string, help: string, labelNames: readonly L[], buckets: readonly number[]): Histogram<L> {
    return new Histogram({ name, help, labelNames, buckets: [...buckets], registers: [this.registry] });
  }
}
