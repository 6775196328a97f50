import { PROTOCOL_LABELS } from './bench-clients.js';
import type { BenchReport, PartOutcome } from './bench-runner.js';
import { STREAMS_PER_CONNECTION, type IdleCost, type IdleWatchers } from './idle-watchers.js';
import type { CommitShare } from './server-meter.js';
import type { EngineResult } from './engine-bench.js';
import type { MachineInfo } from './machine-info.js';
import { round, type LatencySummary } from './stats.js';
import { checkTargets, engineRatios } from './targets.js';

/** The report as markdown: the machine, one table per part (medians of the runs), the targets. */
export function renderMarkdown(report: BenchReport): string {
  const out: string[] = [];
  const { parts, options } = report;
  out.push(`Machine: ${describe(report.machine)}`, '');
  out.push(`Medians of ${options.runs} run${options.runs === 1 ? '' : 's'} (storage: one fill, queries repeated per run); latencies in ms.`, '');

  section(out, 'Ceiling: pg alone, conditional UPDATE + history INSERT', parts.ceiling, (r) => [
    `${r.rows} rows, ${atLeast(options.ceiling.txns, 'transactions', options.minLevelSeconds)} per level; "txn" = BEGIN/UPDATE/INSERT/COMMIT (4 round trips), "1 trip" = the same writes as one statement; Postgres CPU: all its processes on this machine (- for a remote one), per txn in us.`,
    '',
    table(
      ['in flight', 'connections', 'txn/s', 'p50', 'p95', 'p99', 'max', 'Postgres CPU %', 'us/txn', '1 trip/s', '1 trip p50', '1 trip p99', '1 trip us/txn'],
      r.txn.map((t, i) => {
        const one = r.oneTrip[i];
        return [t.concurrency, t.connections, t.perSec, ...latency(t.latency), t.postgresCpuPct, t.postgresUsPerTxn, one?.perSec ?? '', one?.latency.p50 ?? '', one?.latency.p99 ?? '', one?.postgresUsPerTxn ?? ''].map(dashNaN);
      }),
    ),
  ]);

  section(out, 'RPC overhead: info.v1.InfoService/GetInfo and a no-op (grpc.health.v1.Health/Check)', parts.rpc, (r) => [
    table(
      ['client', 'in flight', 'calls/s', 'p50', 'p95', 'p99', 'max', 'server CPU %', 'client CPU %'],
      r.clients.map((c) =>
        c.skipped ? [c.client, c.concurrency, `skipped: ${c.skipped}`, '', '', '', '', '', ''] : [c.client, c.concurrency, c.perSec, ...latency(c.latency), c.serverCpuPct, c.clientCpuPct].map(dashNaN),
      ),
    ),
    '',
    'noop-wrk: wrk (C) calling grpc.health.v1.Health/Check over Connect JSON (the no-op the target means); the others call GetInfo, which answers 1.2 KB (tool states, build info). connect-json-wrk: wrk, one keep-alive connection per call in flight; grpc-h2load: h2load (C), all calls on one HTTP/2 connection (it reports no percentiles: -); connect-json / grpc / grpc-web: connect-node clients; connect-json-raw: node:http with keep-alive. A CPU near 100% marks the bottleneck (one core each).',
  ]);

  const ratios = engineRatios(report);
  const paired = ratios.length > 0 && ratios.every((x) => x.paired);
  const ratioNote = paired
    ? 'x ceiling: the level\'s transitions/s over the transactions/s ("ceiling txn/s") of two ceiling levels (BEGIN/UPDATE/INSERT/COMMIT, same concurrency, same database), their mean, one run right before it and one right after; the median of the runs\' ratios. ceiling drift: the second ceiling level\'s rate over the first\'s, how far the machine moved during the level. '
    : ratios.length ? 'x ceiling: over the ceiling table\'s txn/s at the same concurrency. ' : '';
  section(out, 'Engine: SendEvent transitions', parts.engine, (r) => [
    `${r.workflows} workflows of ${r.machine}, ${atLeast(options.engine.transitions, 'transitions', options.minLevelSeconds)} per protocol and level, ${r.watched} watched (one WatchWorkflow stream each, gRPC); workflows started at ${r.startsPerSec}/s. ${ratioNote}batch and commit ms: the server's group commits over the level (its own histograms), transitions per database round trip and one round trip's mean time, what the database takes of a reply's latency. CPU per transition in us: the server's and Postgres's (all its processes on this machine; - for a remote one); GC: the server's main thread paused for garbage collection, per transition (its own histogram). Machine CPU: every process on this machine, in % of one core (${report.machine.cpus * 100} = all ${report.machine.cpus} cores busy); server waits: its main thread ready to run but waiting for a core, in % of the time (what is left of 100 after its own CPU and this, it waited for I/O); server sleeps: how often its main thread blocked waiting for I/O (each a wake-up), per transition.`,
    '',
    table(
      ['protocol', 'in flight', 'transitions/s', 'x ceiling', 'ceiling txn/s', 'ceiling drift %', 'reply p50', 'p95', 'p99', 'max', 'watch p50', 'p95', 'p99', 'max', 'missed', 'batch', 'commit ms', 'server CPU %', 'Postgres CPU %', 'client CPU %', 'machine CPU %', 'server waits %', 'server sleeps/t', 'server us/t', 'GC us/t', 'Postgres us/t'],
      r.levels.map((l) => [
        PROTOCOL_LABELS[l.protocol],
        l.concurrency,
        l.perSec,
        ratios.find((x) => x.protocol === l.protocol && x.concurrency === l.concurrency)?.ratio ?? '',
        l.ceiling?.perSec ?? '',
        l.ceiling?.driftPct ?? '',
        ...latency(l.reply),
        ...latency(l.watch),
        l.watchMissed,
        ...commits(l),
        l.serverCpuPct,
        l.postgresCpuPct,
        l.clientCpuPct,
        l.machineCpuPct,
        l.serverWaitPct,
        l.serverSleepsPerTransition,
        l.serverUsPerTransition,
        l.serverGcUsPerTransition,
        l.postgresUsPerTransition,
      ].map(dashNaN)),
    ),
    ...openLoop(r),
  ]);

  section(out, 'Timers: due at the same moment', parts.timers, (r) =>
    [
      table(
        ['timers', 'machine', 'due spread', 'all committed after', 'all stamped after', 'lag p50', 'p95', 'p99', 'max', 'starts/s', 'server CPU %', 'Postgres CPU %', 'machine CPU %', 'server waits %', 'server us/timer', 'Postgres us/timer'],
        [
          [
            r.timers === r.requested ? r.timers : `${r.timers} of ${r.requested} (start rate cap)`,
            r.machine,
            r.dueSpreadMs,
            r.allCommittedMs ?? '-',
            r.allFiredMs,
            r.lag.p50,
            r.lag.p95,
            r.lag.p99,
            r.lag.max,
            r.startsPerSec,
            ...[r.burstCpu.serverCpuPct, r.burstCpu.postgresCpuPct, r.burstCpu.machineCpuPct, r.burstCpu.serverWaitPct, r.burstCpu.serverUsPerTimer, r.burstCpu.postgresUsPerTimer].map(dashNaN),
          ],
        ],
      ),
      '',
      '"all committed after": from the earliest due time until the last firing, committed, reached a Redis subscriber in the harness (- without Redis); "all stamped after": until the time stamped on the last firing\'s transition, which the engine takes when it computes the transition, before its commit; lag: stamped time minus own due time. CPU: over the burst (from the due moment until the last firing was heard), of the server (all its threads) and of every Postgres process on this machine (- for a remote one), in % of one core and per timer; on two cores the burst cannot end before (server + Postgres us/timer) x timers / 2. Machine CPU and server waits as in the engine table.',
    ]);

  const storage = parts.storage;
  section(out, 'Storage: ListWorkflows over many stored workflows', storage, (r) => {
    const s = storage?.status === 'ok' ? storage.setup : undefined;
    const lines: string[] = [];
    if (s) {
      lines.push(
        `${s.stored} of ${s.requested} workflows of ${s.machine} stored${s.complete ? '' : ' (insert budget ran out)'} in ${s.insertSeconds} s (${s.insertPerSec}/s); ${s.cancelled} cancelled${s.analyzed ? '; then ANALYZE (planner statistics, as after a bulk load)' : ''}.`,
        `Server RSS: ${s.memory.idle.rssMb} MiB idle, ${s.memory.stored.rssMb} MiB after storing, ${s.memory.active.rssMb} MiB with ${s.memory.activeCount} active (peak ${s.memory.active.peakRssMb} MiB).`,
        ...(s.watched ? [idleWatchersLine(s.watched, s.memory.active.rssMb)] : []),
        '',
      );
    }
    lines.push(table(['query', 'page size', 'returned', 'p50', 'p95', 'p99', 'max'], r.queries.map((q) => [q.query, q.pageSize, q.returned, ...latency(q.latency)])));
    return lines;
  });

  const targets = checkTargets(report);
  if (targets.length) {
    out.push('### Targets (issue 7)', '', table(['target', 'measured', 'met'], targets.map((t) => [t.target, t.measured, t.met === undefined ? 'n/a' : t.met ? 'yes' : 'no'])), '');
  }
  return out.join('\n');
}

