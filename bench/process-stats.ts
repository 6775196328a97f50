import { readdirSync, readFileSync } from 'node:fs';
import { round } from './stats.js';

/** Linux clock ticks per second (`getconf CLK_TCK`), 100 on every mainstream kernel build. */
const TICKS_PER_SECOND = 100;

/** Memory of a process, from /proc/<pid>/status (Linux). */
export interface MemoryUsage {
  /** Resident set size now (VmRSS), MiB. */
  rssMb: number;
  /** Peak resident set size (VmHWM), MiB. */
  peakRssMb: number;
}

/** Reads VmRSS and VmHWM of `pid`. Throws when /proc is unavailable (not Linux) or pid is gone. */
export function readMemory(pid: number): MemoryUsage {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => statusNumber(status, field);
  return { rssMb: round(kb('VmRSS') / 1024, 1), peakRssMb: round(kb('VmHWM') / 1024, 1) };
}

/** CPU seconds (user + system) used so far by `pid`, from /proc/<pid>/stat. */
export function readCpuSeconds(pid: number): number {
  return cpuSecondsOf(statFields(readFileSync(`/proc/${pid}/stat`, 'utf8')));
}

/**
 * CPU seconds (user + system) of this process's children that have exited and been waited for
 * (cutime, cstime): what an external load generator used, read before and after it runs.
 */
export function readChildrenCpuSeconds(): number {
  const fields = statFields(readFileSync('/proc/self/stat', 'utf8'));
  return (Number(fields[13]) + Number(fields[14])) / TICKS_PER_SECOND; // fields 16, 17
}

/**
 * CPU seconds (user + system) used so far by each process named `postgres` on this machine: the
 * postmaster, its backends and its background workers (WAL writer, checkpointer, autovacuum),
 * keyed by pid and start time (a pid reused by a new process is another key).
 */
export type PostgresCpu = Map<string, number>;

/** Reads every local Postgres process's CPU; undefined when there is none to read (not Linux, or no local server). */
export function readPostgresCpu(): PostgresCpu | undefined {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return undefined;
  }
  const cpu: PostgresCpu = new Map();
  for (const pid of pids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // exited since the listing
    }
    // Backends retitle their command line, not their command name (field 2).
    if (stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) !== 'postgres') continue;
    const fields = statFields(stat);
    cpu.set(`${pid}@${fields[19]}`, cpuSecondsOf(fields)); // field 22: start time
  }
  return cpu.size > 0 ? cpu : undefined;
}

/**
 * CPU seconds Postgres used between two readings: each process's growth, and the whole of a
 * process started since. A process that exited in between (another client's connection closing)
 * took its counters with it: its share is missed, so the result may undercount but is never
 * negative, as a difference of two sums would be. NaN when either reading is missing.
 */
export function postgresCpuSecondsBetween(start: PostgresCpu | undefined, end: PostgresCpu | undefined): number {
  if (!start || !end) return NaN;
  let seconds = 0;
  for (const [key, now] of end) seconds += Math.max(0, now - (start.get(key) ?? 0));
  return seconds;
}

/**
 * Seconds the thread `pid` (a process's main thread) spent ready to run but waiting for a core,
 * from /proc/<pid>/schedstat (its second field, in ns). NaN when it cannot be read.
 */
export function readRunQueueWaitSeconds(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1e9;
  } catch {
    return NaN;
  }
}

/**
 * How often the thread `pid` (a process's main thread) has slept so far: blocked for the event
 * loop, waiting for I/O or a timer, each sleep ending in a wake-up (voluntary_ctxt_switches of
 * /proc/<pid>/status; the scheduler taking its core is counted apart and not here). NaN when it
 * cannot be read.
 */
export function readSleeps(pid: number): number {
  try {
    return statusNumber(readFileSync(`/proc/${pid}/status`, 'utf8'), 'voluntary_ctxt_switches');
  } catch {
    return NaN;
  }
}

/**
 * CPU seconds every process on this machine has used (all cores: user, nice, system, irq,
 * softirq, steal), from the first line of /proc/stat. NaN when it cannot be read.
 */
