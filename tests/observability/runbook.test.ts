import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { createTestDatabaseOptions } from '../helpers/test-database.js';
import { observabilityDir, run } from './support/observability-files.js';

/**
 * The runbook's shell commands, one per line (continuations joined), from its ```bash blocks.
 * Left out: comments, variable assignments (the test sets ORCH), and commands for a cluster or a remote Prometheus (kubectl, $PROMETHEUS_URL)
 * that a test cannot reach.
 */
function runbookCommands(): string[] {
  const text = readFileSync(`${observabilityDir}/runbook.md`, 'utf8');
  const commands: string[] = [];
  for (const [, block] of text.matchAll(/^```bash\n(.*?)^```/gms)) {
    for (const line of block!.replace(/\\\n\s*/g, ' ').split('\n')) {
      const command = line.trim();
      if (!command || command.startsWith('#') || /^\w+=\S*$/.test(command) || /\bkubectl\b|\$PROMETHEUS_URL/.test(command)) continue;
      commands.push(command);
    }
  }
  return commands;
}

describe('the runbook\'s diagnosis commands work against the real service', () => {
  let server: ServerProcess;
  let store: ReturnType<typeof createTestDatabaseOptions>;
  const commands = runbookCommands();

  before(async () => {
    store = createTestDatabaseOptions();
    server = await startServerProcess({ ...store.env });
  });
  after(async () => {
    await server?.stop();
    await store?.cleanup();
  });

  it('finds the commands (curl, buf curl, psql, redis-cli)', () => {
    for (const tool of ['curl -s', 'npx buf curl', 'psql', 'redis-cli'])
      assert.ok(commands.some((c) => c.startsWith(tool)), `no ${tool} command in runbook.md`);
  });

  for (const command of commands) {
    const needs = /\bpsql\b|pg_isready|\$DATABASE_URL/.test(command) ? 'DATABASE_URL' : /redis-cli|\$REDIS_URL/.test(command) ? 'REDIS_URL' : undefined;
    it(command, { skip: needs && !process.env[needs] ? `needs ${needs}` : false }, async () => {
      const env = {
        ...process.env,
        ORCH: `127.0.0.1:${server.port}`,
        // The test's own schema, for the runbook's unqualified table names.
        PGOPTIONS: `-c search_path=${store.schema}`,
      };
      const out = await run('bash', ['-o', 'pipefail', '-c', command], env, 60_000);
      assert.equal(out.code, 0, `exit ${out.code}\n${out.stdout}\n${out.stderr}`);
      assert.notEqual(out.stdout.trim(), '', `no output\n${out.stderr}`);
      assert.doesNotMatch(out.stdout, /"code":\s*"(unimplemented|not_found|invalid_argument)"/);
    });
  }
});
