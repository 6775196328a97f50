import { setMaxListeners } from 'node:events';
import { Code, ConnectError, type ConnectRouter } from '@connectrpc/connect';
import { readBuildInfo } from './build-info.js';
import { createEventBus } from './bus/create-event-bus.js';
import type { Config } from './config.js';
import { HealthMonitor } from './health/health-monitor.js';
import { healthService } from './rpc/health-service.js';
import { file_grpc_health_v1_health } from '../gen/grpc/health/v1/health_pb.js';
import { file_health_v1_health, HealthService } from '../gen/health/v1/health_pb.js';
import { file_info_v1_info, InfoService } from '../gen/info/v1/info_pb.js';
import { file_orchestrator_v1_orchestrator, OrchestratorService } from '../gen/orchestrator/v1/orchestrator_pb.js';
import { shippedMachines } from '../machines/index.js';
import { createWorkflowEngine } from './engine/workflow-engine.js';
import { errorMappingInterceptor } from './rpc/error-mapping.js';
import { orchestratorService } from './rpc/orchestrator-service.js';
import { PostgresWorkflowStore } from './store/postgres-workflow-store.js';
import { createBuiltinTools } from './tools/builtin-tools.js';
import { ResilientToolInvoker } from './tools/resilient-tool-invoker.js';
import type { ToolPolicyEvent } from './tools/policy/tool-policy.js';
import { loadExtraModules } from './extra-modules.js';
import { grpcHealthRoutes } from './rpc/grpc-health-service.js';
import { reflectionRoutes } from './rpc/reflection-service.js';
import { infoService } from './rpc/info-service.js';
import { loggingInterceptor } from './rpc/logging-interceptor.js';
import { createRpcHandler, protocols } from './rpc/rpc-handler.js';
import { startServer } from './rpc/server.js';
import { openDatabase } from './store/database.js';
import { migrateToLatest } from './store/migrator.js';
import type { Logger } from './telemetry/logger.js';
import { Metrics } from './telemetry/metrics.js';
import { recordToolEvent } from './telemetry/tool-metrics.js';
import { metricsInterceptor, rejectedRequestRecorder } from './rpc/metrics-interceptor.js';
import { tracingInterceptor } from './rpc/tracing-interceptor.js';
import { engineTelemetry } from './telemetry/engine-telemetry.js';
import { instrumentBus } from './telemetry/instrumented-bus.js';
import { instrumentStore } from './telemetry/instrumented-store.js';
import { metricsRoute, startMetricsServer } from './rpc/metrics-route.js';
import { readWorkflowBacklog } from './store/workflow-backlog.js';

/** A started service; `stop` shuts it down in order and resolves when it is down. */
export interface App {
  readonly port: number;
  stop(): Promise<void>;
}

/**
 * The composition root: the only module that knows every part. Starts the
 * store (migrated), the bus, health, and the server, and stops them in reverse.
 */
