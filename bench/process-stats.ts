import { readFileSync } from 'node:fs';
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
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssMb: round(kb('VmRSS') / 1024, 1), peakRssMb: round(kb('VmHWM') / 1024, 1) };
}

/** CPU seconds (user + system) used so far by `pid`, from /proc/<pid>/stat. */
export function readCpuSeconds(pid: number): number {
  const fields = statFields(String(pid));
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND; // utime, stime (fields 14, 15)
}

/**
 * CPU seconds (user + system) of this process's children that have exited and been waited for
 * (cutime, cstime): what an external load generator used, read before and after it runs.
 */
export function readChildrenCpuSeconds(): number {
  const fields = statFields('self');
  return (Number(fields[13]) + Number(fields[14])) / TICKS_PER_SECOND; // fields 16, 17
}

/** The fields of /proc/<pid>/stat after the command name (field 3 on, so index 0 is field 3). */
function statFields(pid: string): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces; the fields after its closing paren are plain.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** CPU used by the server and by this (client) process over an interval, in % of one core. */
export interface CpuShare {
  serverCpuPct: number;
  clientCpuPct: number;
}

/**
 * Starts measuring; the returned function ends the interval. Tells whether the server or the
 * load generator was the bottleneck: ~100% means that process saturated its one core.
 * A server pid that cannot be read (not Linux) yields NaN for the server.
 */
export function startCpuMeter(serverPid: number): () => CpuShare {
  const server = () => {
    try {
      return readCpuSeconds(serverPid);
    } catch {
      return NaN;
    }
  };
  const wall = performance.now();
  const client = process.cpuUsage();
  const serverStart = server();
  return () => {
    const seconds = (performance.now() - wall) / 1000;
    const used = process.cpuUsage(client);
    return {
      serverCpuPct: round(((server() - serverStart) / seconds) * 100, 0),
      clientCpuPct: round(((used.user + used.system) / 1e6 / seconds) * 100, 0),
    };
  };
}
