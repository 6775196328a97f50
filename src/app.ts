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
import { grpcHealthRoutes } from './rpc/grpc-health-service.js';
import { reflectionRoutes } from './rpc/reflection-service.js';
import { infoService } from './rpc/info-service.js';
import { loggingInterceptor } from './rpc/logging-interceptor.js';
import { createRpcHandler, protocols } from './rpc/rpc-handler.js';
import { startServer } from './rpc/server.js';
import { openDatabase } from './store/database.js';
import { migrateToLatest } from './store/migrator.js';
import type { Logger } from './telemetry/logger.js';

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
  const database = await openDatabase({
    url: config.databaseUrl,
    dataDir: config.dataDir,
    schema: config.databaseSchema,
    poolSize: config.databasePoolSize,
    startupTimeoutMs: config.startupTimeoutMs,
    logger,
  });
  await migrateToLatest(database.db, logger);
  const bus = await createEventBus({ redisUrl: config.redisUrl, logger, startupTimeoutMs: config.startupTimeoutMs });
  const health = new HealthMonitor({ probeStore: () => database.ping(), storeKind: database.kind, bus, intervalMs: config.healthIntervalMs, logger });
  await health.start();
  const engine = createWorkflowEngine({
    store: new PostgresWorkflowStore(database.db),
    bus,
    machines: shippedMachines,
    tools: createBuiltinTools(logger),
    logger,
  });
  // Before serving: overdue timers fire and orphaned tasks are claimed again.
  await engine.start();

  const shutdown = new AbortController();
  const routes = (router: ConnectRouter) => {
    router.service(HealthService, healthService(health));
    router.service(InfoService, infoService({ build, storeKind: database.kind, busKind: bus.kind, protocols }));
    router.service(OrchestratorService, orchestratorService(engine));
    grpcHealthRoutes({
      // The standard protocol has no DEGRADED: a degraded service still serves.
      status: (service) => ({ DEGRADED: 'SERVING', SERVING: 'SERVING', NOT_SERVING: 'NOT_SERVING', SERVICE_UNKNOWN: 'SERVICE_UNKNOWN' } as const)[health.status(service)],
      onChange: (listener) => health.onChange(listener),
      services: () => ['orchestrator', 'store', 'bus'],
    })(router);
    reflectionRoutes([file_orchestrator_v1_orchestrator, file_health_v1_health, file_info_v1_info, file_grpc_health_v1_health])(router);
  };
  const handler = createRpcHandler({
    routes,
    corsOrigins: config.corsOrigins,
    maxRequestBytes: config.maxRequestBytes,
    maxTimeoutMs: config.maxTimeoutMs,
    shutdownSignal: shutdown.signal,
    interceptors: [loggingInterceptor(logger), errorMappingInterceptor()],
  });
  const server = await startServer({ port: config.port, host: config.host, handler, logger });
  logger.info('listening', { port: server.port, host: config.host, store: database.kind, bus: bus.kind, version: build.version, commit: build.gitCommit });

  return {
    port: server.port,
    async stop() {
      health.shutDown();
      // Streams end at once with `unavailable`; unary calls get the grace period.
      shutdown.abort(new ConnectError('server is shutting down', Code.Unavailable));
      await server.close(config.shutdownGraceMs);
      // Running tool calls are aborted; their tasks are claimed again after restart or by a replica.
      await engine.stop();
      health.stop();
      await bus.close();
      await database.close();
      logger.info('stopped');
    },
  };
}
