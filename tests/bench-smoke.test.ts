import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseBenchArgs } from '../bench/bench-options.js';
import { runBench, type PartOutcome } from '../bench/bench-runner.js';
import { renderMarkdown } from '../bench/markdown-report.js';
import { isLocalPostgres } from '../bench/process-stats.js';
import type { LatencySummary } from '../bench/stats.js';

/**
 * A tiny run of every benchmark part (`bench/run.ts --smoke`: 20 transactions, 200 calls per
 * client, 20 workflows...), so `make test` catches a broken harness. It asserts the shape of
 * the report, not speed. The timers part needs the bench-counter machine; until the server
 * ships it that part must say so (unavailable), never fail.
 */
describe('benchmark harness (smoke run)', () => {
  it('runs every part and reports numbers of the right shape', { timeout: 240_000 }, async () => {
    const options = parseBenchArgs(['--smoke'], { DATABASE_URL: process.env.DATABASE_URL });
    const report = await runBench(options);
    const { parts } = report;

    if (process.env.DATABASE_URL) {
      const ceiling = ok(parts.ceiling, 'ceiling');
      for (const variant of [ceiling.txn, ceiling.oneTrip]) {
        assert.deepEqual(variant.map((l) => l.concurrency), options.concurrencies);
        for (const level of variant) {
          assert.ok(level.perSec > 0, 'the level committed transitions');
          assertLatency(level.latency, options.ceiling.txns);
          assertPostgresCpu(level.postgresCpuPct, level.postgresUsPerTxn);
        }
      }
    } else {
      assert.equal(parts.ceiling?.status, 'unavailable');
      assert.match((parts.ceiling as { reason: string }).reason, /DATABASE_URL/);
    }

    const rpc = ok(parts.rpc, 'rpc');
    assert.deepEqual(rpc.clients.map((c) => c.client), ['noop-wrk', 'connect-json-wrk', 'grpc-h2load', 'connect-json', 'connect-json-raw', 'grpc', 'grpc-web']);
    for (const c of rpc.clients) {
      // wrk and h2load run when installed (Debian: wrk, nghttp2-client); else the row says why not.
      if (c.skipped) {
        assert.ok(c.client === 'noop-wrk' || c.client === 'connect-json-wrk' || c.client === 'grpc-h2load', `${c.client} skipped: ${c.skipped}`);
        assert.match(c.skipped, /not found on PATH/);
        continue;
      }
      assert.ok(c.perSec > 0, `${c.client}: ${c.perSec}/s`);
      if (c.client === 'grpc-h2load') assert.ok(c.latency.count === options.rpc.calls && c.latency.max > 0, JSON.stringify(c.latency));
      // wrk runs for a time, not a count of calls.
      else assertLatency(c.latency, c.client === 'connect-json-wrk' || c.client === 'noop-wrk' ? c.calls : options.rpc.calls);
    }

    const engine = ok(parts.engine, 'engine');
    assert.equal(engine.workflows, options.engine.workflows);
    assert.equal(engine.watched, options.engine.workflows);
    assert.deepEqual(
      engine.levels.map((l) => `${l.protocol}@${l.concurrency}`),
      options.engine.protocols.flatMap((p) => options.concurrencies.map((c) => `${p}@${c}`)),
    );
    for (const level of engine.levels) {
      assert.ok(level.perSec > 0, 'the level committed transitions');
      assertLatency(level.reply, options.engine.transitions);
      assert.equal(level.watchMissed, 0, 'every watched transition reaches its watcher');
      assertLatency(level.watch, options.engine.transitions);
      assert.ok(level.serverCpuPct >= 0 && level.serverUsPerTransition >= 0, JSON.stringify(level));
      // A number read from the server's own histogram (0 when no collection fell in so short a level).
      assert.ok(Number.isFinite(level.serverGcUsPerTransition) && level.serverGcUsPerTransition >= 0, `GC us/t: ${level.serverGcUsPerTransition}`);
      assertPostgresCpu(level.postgresCpuPct, level.postgresUsPerTransition);
      assertSchedulerShares(level);
      // A count, not a claim that the server slept: a smoke level is 20 transitions (~50 ms), and a
      // server busy compiling at 4 in flight may find every request and answer already waiting
      // (0 seen in CI). That the reader counts real sleeps, bench-process-stats.test.ts checks.
      if (process.platform === 'linux') assert.ok(Number.isFinite(level.serverSleepsPerTransition) && level.serverSleepsPerTransition >= 0, `server sleeps/t: ${level.serverSleepsPerTransition}`);
      else assert.ok(Number.isNaN(level.serverSleepsPerTransition), 'no /proc, no sleeps');
      assertCommits(level);
      if (process.env.DATABASE_URL) {
        // Ceiling levels ran right before and right after this one, and the ratio is over their mean.
        const paired = level.ceiling;
        assert.ok(paired && paired.before > 0 && paired.after > 0 && paired.p50 > 0, `paired ceiling: ${JSON.stringify(paired)}`);
        assert.ok(Number.isFinite(paired.driftPct), `the ceiling's drift across the level: ${JSON.stringify(paired)}`);
        // The median of one run, rounded to two places.
        assert.ok(Math.abs(paired.ratio - level.perSec / paired.perSec) <= 0.0051, JSON.stringify(level));
      } else assert.equal(level.ceiling, undefined, 'no ceiling without Postgres');
    }
    assert.deepEqual(options.engine.openRates, [200], 'the smoke run has an open-loop level');
    assert.deepEqual(
      engine.openLevels.map((l) => `${l.protocol}@${l.offeredPerSec}/s`),
      options.engine.protocols.map((p) => `${p}@200/s`),
    );
    for (const level of engine.openLevels) {
      assert.ok(level.perSec > 0 && level.mostOutstanding >= 1, JSON.stringify(level));
      assertCommits(level);
      assertLatency(level.reply, options.engine.transitions);
      assert.equal(level.watchMissed, 0, 'every watched transition reaches its watcher');
      assertLatency(level.watch, options.engine.transitions);
    }

    if (parts.timers?.status === 'unavailable') {
      assert.match(parts.timers.reason, /bench-counter/);
    } else {
      const timers = ok(parts.timers, 'timers');
      assert.ok(options.timers.warmup > 0, 'the smoke run fires warm-up timers too');
      assert.equal(timers.timers, options.timers.count);
      assertLatency(timers.lag, options.timers.count, 'non-negative');
      assert.ok(timers.allFiredMs >= timers.lag.max - 1, 'the last firing is no earlier than the largest lag');
      // Heard on Redis after its commit, so never before the time the engine stamped on it.
      if (process.env.REDIS_URL) assert.ok(timers.allCommittedMs !== undefined && timers.allCommittedMs >= timers.allFiredMs - 1, `committed ${timers.allCommittedMs} vs stamped ${timers.allFiredMs}`);
      else assert.equal(timers.allCommittedMs, undefined);
      const cpu = timers.burstCpu;
      assert.ok(cpu.serverCpuPct >= 0 && cpu.serverUsPerTimer >= 0, `server CPU over the burst: ${JSON.stringify(cpu)}`);
      assertPostgresCpu(cpu.postgresCpuPct, cpu.postgresUsPerTimer);
      assertSchedulerShares(cpu);
    }

    const storage = ok(parts.storage, 'storage');
    assert.ok(parts.storage?.status === 'ok' && parts.storage.setup, 'the storage part ran and reports its setup');
    const setup = parts.storage.setup;
    assert.equal(setup.stored, options.storage.count);
    assert.ok(setup.complete, 'the storage setup completed');
    // ANALYZE runs on Postgres (the server's schema); a PGlite server's database is out of reach.
    assert.equal(setup.analyzed, Boolean(process.env.DATABASE_URL));
    assert.ok(setup.memory.idle.rssMb > 0 && setup.memory.active.rssMb > 0, 'RSS was measured idle and active');
    assert.equal(setup.memory.activeCount, options.storage.active);
    const watched = setup.watched;
    assert.ok(watched, 'idle watch streams were measured');
    assert.equal(watched.count, options.storage.watchers);
    assert.ok(watched.memory.rssMb > 0, 'RSS with the streams open');
    for (const cost of [watched.without, watched.with]) {
      assert.ok(cost.serverCpuPct >= 0 && cost.queriesPerSec !== undefined && cost.queriesPerSec >= 0, `idle cost: ${JSON.stringify(cost)}`);
    }
    assert.equal(storage.queries.length, 8);
    for (const q of storage.queries) assert.ok(q.latency.count > 0 && q.latency.p50 > 0, q.query);
    assert.equal(storage.queries.find((q) => q.query === 'newest')?.returned, 50);

    const { platform } = report.machine;
    assert.ok(platform.syscallUs > 0, JSON.stringify(platform));
    assert.ok(platform.loopback.roundTripUs > 0 && platform.loopback.clientCpuUs > 0 && platform.loopback.serverCpuUs > 0, JSON.stringify(platform));
    // A difference of two timings, so any sign on a noisy machine; the work alone takes time.
    const { coldWork } = platform.loopback;
    assert.ok(coldWork.backToBackUs > 0 && Number.isFinite(coldWork.afterTripUs) && Number.isFinite(coldWork.factor), JSON.stringify(coldWork));
    if (existsSync('/sys/devices/system/cpu/vulnerabilities/meltdown')) assert.ok(platform.pageTableIsolation && platform.pageTableIsolation.mitigation.length > 0, JSON.stringify(platform));

    const markdown = renderMarkdown(report);
    assert.match(markdown, /one-byte TCP round trip between two Node processes [\d.]+ us/);
    assert.match(markdown, /the same JavaScript work right after a round trip x-?[\d.]+ its time back to back/);
    for (const heading of ['### RPC overhead', '### Engine', '### Storage']) assert.ok(markdown.includes(heading), heading);
    assert.match(markdown, /Open loop: SendEvents arriving/);
    assert.match(markdown, /\d+ idle WatchWorkflow streams .* database queries\/s/);
    if (process.env.DATABASE_URL) assert.match(markdown, /ceiling levels run right before and right after it/, 'the targets name the paired ceilings');
    assert.doesNotMatch(markdown, /FAILED/);
    assert.deepEqual(JSON.parse(JSON.stringify(report)).options.parts, ['ceiling', 'rpc', 'engine', 'timers', 'storage']);
  });

  it("drives the engine part with connect-node's clients too (--engine-client connect)", { timeout: 120_000 }, async () => {
    const options = parseBenchArgs(['--smoke', '--only', 'engine', '--engine-client', 'connect', '--unpaired'], { DATABASE_URL: process.env.DATABASE_URL });
    assert.equal(options.engine.client, 'connect');
    const engine = ok((await runBench(options)).parts.engine, 'engine');
    for (const level of engine.levels) {
      assert.equal(level.ceiling, undefined, '--unpaired runs no ceiling level');
      assertLatency(level.reply, options.engine.transitions);
      assert.equal(level.watchMissed, 0);
      assertLatency(level.watch, options.engine.transitions);
    }
  });
});

