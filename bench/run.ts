import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseBenchArgs, USAGE, UsageError } from './bench-options.js';
import { runBench } from './bench-runner.js';
import { renderMarkdown } from './markdown-report.js';
import { writeResultsFile } from './results-file.js';

/**
 * `make bench`: runs the benchmark parts, prints a markdown table, writes the whole report to
 * bench/out/<timestamp>.json, and with --write-results rewrites bench/RESULTS.md. Exits 1 when a
 * part failed, 2 on a usage error; a part this server cannot run yet is reported, not failed.
 */
async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  let options;
  try {
    options = parseBenchArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError) && !(error instanceof TypeError)) throw error;
    process.stderr.write(`${(error as Error).message}\n`);
    return 2;
  }
  if (!options.databaseUrl) process.stderr.write('bench: DATABASE_URL is not set: no ceiling, and the server uses an in-memory PGlite (numbers not comparable)\n');
  const report = await runBench(options, (line) => process.stderr.write(`bench: ${line}\n`));
  const markdown = renderMarkdown(report);
  mkdirSync(options.outDir, { recursive: true });
  const file = join(options.outDir, `${report.startedAt.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
  process.stdout.write(markdown + '\n');
  process.stderr.write(`bench: report written to ${file}\n`);
  const failed = Object.values(report.parts).some((p) => p?.status === 'failed');
  if (options.writeResults && failed) process.stderr.write('bench: a part failed: bench/RESULTS.md left as it was\n');
  if (options.writeResults && !failed) {
    const command = ['node --import tsx bench/run.ts', ...argv].join(' ');
    writeResultsFile(new URL('./RESULTS.md', import.meta.url).pathname, report, command);
    process.stderr.write('bench: bench/RESULTS.md updated\n');
  }
  return failed ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
