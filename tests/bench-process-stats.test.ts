import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import pg from 'pg';
import { availableParallelism } from 'node:os';
import { cpuUsPerOp, isLocalPostgres, postgresCpuSecondsBetween, readPostgresCpu, startCpuMeter } from '../bench/process-stats.js';

const databaseUrl = process.env.DATABASE_URL;

describe('bench process stats (bench/process-stats.ts)', () => {
  it('reads Postgres CPU only for a server on this machine', () => {
    for (const url of ['postgres://postgres@127.0.0.1:5432/test', 'postgres://u@localhost/db', 'postgres://u@[::1]:5432/db', 'postgres:///db?host=/var/run/postgresql', 'postgres://u@127.0.0.2/db']) {
      assert.equal(isLocalPostgres(url), true, url);
    }
    for (const url of ['postgres://u@db.internal:5432/db', 'postgres://u@10.0.0.5/db', 'not a url', '', undefined]) {
      assert.equal(isLocalPostgres(url), false, String(url));
    }
  });

  it('turns a share of a core at a rate into microseconds per operation, keeping NaN', () => {
    assert.equal(cpuUsPerOp(50, 1000), 500);
    assert.equal(cpuUsPerOp(150, 3000), 500);
    assert.ok(Number.isNaN(cpuUsPerOp(NaN, 1000)), 'NaN in, NaN out');
  });

  it('counts Postgres CPU per process: one that exits takes its share, never the others\'', () => {
    const start = new Map([['10@5', 2.0], ['11@6', 1.5], ['12@7', 0.25]]);
    // 11 exited (a test's pool closing), 12's pid was reused by a new process, 13 started.
    const end = new Map([['10@5', 2.5], ['12@9', 0.1], ['13@8', 0.2]]);
    assert.equal(postgresCpuSecondsBetween(start, end), 0.5 + 0.1 + 0.2);
    assert.ok(Number.isNaN(postgresCpuSecondsBetween(undefined, end)), 'no reading, no number');
    assert.ok(Number.isNaN(postgresCpuSecondsBetween(start, undefined)), 'no reading, no number');
  });

  it('counts the whole machine\'s CPU and how long the server\'s main thread waited for a core', { skip: !existsSync('/proc/self/schedstat') ? 'needs /proc (Linux)' : false }, () => {
    const measured = startCpuMeter(process.pid, false);
    const skipped = startCpuMeter(undefined, false);
    // ~200 ms of this thread on a core: the machine's count must see at least most of it.
    const until = performance.now() + 200;
    while (performance.now() < until);
    const share = measured();
    const cores = availableParallelism();
    assert.ok(share.machineCpuPct >= 50 && share.machineCpuPct <= cores * 100 + 10, JSON.stringify(share));
    assert.ok(share.serverWaitPct >= 0 && share.serverWaitPct <= 100, JSON.stringify(share));
    const none = skipped();
    assert.ok(Number.isNaN(none.serverWaitPct), 'no server, no wait');
    assert.ok(Number.isFinite(none.machineCpuPct), 'the machine is measured without a server too');
  });

  it("counts the server's main thread's sleeps, each a wake-up", { skip: !existsSync('/proc/self/status') ? 'needs /proc (Linux)' : false }, async () => {
    const measured = startCpuMeter(process.pid, false);
    const skipped = startCpuMeter(undefined, false);
    // Each timer leaves the event loop nothing to do but wait in epoll (unless the thread lost its
    // core for longer than the timer, and found it due on its return).
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    const share = measured();
    assert.ok(share.serverSleeps >= 15, `20 waits for a timer, ${share.serverSleeps} sleeps`);
    const busy = startCpuMeter(process.pid, false);
    const until = performance.now() + 50;
    while (performance.now() < until);
    // Not 0: the main thread may still block briefly on V8's helper threads (seen: 1-5).
    const busySleeps = busy().serverSleeps;
    assert.ok(busySleeps < 10, `a thread that does not wait for the event loop slept ${busySleeps} times`);
    assert.ok(Number.isNaN(skipped().serverSleeps), 'no server, no sleeps');
  });

  it('counts the CPU a local Postgres spends on queries, and none when not asked to', { skip: !databaseUrl || !isLocalPostgres(databaseUrl) || !existsSync('/proc/self/stat') ? 'needs DATABASE_URL on this machine (Linux)' : false }, async () => {
    const processes = readPostgresCpu();
    assert.ok(processes && [...processes.values()].some((seconds) => seconds > 0), 'the postmaster and its workers have run');
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      const measured = startCpuMeter(process.pid, true);
      const skipped = startCpuMeter(undefined, false);
      // ~200 ms of backend CPU: a CPU-bound query, well over the 10 ms tick of /proc's counters.
      await client.query('select count(*) from generate_series(1, 3000000) g where g % 7 = 3');
      const share = measured();
      assert.ok(share.postgresCpuPct > 0, JSON.stringify(share));
      assert.ok(Number.isFinite(share.serverCpuPct) && Number.isFinite(share.clientCpuPct), JSON.stringify(share));
      const none = skipped();
      assert.ok(Number.isNaN(none.postgresCpuPct) && Number.isNaN(none.serverCpuPct), JSON.stringify(none));
    } finally {
      await client.end();
    }
  });
});
