import assert from 'node:assert/strict';
import { createServer, connect } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { describe, it } from 'node:test';
import { sql } from 'kysely';
import { createLogger } from '../telemetry/logger.js';
import { StoreUnavailableError } from '../engine/errors.js';
import { openDatabase } from './database.js';

const DATABASE_URL = process.env.DATABASE_URL;
const needsPostgres = DATABASE_URL ? false : 'DATABASE_URL is unset: needs a real Postgres behind the proxy';

interface LogLine {
  level: string;
  msg: string;
  [key: string]: unknown;
}

/** A logger that records lines and lets a test wait for the first line matching a predicate. */
function recordingLogger() {
  const lines: LogLine[] = [];
  const waiters: Array<{ match: (line: LogLine) => boolean; resolve: () => void }> = [];
  const logger = createLogger({
    level: 'debug',
    write: (text) => {
      const line = JSON.parse(text) as LogLine;
      lines.push(line);
      for (const w of waiters.filter((w) => w.match(line))) w.resolve();
    },
  });
  const waitFor = (match: (line: LogLine) => boolean, ms: number) =>
    new Promise<void>((resolve, reject) => {
      if (lines.some(match)) return resolve();
      const timer = setTimeout(() => reject(new Error(`no matching log line within ${ms} ms`)), ms);
      waiters.push({ match, resolve: () => (clearTimeout(timer), resolve()) });
    });
  return { logger, lines, waitFor };
}

/** A TCP proxy to Postgres that a test can cut (close + drop every socket) or turn into a black hole. */
async function startProxy(target: URL, port = 0) {
  const sockets = new Set<Socket>();
  let forward = true;
  const server: Server = createServer((client) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    client.on('data', (chunk) => forward && upstream.write(chunk));
    upstream.on('data', (chunk) => forward && client.write(chunk));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const url = new URL(target);
  url.hostname = '127.0.0.1';
  url.port = String((server.address() as AddressInfo).port);
  return {
    url: url.toString(),
    blackhole: () => (forward = false),
    cut: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}

/** A port with nothing listening on it (probed, then released). */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

describe('openDatabase start-up', () => {
  it('fails fast with StoreUnavailableError when nothing listens', async () => {
    const started = Date.now();
    await assert.rejects(
      openDatabase({ url: 'postgres://postgres@127.0.0.1:1/test', dataDir: ':memory:', poolSize: 1, logger: recordingLogger().logger }),
      (error: Error) => {
        assert.ok(error instanceof StoreUnavailableError, 'a StoreUnavailableError');
        assert.match(error.message, /database unreachable after 1 attempt\(s\).*ECONNREFUSED/);
        return true;
      },
    );
    assert.ok(Date.now() - started < 2_000, 'should not wait for a timeout');
  });

  it('bounds an attempt that gets no answer by connectTimeoutMs', async () => {
    // Accepts connections and never answers. Reading keeps each socket flowing, so it closes
    // when the client gives up.
    const silent = createServer((socket) => socket.resume());
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    const started = Date.now();
    try {
      await assert.rejects(
        openDatabase({ url: `postgres://postgres@127.0.0.1:${port}/test`, dataDir: ':memory:', poolSize: 1, logger: recordingLogger().logger, connectTimeoutMs: 300 }),
        /database unreachable after 1 attempt\(s\).*(timeout|no answer)/i,
      );
      assert.ok(Date.now() - started < 2_000, 'gave up within 2 s');
    } finally {
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('retries with backoff, one warn line per attempt, and gives up after startupTimeoutMs', async () => {
    const { logger, lines } = recordingLogger();
    const started = Date.now();
    await assert.rejects(
      openDatabase({ url: 'postgres://postgres@127.0.0.1:1/test', dataDir: ':memory:', poolSize: 1, logger, startupTimeoutMs: 800 }),
      /database unreachable after \d+ attempt\(s\) in \d+ ms/,
    );
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 800 && elapsed < 3_000, `gave up after ${elapsed} ms`);
    const warns = lines.filter((l) => l.level === 'warn');
    // 100 + 200 + 400 ms of backoff fit before the deadline, then a last wait up to it.
    assert.ok(warns.length >= 3 && warns.length <= 5, `${warns.length} warn lines`);
    assert.deepEqual(warns.map((w) => w.retryInMs).slice(0, 3), [100, 200, 400]);
    for (const w of warns) {
      assert.equal(w.msg, 'database unreachable, retrying');
      assert.match(String(w.reason), /ECONNREFUSED/);
      assert.doesNotMatch(JSON.stringify(w), /\n\s+at /, 'no stack trace');
    }
  });

  it('connects once the database comes up during the retries', { skip: needsPostgres }, async () => {
    const port = await freePort();
    const target = new URL(DATABASE_URL!);
    const late = new URL(target);
    late.hostname = '127.0.0.1';
    late.port = String(port);
    const { logger, waitFor } = recordingLogger();
    const opening = openDatabase({ url: late.toString(), dataDir: ':memory:', poolSize: 1, logger, startupTimeoutMs: 20_000 });
    await waitFor((l) => l.level === 'warn', 5_000);
    const proxy = await startProxy(target, port);
    const database = await opening;
    try {
      await database.ping();
    } finally {
      await database.close();
      await proxy.cut();
    }
  });
});

describe('a Postgres connection that drops', { skip: needsPostgres }, () => {
  it('neither crashes the process nor hangs ping', async () => {
    const proxy = await startProxy(new URL(DATABASE_URL!));
    const { logger, waitFor } = recordingLogger();
    const database = await openDatabase({ url: proxy.url, dataDir: ':memory:', poolSize: 3, logger, pingTimeoutMs: 300 });
    // Open three connections; one goes to a transaction, one to the ping below, one stays idle.
    await Promise.all([1, 2, 3].map(() => sql`select pg_sleep(0.05)`.execute(database.db)));
    const trx = await database.db.startTransaction().execute();
    try {
      await sql`select 1`.execute(trx);

      proxy.blackhole();
      const started = Date.now();
      await assert.rejects(database.ping(), /database ping failed: no answer within 300 ms/);
      assert.ok(Date.now() - started < 1_500, 'answered within 1.5 s');

      await proxy.cut();
      // The idle connection reports its loss through the pool's 'error' event, which is handled;
      // the one held by the transaction emits 'error' on its client, also handled.
      await waitFor((l) => l.msg === 'idle database connection lost', 5_000);
      await assert.rejects(sql`select 1`.execute(trx));
      const pinged = Date.now();
      await assert.rejects(database.ping(), StoreUnavailableError);
      assert.ok(Date.now() - pinged < 1_500, 'answered within 1.5 s');
    } finally {
      // Release the transaction's connection, or close() would wait for it forever.
      await trx.rollback().execute().catch(() => {});
      await database.close();
    }
  });
});
