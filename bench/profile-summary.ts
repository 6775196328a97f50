import { readFileSync } from 'node:fs';
import { table } from './markdown-report.js';

/** The parts of a V8 .cpuprofile this reads. */
interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
}

/** Self time of one function, and the same summed per source (package or file). */
export interface ProfileSummary {
  totalMs: number;
  functions: { name: string; where: string; selfMs: number; pct: number }[];
  sources: { source: string; selfMs: number; pct: number }[];
}

/**
 * Sums sample time per function (self time: where the CPU was, not who called it) and per
 * source: a node_modules package, a file of this repository, or a V8/Node category such as
 * "(garbage collector)". `top` entries of each list, largest first.
 */
export function summarizeProfile(profile: CpuProfile, top = 25): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    self.set(id, (self.get(id) ?? 0) + ms);
    total += ms;
  });
  const functions = new Map<string, { name: string; where: string; selfMs: number }>();
  const sources = new Map<string, number>();
  for (const [id, ms] of self) {
    const frame = byId.get(id)!.callFrame;
    const where = frame.url ? `${shortSource(frame.url)}:${frame.lineNumber + 1}` : '';
    const key = `${frame.functionName}@${where}`;
    const entry = functions.get(key) ?? { name: frame.functionName || '(anonymous)', where, selfMs: 0 };
    entry.selfMs += ms;
    functions.set(key, entry);
    const source = frame.url ? shortSource(frame.url) : frame.functionName;
    sources.set(source, (sources.get(source) ?? 0) + ms);
  }
  const pct = (ms: number) => Math.round((ms / total) * 1000) / 10;
  return {
    totalMs: Math.round(total),
    functions: [...functions.values()].sort((a, b) => b.selfMs - a.selfMs).slice(0, top).map((f) => ({ ...f, selfMs: Math.round(f.selfMs), pct: pct(f.selfMs) })),
    sources: [...sources].sort((a, b) => b[1] - a[1]).slice(0, top).map(([source, ms]) => ({ source, selfMs: Math.round(ms), pct: pct(ms) })),
  };
}

/** node_modules/<pkg>/... -> <pkg>; a repository file -> its path from the repository root. */
function shortSource(url: string): string {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  const path = url.replace(/^file:\/\//, '');
  const repo = /\/(src|machines|gen|bench|tests)\/.*$/.exec(path);
  return repo ? repo[0].slice(1) : path;
}

// `node --import tsx bench/profile-summary.ts <file.cpuprofile> [top]`: prints both tables.
if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\/bench\//, '/bench/'))) {
  const [file, top] = process.argv.slice(2);
  if (!file) {
    process.stderr.write('usage: node --import tsx bench/profile-summary.ts <file.cpuprofile> [top]\n');
    process.exit(2);
  }
  const summary = summarizeProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, Number(top ?? 25));
  process.stdout.write(`${summary.totalMs} ms sampled\n\n`);
  process.stdout.write(table(['source', 'self ms', '%'], summary.sources.map((s) => [s.source, s.selfMs, s.pct])) + '\n\n');
  process.stdout.write(table(['function', 'where', 'self ms', '%'], summary.functions.map((f) => [f.name, f.where, f.selfMs, f.pct])) + '\n');
}
