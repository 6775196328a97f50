import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import { noPrometheus, observabilityDir, run } from './support/observability-files.js';

describe('alert and recording rules (promtool)', { skip: noPrometheus }, () => {
  it('pass promtool check rules', async () => {
    const out = await run('promtool', ['check', 'rules', `${observabilityDir}/alerts.yaml`], process.env);
    assert.equal(out.code, 0, out.stdout + out.stderr);
    assert.match(out.stdout, /SUCCESS: \d+ rules found/);
  });

  it('pass their unit tests: each alert fires when it should and stays quiet for client errors and blips', async () => {
    const files = readdirSync(`${observabilityDir}/tests`).filter((f) => f.endsWith('.yaml'));
    assert.ok(files.length > 0, 'no rule unit tests');
    const out = await run('promtool', ['test', 'rules', ...files.map((f) => `${observabilityDir}/tests/${f}`)], process.env, 120_000);
    assert.equal(out.code, 0, out.stdout + out.stderr);
    assert.doesNotMatch(out.stdout, /FAILED/);
  });
});