function idleWatchersLine(w: IdleWatchers, activeRssMb: number): string {
  const cost = (c: IdleCost) => `server CPU ${c.serverCpuPct}%, Postgres CPU ${Number.isNaN(c.postgresCpuPct) ? '-' : `${c.postgresCpuPct}%`}, ${c.queriesPerSec ?? '-'} database queries/s`;
  const perStream = round(((w.memory.rssMb - activeRssMb) * 1024) / w.count, 1);
  return `${w.count} idle WatchWorkflow streams (gRPC, ${Math.ceil(w.count / STREAMS_PER_CONNECTION)} connections) on active workflows: RSS ${w.memory.rssMb} MiB (${perStream} KiB a stream over the RSS with them active); over ${w.with.seconds} s with nothing sent, ${cost(w.with)}, against ${cost(w.without)} before they opened.`;
}

function section<T>(out: string[], title: string, outcome: PartOutcome<T> | undefined, body: (median: T) => string[]): void {
  if (!outcome) return;
  out.push(`### ${title}`, '');
  if (outcome.status === 'ok') out.push(...body(outcome.median));
  else if (outcome.status === 'unavailable') out.push(`Not run: ${outcome.reason}`);
  else out.push(`FAILED: ${outcome.error}`);
  out.push('');
}

function dashNaN(value: string | number): string | number {
  return typeof value === 'number' && Number.isNaN(value) ? '-' : value;
}