export async function createApp(config: Config, logger: Logger): Promise<App> {
  const build = readBuildInfo();
  const metrics = new Metrics({ version: build.version, commit: build.gitCommit });
  const poolWaits = metrics.storePoolWait.series({});
  const database = await openDatabase({
    url: config.databaseUrl,
    dataDir: config.dataDir,
    schema: config.databaseSchema,
    poolSize: config.databasePoolSize,
    queryTimeoutMs: config.databaseQueryTimeoutMs,
    startupTimeoutMs: config.startupTimeoutMs,
    onConnectionWait: (seconds) => poolWaits.observe(seconds),
    logger,
  });
  await migrateToLatest(database.db, logger);
  const bus = await createEventBus({ redisUrl: config.redisUrl, logger, startupTimeoutMs: config.startupTimeoutMs });
  const health = new HealthMonitor({ probeStore: () => database.ping(), storeKind: database.kind, bus, intervalMs: config.healthIntervalMs, logger });
  await health.start();
  const extra = await loadExtraModules(config.extraModules);
  const tools = createBuiltinTools(logger, {
    httpAllowedHosts: config.httpToolAllowedHosts,
    llm: { baseUrl: config.llmBaseUrl, model: config.llmModel, apiKey: config.llmApiKey },
  });
  for (const [src, adapter] of Object.entries(extra.tools)) tools.register(src, adapter);
  // Every tool call goes through its cockatiel policy (one breaker and bulkhead per tool);
  // `toolInvoker.states()` is the per-tool breaker/bulkhead view for Info, Health and metrics.
  const toolInvoker = new ResilientToolInvoker(tools, {
    overrides: config.toolPolicies,
    onEvent: (event) => {
      recordToolEvent(metrics, event);
      logToolEvent(logger, event);
    },
  });
  const commitBatchSizes = metrics.commitBatchSize.series({});
  const commitDurations = metrics.commitDuration.series({});
  const onCommitBatch = (size: number, seconds: number) => {
    commitBatchSizes.observe(size);
    commitDurations.observe(seconds);
  };
  const engine = createWorkflowEngine({
    // Store errors, commit spans, bus counts and trace context in messages (telemetry/instrumented-*.ts).
    store: instrumentStore(new PostgresWorkflowStore(database.db, { onCommitBatch }), metrics),
    bus: instrumentBus(bus, metrics),
    machines: [...shippedMachines, ...extra.machines],
    tools: toolInvoker,
    logger,
    options: { taskLeaseMs: config.taskLeaseMs, timerLeaseMs: config.timerLeaseMs, timerLookaheadMs: config.timerLookaheadMs, observer: engineTelemetry(metrics), ...(config.faultKillAfterCommit ? { afterCommit: killAfterCommit(config.faultKillAfterCommit, logger) } : {}) },
  });
  Object.assign(metrics.sources, {
    backlog: () => readWorkflowBacklog(database.db),
    pool: () => database.poolUsage(),
    busUp: () => bus.status().ok,
    tools: () => toolInvoker.states(),
  });
  metrics.initialise({ machines: [...new Set(engine.listMachines().map((m) => m.id))], tools: toolInvoker.states().map((t) => t.tool) });
  // Before serving: overdue timers fire and orphaned tasks are claimed again.
  await engine.start();

  const shutdown = new AbortController();
  // Every in-flight call links its own signal to this one: many listeners is normal, not a leak.
  setMaxListeners(0, shutdown.signal);
  const routes = (router: ConnectRouter) => {
    router.service(HealthService, healthService(health));
    router.service(InfoService, infoService({ build, storeKind: database.kind, busKind: bus.kind, protocols, tools: () => toolInvoker.states() }));
    router.service(OrchestratorService, orchestratorService(engine));
    grpcHealthRoutes({
      status: (service) => grpcHealthStatus[health.status(service)],
      onChange: (listener) => health.onChange(listener),
      services: () => ['orchestrator', ...health.report().components.map((c) => c.name)],
    })(router);
    reflectionRoutes([file_orchestrator_v1_orchestrator, file_health_v1_health, file_info_v1_info, file_grpc_health_v1_health])(router);
  };
  const handler = createRpcHandler({
    routes,
    corsOrigins: config.corsOrigins,
    maxRequestBytes: config.maxRequestBytes,
    maxTimeoutMs: config.maxTimeoutMs,
    shutdownSignal: shutdown.signal,
    // Outermost first: the server span holds everything; metrics see the code the client gets.
    interceptors: [tracingInterceptor(), metricsInterceptor(metrics), loggingInterceptor(logger), errorMappingInterceptor()],
    httpRoutes: { '/metrics': metricsRoute(metrics, logger) },
    recordRejected: rejectedRequestRecorder(metrics),
  });
  const server = await startServer({ port: config.port, host: config.host, handler, logger });
  const metricsServer = config.metricsPort === undefined ? undefined : await startMetricsServer({ port: config.metricsPort, host: config.host, metrics, logger });
  logger.info('listening', { port: server.port, host: config.host, metricsPort: metricsServer?.port, store: database.kind, bus: bus.kind, version: build.version, commit: build.gitCommit });

  return {
    port: server.port,
    async stop() {
      health.shutDown();
      // Streams end at once with `unavailable`; unary calls get the grace period.
      shutdown.abort(new ConnectError('server is shutting down', Code.Unavailable));
      await server.close(config.shutdownGraceMs);
      await metricsServer?.close();
      // Running tool calls are aborted; their tasks are claimed again after restart or by a replica.
      await engine.stop();
      health.stop();
      await bus.close();
      await database.close();
      logger.info('stopped');
    },
  };
}

/** The standard protocol has no DEGRADED: a degraded service still serves. */
const grpcHealthStatus = { DEGRADED: 'SERVING', SERVING: 'SERVING', NOT_SERVING: 'NOT_SERVING', SERVICE_UNKNOWN: 'SERVICE_UNKNOWN' } as const;

/**
 * Crash-test fault (FAULT_KILL_AFTER_COMMIT): SIGKILL this process right after its n-th commit,
 * so the commit is durable but nothing after it (publish, tasks, timers, the reply) happens.
 */
function killAfterCommit(n: number, logger: Logger): () => void {
  let commits = 0;
  return () => {
    if (++commits !== n) return;
    logger.warn('fault injection: killing the process after a commit', { commit: n });
    process.kill(process.pid, 'SIGKILL');
  };
}

/** Policy events worth an operator's attention go to the log (every event also goes to the metrics). */
function logToolEvent(logger: Logger, event: ToolPolicyEvent): void {
  if (event.type === 'breaker') logger.warn('tool circuit breaker changed', { tool: event.tool, state: event.state });
  else if (event.type === 'bulkhead_rejected') logger.warn('tool call refused: bulkhead full', { tool: event.tool });
  else if (event.type === 'retry') logger.info('retrying tool call', { tool: event.tool, attempt: event.attempt, delayMs: event.delayMs, errorKind: event.errorKind });
  else if (event.type === 'give_up') logger.warn('tool call failed after retries', { tool: event.tool, errorKind: event.errorKind });
}