function ok<T>(outcome: PartOutcome<T> | undefined, part: string): T {
  assert.ok(outcome, `${part} did not run`);
  assert.equal(outcome.status, 'ok', `${part}: ${JSON.stringify(outcome)}`);
  assert.equal(outcome.runs.length, 1);
  return outcome.median;
}

/** The machine's CPU and the server's wait for a core: read from /proc on Linux, else NaN. */
function assertSchedulerShares(share: { machineCpuPct: number; serverWaitPct: number }): void {
  if (process.platform !== 'linux') {
    assert.ok(Number.isNaN(share.machineCpuPct) && Number.isNaN(share.serverWaitPct), JSON.stringify(share));
    return;
  }
  // A share of the machine, but possibly 0: /proc/stat counts whole ticks, and a smoke burst of a few
  // tens of milliseconds may see none of them move (seen in CI). A wait is a share of the time.
  assert.ok(Number.isFinite(share.machineCpuPct) && share.machineCpuPct >= 0, JSON.stringify(share));
  assert.ok(share.serverWaitPct >= 0 && share.serverWaitPct <= 101, JSON.stringify(share));
}

/** Every SendEvent of a level committed through the server's group commit, timed by its histograms. */
function assertCommits(level: { transitions: number; commit?: { batches: number; meanBatch: number; meanMs: number } }): void {
  const commit = level.commit;
  assert.ok(commit, `the level reports its group commits: ${JSON.stringify(level)}`);
  assert.ok(commit.batches >= 1 && commit.batches <= level.transitions, `${commit.batches} batches for ${level.transitions} transitions`);
  assert.ok(commit.meanBatch >= 1, `a batch holds at least one transition: ${JSON.stringify(commit)}`);
  assert.ok(commit.meanMs > 0, `a commit takes time: ${JSON.stringify(commit)}`);
}

/** Measured (a number, possibly 0 in so short a run) for a Postgres on this machine, else NaN (PGlite, a remote server). */
function assertPostgresCpu(pct: number, usPerOp: number): void {
  if (isLocalPostgres(process.env.DATABASE_URL)) assert.ok(pct >= 0 && usPerOp >= 0, `Postgres CPU ${pct}%, ${usPerOp} us per operation`);
  else assert.ok(Number.isNaN(pct) && Number.isNaN(usPerOp), `Postgres CPU ${pct}% measured without a local Postgres`);
}

/** A timer's lag may be 0 ms (claimed ahead, fired at its due time); a call's latency never is. */
function assertLatency(l: LatencySummary, count: number, least: 'positive' | 'non-negative' = 'positive'): void {
  assert.equal(l.count, count);
  assert.ok((least === 'positive' ? l.p50 > 0 : l.p50 >= 0) && l.p50 <= l.p95 && l.p95 <= l.p99 && l.p99 <= l.max, JSON.stringify(l));
}
