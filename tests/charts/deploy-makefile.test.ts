import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { deployDir } from './support/chart-files.js';

/**
 * `cd deploy && make deploy ENV=...` (the seed's commands) with stand-ins for helm and kubectl
 * that record their arguments: no cluster here. PATH holds only the stand-ins a case gives.
 */
describe('deploy/Makefile', { skip: existsSync('/usr/bin/make') ? false : 'make is not installed' }, () => {
  const dirs: string[] = [];
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  function deploy(args: string[], tools: { helm?: boolean; kubectl?: boolean; secretMissing?: boolean } = { helm: true, kubectl: true }) {
    const bin = mkdtempSync(join(tmpdir(), 'deploy-bin-'));
    dirs.push(bin);
    const log = join(bin, 'calls.log');
    for (const tool of ['helm', 'kubectl'] as const) {
      if (!tools[tool]) continue;
      const script = join(bin, tool);
      // kubectl answers `config current-context` and `get`; `get secret` fails when the Secret is "missing".
      writeFileSync(
        script,
        `#!/bin/bash\necho "${tool} $*" >> ${log}\n` +
          (tool === 'kubectl' ? `[[ "$*" == "config current-context" ]] && echo test-context\n[[ "$*" == *"get secret"* && -n "$SECRET_MISSING" ]] && exit 1\n` : '') +
          'exit 0\n',
      );
      chmodSync(script, 0o755);
    }
    const run = spawnSync('/usr/bin/make', ['--no-print-directory', 'deploy', ...args], {
      cwd: deployDir,
      env: { PATH: bin, ...(tools.secretMissing ? { SECRET_MISSING: '1' } : {}) },
      encoding: 'utf8',
    });
    const calls = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : [];
    return { status: run.status, output: run.stdout + run.stderr, calls, helm: calls.find((c) => c.startsWith('helm ')) };
  }

  it('ENV=dev: helm upgrade --install of the chart with values-dev.yaml and the Secret, waiting, rolled back on failure', () => {
    const run = deploy(['ENV=dev']);
    assert.equal(run.status, 0, run.output);
    assert.equal(
      run.helm,
      'helm upgrade --install orchestrator ../charts/orchestrator --namespace orchestrator-dev -f values-dev.yaml --set-string secrets.existingSecret=orchestrator-secrets --atomic --wait --timeout 10m',
    );
    assert.ok(existsSync(join(deployDir, '../charts/orchestrator/Chart.yaml')) && existsSync(join(deployDir, 'values-dev.yaml')), 'the chart and the dev values are where the Makefile expects them');
    assert.match(run.output, /context test-context/);
  });

  it('ENV=prod IMAGE_TAG=v1.0.0: values-prod.yaml and the image tag', () => {
    const run = deploy(['ENV=prod', 'IMAGE_TAG=v1.0.0']);
    assert.equal(run.status, 0, run.output);
    assert.match(run.helm!, / --namespace orchestrator-prod -f values-prod\.yaml .*--set-string image\.tag=v1\.0\.0 /);
  });

  it('refuses prod without IMAGE_TAG, and an ENV without a values file, before calling anything', () => {
    const prod = deploy(['ENV=prod']);
    assert.notEqual(prod.status, 0);
    assert.match(prod.output, /ENV=prod needs IMAGE_TAG/);
    const staging = deploy(['ENV=staging']);
    assert.notEqual(staging.status, 0);
    assert.match(staging.output, /no values-staging\.yaml; ENV is one of: dev prod/);
    assert.deepEqual([...prod.calls, ...staging.calls], []);
  });

  it('says which tool is missing', () => {
    const noHelm = deploy(['ENV=dev'], { kubectl: true });
    assert.notEqual(noHelm.status, 0);
    assert.match(noHelm.output, /helm is not installed/);
    const noKubectl = deploy(['ENV=dev'], { helm: true });
    assert.notEqual(noKubectl.status, 0);
    assert.match(noKubectl.output, /kubectl is not installed/);
    assert.equal(noKubectl.helm, undefined);
  });

  it('stops with the command to create the Secret when it is missing, without calling helm', () => {
    const run = deploy(['ENV=dev'], { helm: true, kubectl: true, secretMissing: true });
    assert.notEqual(run.status, 0);
    assert.match(run.output, /Secret orchestrator-secrets not found in namespace orchestrator-dev: kubectl -n orchestrator-dev create secret generic orchestrator-secrets/);
    assert.equal(run.helm, undefined);
  });
});