export function readMachineBusySeconds(): number {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
    // user nice system idle iowait irq softirq steal: all but idle and iowait.
    return (fields.reduce((sum, ticks) => sum + ticks, 0) - fields[3]! - fields[4]!) / TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}

/** Whether a Postgres URL names a server on this machine (loopback or a Unix socket), whose processes can be read. */
export function isLocalPostgres(url: string | undefined): boolean {
  if (!url) return false;
  let host: string;
  try {
    const parsed = new URL(url);
    host = parsed.searchParams.get('host') ?? parsed.hostname;
  } catch {
    return false;
  }
  return host === '' || host === 'localhost' || host.startsWith('127.') || host === '[::1]' || host === '::1' || host.startsWith('/');
}

/** The fields of a /proc/<pid>/stat text after the command name (field 3 on, so index 0 is field 3). */
function statFields(stat: string): string[] {
  // The command name (field 2) may hold spaces; the fields after its closing paren are plain.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** The number a /proc/<pid>/status line starts with (`VmRSS:  1234 kB` gives 1234); NaN without the line. */
function statusNumber(status: string, field: string): number {
  return Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
}

/** utime + stime (fields 14, 15) in seconds. */
function cpuSecondsOf(fields: string[]): number {
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** CPU used over an interval, in % of one core. */
export interface CpuShare {
  serverCpuPct: number;
  /** Every local Postgres process (see postgresCpuSecondsBetween); NaN when not measured. */
  postgresCpuPct: number;
  clientCpuPct: number;
  /**
   * The server's main thread ready to run but waiting for a core, in % of the interval: with its
   * share of serverCpuPct, it tells a server that waited for a core (the machine was full) from
   * one that waited for I/O. NaN when not measured.
   */
  serverWaitPct: number;
  /** Every process on this machine, in % of one core (200 = both cores of a 2-core machine busy). */
  machineCpuPct: number;
  /**
   * Times the server's main thread slept over the interval (see readSleeps): a count, not a
   * share. Each ends in a wake-up: at 1 in flight about two a transition (its request, then its
   * commit's answer), shared by a batch's transitions at more. NaN when not measured.
   */
  serverSleeps: number;
}

/**
 * Starts measuring; the returned function ends the interval. Tells whether the server, Postgres
 * or the load generator was the bottleneck: ~100% means that process saturated its one core
 * (Postgres spreads over its backends, so it can exceed 100%). Whether the machine was full says
 * `machineCpuPct` (near cores x 100) and, for the server's main thread, `serverWaitPct`. A server
 * pid that cannot be read (not Linux) yields NaN for the server; Postgres is measured only with
 * `postgres` (a local server).
 */
export function startCpuMeter(serverPid: number | undefined, postgres: boolean): () => CpuShare {
  const server = () => {
    try {
      return serverPid === undefined ? NaN : readCpuSeconds(serverPid);
    } catch {
      return NaN;
    }
  };
  const database = () => (postgres ? readPostgresCpu() : undefined);
  const waiting = () => (serverPid === undefined ? NaN : readRunQueueWaitSeconds(serverPid));
  const sleeps = () => (serverPid === undefined ? NaN : readSleeps(serverPid));
  const wall = performance.now();
  const client = process.cpuUsage();
  const serverStart = server();
  const databaseStart = database();
  const waitingStart = waiting();
  const sleepsStart = sleeps();
  const machineStart = readMachineBusySeconds();
  return () => {
    const seconds = (performance.now() - wall) / 1000;
    const used = process.cpuUsage(client);
    const share = (cpuSeconds: number) => round((cpuSeconds / seconds) * 100, 0);
    return {
      serverCpuPct: share(server() - serverStart),
      postgresCpuPct: share(postgresCpuSecondsBetween(databaseStart, database())),
      clientCpuPct: share((used.user + used.system) / 1e6),
      serverWaitPct: share(waiting() - waitingStart),
      machineCpuPct: share(readMachineBusySeconds() - machineStart),
      serverSleeps: sleeps() - sleepsStart,
    };
  };
}

/** CPU microseconds per operation from a share of one core (%) at a rate (per second); NaN stays NaN. */
export function cpuUsPerOp(cpuPct: number, perSec: number): number {
  return round(((cpuPct / 100) * 1e6) / perSec, 0);
}
