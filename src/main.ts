import { ConfigError, loadConfig } from './config.js';
import { createLogger } from './telemetry/logger.js';
import type { TracingSdk } from './telemetry/tracing-sdk.js';

/** Entry point: configuration, start-up, and signals. Everything else is in app.ts. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`orchestrator: configuration error: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger({ level: config.logLevel, base: { service: 'orchestrator' } });
  let app;
  let tracing: TracingSdk | undefined;
  try {
    // The trace SDK is registered before the application modules load, and loaded only when
    // tracing is on (OTEL_* variables), so the service pays nothing for it otherwise.
    if (config.tracesExporter) {
      const [{ startTracingSdk }, { readBuildInfo }] = await Promise.all([import('./telemetry/tracing-sdk.js'), import('./build-info.js')]);
      tracing = startTracingSdk(config.tracesExporter, readBuildInfo());
      logger.info('tracing on', { exporter: config.tracesExporter });
    }
    // Imported after the configuration is known good, so a bad setting fails in milliseconds.
    const { createApp } = await import('./app.js');
    app = await createApp(config, logger);
  } catch (err) {
    logger.error('start-up failed', { err: (err as Error).message });
    process.exit(1);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal, graceMs: config.shutdownGraceMs });
    app
      .stop()
      .then(() => tracing?.shutdown())
      .then(
        () => process.exit(0),
        (err: unknown) => {
          logger.error('shutdown failed', { err: (err as Error).message });
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

await main();