function latency(l: LatencySummary): number[] {
  return [l.p50, l.p95, l.p99, l.max];
}

/** A level's mean group commit (transitions, ms); '-' for a server that does not export it. */
function commits(l: { commit?: CommitShare }): (number | string)[] {
  return l.commit ? [l.commit.meanBatch, l.commit.meanMs] : ['-', '-'];
}

export function table(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.map((c) => String(c).replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

export /** The engine's open-loop levels, when there are any: a table and what it means. */
function openLoop(r: EngineResult): string[] {
  if (!r.openLevels?.length) return [];
  return [
    '',
    'Open loop: SendEvents arriving on their own schedule (Poisson, at the offered rate) on workflows with none outstanding, however many are unanswered; latencies from the call as above; start lag: how late the harness made the calls after their scheduled arrivals (its timers have ~1 ms grain).',
    '',
    table(
      ['protocol', 'offered/s', 'transitions/s', 'most outstanding', 'reply p50', 'p95', 'p99', 'max', 'watch p50', 'p95', 'p99', 'max', 'missed', 'start lag p50', 'p99', 'batch', 'commit ms', 'server CPU %', 'Postgres CPU %', 'client CPU %', 'machine CPU %', 'server waits %', 'server sleeps/t', 'server us/t', 'GC us/t', 'Postgres us/t'],
      r.openLevels.map((l) =>
        [PROTOCOL_LABELS[l.protocol], l.offeredPerSec, l.perSec, l.mostOutstanding, ...latency(l.reply), ...latency(l.watch), l.watchMissed, l.startLag.p50, l.startLag.p99, ...commits(l), l.serverCpuPct, l.postgresCpuPct, l.clientCpuPct, l.machineCpuPct, l.serverWaitPct, l.serverSleepsPerTransition, l.serverUsPerTransition, l.serverGcUsPerTransition, l.postgresUsPerTransition].map(dashNaN),
      ),
    ),
  ];
}

function describe(m: MachineInfo): string {
  const pg = m.postgres ? `PostgreSQL ${m.postgres.version} (synchronous_commit=${m.postgres.synchronousCommit}, fsync=${m.postgres.fsync}, max_connections=${m.postgres.maxConnections})` : 'PGlite (embedded)';
  const redis = m.redis ? `Redis ${m.redis.version}` : 'in-process bus';
  const { loopback } = m.platform;
  const hops = `a one-byte TCP round trip between two Node processes ${loopback.roundTripUs} us (CPU per trip ${loopback.clientCpuUs} us sending, ${loopback.serverCpuUs} us echoing), a trivial system call ${m.platform.syscallUs} us`;
  const cold = loopback.coldWork;
  const wake = `; the same JavaScript work right after a round trip x${cold.factor} its time back to back (${cold.afterTripUs} against ${cold.backToBackUs} us)`;
  const isolation = m.platform.pageTableIsolation;
  const tlb = isolation ? `; Meltdown: ${isolation.mitigation}, ${isolation.pcid ? 'with' : 'no'} PCID${isolation.mitigation.includes('PTI') && !isolation.pcid ? ' (every system call empties the TLB)' : ''}` : '';
  return `${m.cpus} vCPU (${m.cpuModel}), ${m.memoryGiB} GiB RAM, ${m.os}, Node ${m.node}, ${pg}, ${redis}; load average ${m.loadAverage} at start; ${hops}${wake}${tlb}.`;
}

/** "1000 transitions", or with a least duration "at least 1000 transitions and 5 s". */
function atLeast(count: number, what: string, seconds: number): string {
  return seconds > 0 ? `at least ${count} ${what} and ${seconds} s` : `${count} ${what}`;
}
