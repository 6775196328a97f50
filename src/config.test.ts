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
    assert.ok(Object.isFrozen(config));
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

  it('refuses a bad value with one line naming the variable', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ PORT: 'eighty' }, /^PORT must be a whole number from 0 to 65535, got 'eighty'$/],
      [{ PORT: '70000' }, /^PORT /],
      [{ DATABASE_URL: 'mysql://x/y' }, /^DATABASE_URL must start with postgres:\/\/ or postgresql:\/\//],
      [{ REDIS_URL: 'not a url' }, /^REDIS_URL is not a URL/],
      [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL must be one of debug, info, warn, error/],
      [{ DATABASE_SCHEMA: 'Robert; drop' }, /^DATABASE_SCHEMA must be a lower-case SQL identifier/],
      [{ MAX_REQUEST_BYTES: '10' }, /^MAX_REQUEST_BYTES /],
    ];
    for (const [env, message] of cases) {
      assert.throws(() => loadConfig(env), (err: unknown) => err instanceof ConfigError && message.test(err.message) && !err.message.includes('\n'), JSON.stringify(env));
    }
  });
});
