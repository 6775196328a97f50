import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The repository root and the files under test. */
export const root = fileURLToPath(new URL('../../..', import.meta.url));
export const observabilityDir = `${root}observability`;
export const syncScript = `${root}platform/scripts/sync-observability.sh`;

/**
 * Why tests that need Prometheus' tools are skipped, or false. CI installs them (Debian's
 * `prometheus` package has promtool; the sync script reads YAML with python3-yaml).
 */
export const noPrometheus: string | false =
  ['command -v promtool', 'command -v prometheus', 'python3 -c "import yaml" || /usr/bin/python3 -c "import yaml"'].every((check) => spawnSync('sh', ['-c', check]).status === 0)
    ? false
    : 'promtool, prometheus or python3-yaml not installed (apt-get install prometheus python3-yaml; .ci/run installs them)';

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command (no shell) and collects its output; `env` replaces the environment entirely. */
export function run(command: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The environment of this process without the sync script's variables, plus `extra`. */
export function scriptEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ['GRAFANA_URL', 'GRAFANA_API_KEY', 'PROMETHEUS_URL', 'PROMETHEUS_RULES_DIR', 'ALERTMANAGER_URL', 'ENVIRONMENT', 'GRAFANA_FOLDER_UID', 'OBSERVABILITY_DIR']) delete env[name];
  return { ...env, ...extra };
}

export interface Query {
  /** Where it is written, e.g. "dashboards/orchestrator.json panel 'CPU' A". */
  source: string;
  /** As written (Grafana variables included). */
  expr: string;
  /** With Grafana's variables replaced: valid PromQL. */
  promql: string;
}

/** Every PromQL query of the dashboards, alerts.yaml, SLO.md and runbook.md, as the sync script lists them. */
export async function listQueries(dir = observabilityDir): Promise<Query[]> {
  const out = await run(syncScript, ['list-queries'], scriptEnv({ OBSERVABILITY_DIR: dir }));
  if (out.code !== 0) throw new Error(`list-queries failed: ${out.stderr}`);
  return out.stdout.trim().split('\n').map((line) => JSON.parse(line) as Query);
}

/** Names of recording rules defined in alerts.yaml (they contain a colon). */
export function recordedNames(queries: readonly Query[]): Set<string> {
  return new Set(queries.filter((q) => q.source.startsWith('alerts.yaml ') && q.source.includes(':')).map((q) => q.source.slice('alerts.yaml '.length)));
}

const NOT_METRICS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'inf', 'nan', 'Inf', 'NaN']);

/**
 * The metric names a PromQL expression reads: strings, label matchers, ranges and grouping
 * clauses removed; an identifier followed by `(` is a function, one glued to a digit is part of a
 * number or duration (`1e9`, `5m`).
 */
export function metricNames(promql: string): string[] {
  const s = promql
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const m of s.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const before = s[m.index! - 1] ?? ' ';
    if (/[0-9.]/.test(before)) continue;
    if (s.slice(m.index! + m[0].length).trimStart().startsWith('(')) continue;
    if (NOT_METRICS.has(m[0])) continue;
    names.add(m[0]);
  }
  return [...names];
}

/** A histogram's series name (`x_bucket`, `x_sum`, `x_count`) to its family name when `families` has it. */
export function familyOf(name: string, families: ReadonlySet<string>): string {
  const base = name.replace(/_(bucket|sum|count)$/, '');
  return base !== name && families.has(base) ? base : name;
}

/** Metric families (`# TYPE` lines) and the series names that have samples, in a /metrics text. */
export function parseExposition(text: string): { families: Map<string, string>; withSamples: Set<string> } {
  const families = new Map<string, string>();
  const withSamples = new Set<string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type) families.set(type[1]!, type[2]!);
    else if (line && !line.startsWith('#')) withSamples.add(line.split(/[{ ]/)[0]!);
  }
  return { families, withSamples };
}
