import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from './config.js';

describe('loadConfig', () => {
  it('gives the documented defaults for an empty environment', () => {
    const config = loadConfig({});
    assert.equal(config.port, 8002);
    assert.equal(config.databaseUrl, undefined);
    assert.equal(config.dataDir, './data/pglite');
    assert.equal(config.redisUrl, undefined);
    assert.equal(config.logLevel, 'info');
    assert.deepEqual(config.corsOrigins, ['*']);
    assert.equal(config.taskLeaseMs, 30_000);
    assert.equal(config.timerLeaseMs, 30_000);
    assert.equal(config.timerLookaheadMs, 1_000);
    assert.equal(config.metricsPort, undefined);
    assert.equal(config.tracesExporter, undefined);
    assert.ok(Object.isFrozen(config), 'the config is frozen');
  });

  it('reads and trims values; blank counts as unset', () => {
    const config = loadConfig({
      PORT: ' 9000 ',
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test',
      REDIS_URL: '',
      CORS_ORIGINS: 'https://a.example, https://b.example',
      LOG_LEVEL: 'debug',
    });
    assert.equal(config.port, 9000);
    assert.equal(config.databaseUrl, 'postgres://postgres@127.0.0.1:5432/test');
    assert.equal(config.redisUrl, undefined);
    assert.deepEqual(config.corsOrigins, ['https://a.example', 'https://b.example']);
    assert.equal(config.logLevel, 'debug');
  });

  it('claims timers ahead by TIMER_LOOKAHEAD_MS; 0 claims only due ones', () => {
    assert.equal(loadConfig({ TIMER_LOOKAHEAD_MS: '0' }).timerLookaheadMs, 0);
    assert.equal(loadConfig({ TIMER_LOOKAHEAD_MS: '250' }).timerLookaheadMs, 250);
  });

  it('serves metrics on a second port only when METRICS_PORT is above 0', () => {
    assert.equal(loadConfig({ METRICS_PORT: '9464' }).metricsPort, 9464);
    assert.equal(loadConfig({ METRICS_PORT: '0' }).metricsPort, undefined);
  });

  it('turns tracing on from the standard OTEL_* variables only', () => {
    const endpoint = 'http://127.0.0.1:4318';
    assert.equal(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: endpoint }).tracesExporter, 'otlp');
    assert.equal(loadConfig({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${endpoint}/v1/traces` }).tracesExporter, 'otlp');
    assert.equal(loadConfig({ OTEL_TRACES_EXPORTER: 'console' }).tracesExporter, 'console');
    assert.equal(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_TRACES_EXPORTER: 'none' }).tracesExporter, undefined);
    assert.equal(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_SDK_DISABLED: 'true' }).tracesExporter, undefined);
  });

  it('refuses a bad value with one line naming the variable', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ PORT: 'eighty' }, /^PORT must be a whole number from 0 to 65535, got 'eighty'$/],
      [{ PORT: '70000' }, /^PORT /],
      [{ DATABASE_URL: 'mysql://x/y' }, /^DATABASE_URL must start with postgres:\/\/ or postgresql:\/\//],
      [{ REDIS_URL: 'not a url' }, /^REDIS_URL is not a URL/],
      [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL must be one of debug, info, warn, error/],
      [{ DATABASE_SCHEMA: 'Robert; drop' }, /^DATABASE_SCHEMA must be a lower-case SQL identifier/],
      [{ MAX_REQUEST_BYTES: '10' }, /^MAX_REQUEST_BYTES /],
      [{ METRICS_PORT: '65536' }, /^METRICS_PORT must be a whole number from 0 to 65535/],
      [{ TIMER_LOOKAHEAD_MS: '-1' }, /^TIMER_LOOKAHEAD_MS must be a whole number from 0 to 60000/],
      [{ OTEL_TRACES_EXPORTER: 'zipkin' }, /^OTEL_TRACES_EXPORTER must be one of otlp, console, none, got 'zipkin'$/],
      [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }, /^OTEL_EXPORTER_OTLP_ENDPOINT must start with http:\/\/ or https:\/\//],
    ];
    for (const [env, message] of cases) {
      assert.throws(() => loadConfig(env), (err: unknown) => err instanceof ConfigError && message.test(err.message) && !err.message.includes('\n'), JSON.stringify(env));
    }
  });
});
