import assert from 'node:assert/strict';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { chartDir, configSettingNames, deployDir, noYaml, readYaml, root, templates, type Values } from './support/chart-files.js';
import { blockProblems, definedNames, filesRead, includedNames, valuePaths } from './support/go-template.js';

/**
 * What can be checked of charts/orchestrator without helm: its YAML, its settings against
 * src/config.ts, and its templates' structure and references. helm lint/template are not run here.
 */
describe('charts/orchestrator', { skip: noYaml }, () => {
  let parsed: Values | undefined;
  const values = () => (parsed ??= readYaml(join(chartDir, 'values.yaml')) as Values);
  const config = () => values().config as Record<string, unknown>;
  const secretKeys = () => (values().secrets as { keys: Record<string, string> }).keys;
  const environments = ['dev', 'prod'];

  it('Chart.yaml is a v2 application chart of the service version', () => {
    const chart = readYaml(join(chartDir, 'Chart.yaml')) as Values;
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    assert.equal(chart.apiVersion, 'v2');
    assert.equal(chart.name, 'orchestrator');
    assert.equal(chart.type, 'application');
    assert.match(String(chart.version), /^\d+\.\d+\.\d+/);
    assert.equal(chart.appVersion, pkg.version);
    // grpc: probes need Kubernetes 1.24 or later.
    assert.match(String(chart.kubeVersion), />=1\.24/);
  });

  it('values.yaml names every setting of src/config.ts once: secrets by Secret key, the rest in config', () => {
    const names = configSettingNames();
    assert.ok(names.has('PORT') && names.has('DATABASE_URL') && names.size >= 25, `config.ts parse found ${[...names].join(', ')}`);
    const inConfig = Object.keys(config());
    const inSecrets = Object.keys(secretKeys());
    assert.deepEqual(inSecrets.sort(), ['DATABASE_URL', 'LLM_API_KEY', 'REDIS_URL']);
    assert.deepEqual(inConfig.filter((n) => inSecrets.includes(n)), [], 'a secret setting in config');
    assert.deepEqual([...inConfig, ...inSecrets].sort(), [...names].sort());
  });

  it('secrets are referenced by key, never inlined', () => {
    for (const [name, key] of Object.entries(secretKeys())) {
      assert.match(key, /^[A-Za-z0-9._-]*$/, `secrets.keys.${name} must be a key name in the Secret, not a value`);
    }
    for (const env of environments) {
      const overrides = readYaml(join(deployDir, `values-${env}.yaml`)) as Values;
      const text = readFileSync(join(deployDir, `values-${env}.yaml`), 'utf8');
      assert.doesNotMatch(text, /(postgres(ql)?|rediss?):\/\//, `values-${env}.yaml holds a connection string`);
      for (const name of Object.keys(secretKeys())) assert.ok(!Object.hasOwn((overrides.config ?? {}) as object, name), `values-${env}.yaml sets ${name} in config`);
    }
  });

  it('defaults to two replicas, a PodDisruptionBudget, the service port 8002 and valid settings', () => {
    assert.equal(values().replicaCount, 2);
    assert.equal((values().podDisruptionBudget as Values).enabled, true);
    assert.equal(Number(config().PORT), loadConfig({}).port);
    assert.equal((values().service as Values).port, 8002);
    // Every non-empty value is a setting the service accepts (loadConfig throws a ConfigError otherwise).
    loadConfig(nonEmpty(config()));
  });

  it('deploy/values-<env>.yaml override only keys values.yaml has, with settings the service accepts', () => {
    const defaults = values();
    for (const env of environments) {
      const overrides = readYaml(join(deployDir, `values-${env}.yaml`)) as Values;
      for (const path of leafPaths(overrides)) {
        assert.ok(hasPath(defaults, path.slice(0, 2)), `values-${env}.yaml: ${path.join('.')} is not a value of the chart`);
      }
      loadConfig(nonEmpty({ ...config(), ...((overrides.config ?? {}) as Record<string, unknown>) }));
    }
  });

  it('templates set only environment variables the service reads', () => {
    const names = configSettingNames();
    for (const [file, source] of [...templates()].filter(([name]) => name.endsWith('.yaml'))) {
      for (const [, name] of source.matchAll(/^\s*-?\s*name: ([A-Z][A-Z0-9_]*)\s*$/gm)) assert.ok(names.has(name!), `${file}: env ${name} is not read by src/config.ts`);
      for (const [, name] of source.matchAll(/^\s*([A-Z][A-Z0-9_]*): /gm)) assert.ok(names.has(name!), `${file}: ConfigMap key ${name} is not read by src/config.ts`);
    }
  });

  it('templates: delimiters balance, blocks nest, includes are defined, .Values paths exist', () => {
    const all = templates();
    const defined = new Set([...all.values()].flatMap(definedNames));
    for (const [file, source] of all) {
      assert.deepEqual(blockProblems(source), [], file);
      for (const name of includedNames(source)) assert.ok(defined.has(name), `${file}: include "${name}" is not defined`);
      for (const path of valuePaths(source)) assert.ok(hasPath(values(), path), `${file}: .Values.${path.join('.')} is not in values.yaml`);
    }
    for (const expected of ['deployment.yaml', 'service.yaml', 'configmap.yaml', 'poddisruptionbudget.yaml', 'servicemonitor.yaml', 'prometheusrule.yaml', 'NOTES.txt', '_helpers.tpl']) {
      assert.ok(all.has(expected), `templates/${expected} missing`);
    }
  });

  it('the structure check catches what it is for', () => {
    assert.deepEqual(blockProblems('{{ if .a }}x{{ end }}'), []);
    assert.match(blockProblems('{{ if .a }}x')[0]!, /has no end/);
    assert.match(blockProblems('{{ else }}')[0]!, /else outside/);
    assert.throws(() => blockProblems('{{ .a }'), /never closed/);
    assert.throws(() => blockProblems('.a }}'), /without/);
  });

  it('the PrometheusRule reads observability/alerts.yaml through the chart (files/alerts.yaml)', () => {
    const read = [...templates().values()].flatMap(filesRead);
    assert.deepEqual(read, ['files/alerts.yaml']);
    const inChart = join(chartDir, 'files/alerts.yaml');
    assert.ok(existsSync(inChart), 'charts/orchestrator/files/alerts.yaml missing');
    assert.equal(realpathSync(inChart), realpathSync(join(root, 'observability/alerts.yaml')));
    const rules = readYaml(inChart) as { groups: { name: string; rules: unknown[] }[] };
    assert.ok(rules.groups.length > 0 && rules.groups.every((g) => g.rules.length > 0), 'every rule group has rules');
  });
});

function nonEmpty(settings: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== null && String(v) !== '').map(([k, v]) => [k, String(v)]));
}

function hasPath(object: unknown, path: string[]): boolean {
  let at = object;
  for (const key of path) {
    if (at === null || typeof at !== 'object' || !Object.hasOwn(at, key)) return false;
    at = (at as Record<string, unknown>)[key];
  }
  return true;
}

function leafPaths(object: Values, prefix: string[] = []): string[][] {
  return Object.entries(object).flatMap(([key, value]) =>
    value !== null && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length > 0 ? leafPaths(value as Values, [...prefix, key]) : [[...prefix, key]],
  );
}
