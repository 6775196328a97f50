import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { comparePairs, metricsOf, renderComparison, type Metric } from './ab-compare.js';
import type { BenchReport } from './bench-runner.js';

const USAGE = `usage:
  node --import tsx bench/ab.ts save NAME
      copies dist/ (make build first) to bench/out/ab/NAME, where it still finds node_modules
  node --import tsx bench/ab.ts compare A B [--pairs N] -- <bench/run.ts options>
      runs bench/run.ts once per build and pair, in the order A B, B A, A B... (so a machine that
      drifts through the session favours neither), and prints every metric pair by pair with
      how many pairs B did better in. Do not pass --runs, --dist, --compiled or --out-dir.
  e.g. node --import tsx bench/ab.ts compare before after --pairs 4 -- --only timers --timers 10000`;

const repo = fileURLToPath(new URL('..', import.meta.url));
const saved = (name: string) => join(repo, 'bench/out/ab', name);
const OWN_OPTIONS = ['--runs', '--dist', '--compiled', '--out-dir', '--write-results'];

/**
 * Paired comparisons of two server builds (bench/README.md, "Measuring on these machines": one
 * run of each decides nothing on these guests; runs interleaved in pairs do). Every run starts a
 * fresh server from its build's copy of dist/; Postgres, Redis and the harness are shared.
 */
function main(argv: string[]): number {
  const [command, ...rest] = argv;
  if (command === 'save' && rest.length === 1) return save(rest[0]!);
  if (command === 'compare') return compare(rest);
  process.stderr.write(`${USAGE}\n`);
  return command === '--help' || command === '-h' ? 0 : 2;
}

function save(name: string): number {
  const dist = join(repo, 'dist');
  if (!existsSync(join(dist, 'src/main.js'))) return fail(`${dist}/src/main.js is missing: run 'make build' first`);
  rmSync(saved(name), { recursive: true, force: true });
  cpSync(dist, saved(name), { recursive: true });
  process.stderr.write(`ab: dist/ saved as ${saved(name)}\n`);
  return 0;
}

function compare(args: string[]): number {
  const split = args.indexOf('--');
  const own = split === -1 ? args : args.slice(0, split);
  const passed = split === -1 ? [] : args.slice(split + 1);
  const pairsAt = own.indexOf('--pairs');
  const pairs = pairsAt === -1 ? 3 : Number(own[pairsAt + 1]);
  const names = pairsAt === -1 ? own : own.filter((_, i) => i !== pairsAt && i !== pairsAt + 1);
  if (names.length !== 2 || names[0] === names[1] || !Number.isInteger(pairs) || pairs < 1) return fail(USAGE);
  const clash = passed.find((option) => OWN_OPTIONS.includes(option.split('=')[0]!));
  if (clash) return fail(`ab: ${clash} is set by ab.ts itself`);
  const [a, b] = names as [string, string];
  for (const name of [a, b]) if (!existsSync(join(saved(name), 'src/main.js'))) return fail(`ab: no build named ${name}: save it first (bench/ab.ts save ${name})`);

  const runs: Record<string, Metric[][]> = { [a]: [], [b]: [] };
  for (let pair = 0; pair < pairs; pair++) {
    for (const name of pair % 2 === 0 ? [a, b] : [b, a]) {
      process.stderr.write(`ab: pair ${pair + 1} of ${pairs}: ${name}\n`);
      const report = runOnce(name, passed);
      if (!report) return fail(`ab: the run of ${name} failed`);
      runs[name]!.push(metricsOf(report));
    }
  }
  process.stdout.write(`${renderComparison(comparePairs(runs[a]!, runs[b]!), { a, b })}\n`);
  return 0;
}

/** One bench/run.ts run of a saved build; its report, or undefined when it failed. */
function runOnce(name: string, options: string[]): BenchReport | undefined {
  const outDir = join(repo, 'bench/out/ab/runs', `${Date.now()}-${name}`);
  mkdirSync(outDir, { recursive: true });
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...options, '--runs', '1', '--dist', saved(name), '--out-dir', outDir], {
    cwd: repo,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const file = readdirSync(outDir).find((f) => f.endsWith('.json'));
  if (run.status !== 0 || !file) return undefined;
  return JSON.parse(readFileSync(resolve(outDir, file), 'utf8')) as BenchReport;
}

function fail(message: string): number {
  process.stderr.write(`${message}\n`);
  return 2;
}

process.exitCode = main(process.argv.slice(2));
