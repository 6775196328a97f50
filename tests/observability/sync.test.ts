import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { noPrometheus, observabilityDir, run, scriptEnv, syncScript, type Run } from './support/observability-files.js';
import { startFakeGrafana, type FakeGrafana } from './support/fake-grafana.js';
import { startLocalPrometheus, type LocalPrometheus } from './support/local-prometheus.js';

const KEY = 'glsa_test-key-that-must-never-be-printed';
const RULE_GROUPS = ['orchestrator-components', 'orchestrator-seed', 'orchestrator-slo', 'orchestrator-slo-budget', 'orchestrator-slo-recording'];

/** Runs the sync script; fails the test if its output contains the key. */
async function sync(args: string[], env: Record<string, string>): Promise<Run> {
  const out = await run(syncScript, args, scriptEnv(env), 120_000);
  assert.ok(!out.stdout.includes(KEY) && !out.stderr.includes(KEY), 'the API key was printed');
  return out;
}

describe('sync-observability.sh', { skip: noPrometheus }, () => {
  let grafana: FakeGrafana;
  let prometheus: LocalPrometheus;
  let rulesDir: string;
  let env: Record<string, string>;

  before(async () => {
    grafana = await startFakeGrafana(KEY);
    rulesDir = mkdtempSync(join(tmpdir(), 'orchestrator-rules-'));
    // Nothing listens on the discard port: the scrape target is irrelevant to syncing rules.
    prometheus = await startLocalPrometheus({ target: '127.0.0.1:9', rulesDir });
    env = {
      GRAFANA_URL: grafana.url,
      GRAFANA_API_KEY: KEY,
      PROMETHEUS_URL: prometheus.url,
      PROMETHEUS_RULES_DIR: rulesDir,
      ALERTMANAGER_URL: grafana.url,
      ENVIRONMENT: 'staging',
    };
  });
  after(async () => {
    await prometheus?.stop();
    await grafana?.close();
    if (rulesDir) rmSync(rulesDir, { recursive: true, force: true });
  });

  const loadedGroups = async () => {
    const { groups } = await prometheus.api<{ groups: { name: string; file: string }[] }>('/api/v1/rules');
    return groups.filter((g) => g.file.endsWith('/orchestrator.rules.yaml')).map((g) => g.name).sort();
  };

  it('names the missing variables and exits non-zero', async () => {
    const none = await sync(['sync-dashboards'], {});
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /missing environment variable\(s\): GRAFANA_URL GRAFANA_API_KEY/);
    const keyOnly = await sync(['sync-service', 'orchestrator'], { GRAFANA_API_KEY: KEY });
    assert.notEqual(keyOnly.code, 0);
    assert.match(keyOnly.stderr, /missing environment variable\(s\): GRAFANA_URL PROMETHEUS_URL PROMETHEUS_RULES_DIR ALERTMANAGER_URL/);
    const badEnvironment = await sync(['sync-dashboards'], { ...env, ENVIRONMENT: 'prod' });
    assert.match(badEnvironment.stderr, /ENVIRONMENT must be production, staging or development/);
    assert.equal(grafana.requests.length, 0);
  });

  it('--dry-run shows what would change and changes nothing', async () => {
    const out = await sync(['--dry-run', 'sync-service', 'orchestrator'], env);
    assert.equal(out.code, 0, out.stdout + out.stderr);
    assert.match(out.stdout, /would create dashboard 'Orchestrator' \(uid orchestrator\)/);
    assert.match(out.stdout, /would install .*orchestrator\.rules\.yaml \(\d+ rules\)/);
    assert.deepEqual([...new Set(grafana.requests.map((r) => r.method))], ['GET']);
    assert.equal(grafana.dashboards.size, 0);
    assert.deepEqual(readdirSync(rulesDir), []);
    assert.deepEqual(await loadedGroups(), []);
  });

  it('sync-service pushes the dashboard with overwrite and installs, reloads and verifies the rules', async () => {
    const out = await sync(['sync-service', 'orchestrator'], env);
    assert.equal(out.code, 0, out.stdout + out.stderr);
    const posts = grafana.requests.filter((r) => r.method === 'POST');
    assert.equal(posts.length, 1);
    const [post] = posts;
    assert.equal(post!.path, '/api/dashboards/db');
    assert.equal(post!.body.overwrite, true);
    assert.equal(post!.body.dashboard.id, null);
    assert.equal(post!.body.dashboard.uid, 'orchestrator');
    assert.equal(post!.body.dashboard.schemaVersion, 39);
    assert.match(post!.body.message, /staging/);
    const local = JSON.parse(readFileSync(join(observabilityDir, 'dashboards/orchestrator.json'), 'utf8'));
    assert.deepEqual(post!.body.dashboard.panels, local.panels);
    for (const r of grafana.requests.filter((q) => q.path.startsWith('/api/'))) assert.equal(r.authorization, `Bearer ${KEY}`);
    assert.match(out.stdout, /synced dashboard 'Orchestrator': \/d\/orchestrator\/orchestrator \(version 1\)/);
    assert.match(out.stdout, /synced \d+ rules to/);
    assert.deepEqual(readdirSync(rulesDir), ['orchestrator.rules.yaml']);
    assert.deepEqual(await loadedGroups(), RULE_GROUPS);

    // Again: overwrite replaces the dashboard (version 2) instead of failing on the existing uid.
    const again = await sync(['sync-dashboards'], env);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(grafana.dashboards.get('orchestrator')?.version, 2);
  });

  it('--dry-run after a sync reports nothing to change', async () => {
    const posts = grafana.requests.filter((r) => r.method === 'POST').length;
    const out = await sync(['--dry-run', 'sync-dashboards'], env);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /unchanged: dashboard 'Orchestrator'/);
    const alerts = await sync(['--dry-run', 'sync-alerts'], env);
    assert.equal(alerts.code, 0, alerts.stderr);
    assert.match(alerts.stdout, /unchanged: .*orchestrator\.rules\.yaml/);
    assert.equal(grafana.requests.filter((r) => r.method === 'POST').length, posts);
  });

  it('says so when Grafana refuses the key, without printing it', async () => {
    const out = await sync(['sync-dashboards'], { ...env, GRAFANA_API_KEY: `${KEY}-wrong` });
    assert.notEqual(out.code, 0);
    assert.match(out.stderr, /Grafana refused the API key \(HTTP 401\)/);
  });

  describe('validate on broken files', () => {
    let copy: string;
    before(() => {
      copy = mkdtempSync(join(tmpdir(), 'orchestrator-observability-'));
    });
    after(() => rmSync(copy, { recursive: true, force: true }));

    /** A copy of observability/ with one file changed by `edit`. */
    const broken = (file: string, edit: (text: string) => string) => {
      rmSync(copy, { recursive: true, force: true });
      cpSync(observabilityDir, copy, { recursive: true });
      const path = join(copy, file);
      const text = readFileSync(path, 'utf8');
      const changed = edit(text);
      assert.notEqual(changed, text, `the edit did not change ${file}`);
      writeFileSync(path, changed);
      return { OBSERVABILITY_DIR: copy };
    };

    it('fails on an alert expression that does not parse', async () => {
      const out = await sync(['validate'], broken('alerts.yaml', (t) => t.replace('expr: up{job="orchestrator"} == 0', 'expr: up{job="orchestrator" == 0')));
      assert.notEqual(out.code, 0);
      assert.match(out.stderr, /alerts\.yaml: promtool check rules failed/);
    });

    it('fails on a dashboard that is not JSON or lacks the datasource variable', async () => {
      const notJson = await sync(['validate'], broken('dashboards/orchestrator.json', (t) => t.replace('"panels": [', '"panels": [,')));
      assert.notEqual(notJson.code, 0);
      assert.match(notJson.stderr, /orchestrator\.json: not valid JSON/);
      const noVariable = await sync(['validate'], broken('dashboards/orchestrator.json', (t) => t.replace('"type": "datasource"', '"type": "custom"')));
      assert.notEqual(noVariable.code, 0);
      assert.match(noVariable.stderr, /no Prometheus datasource variable/);
    });

    it('fails on a query of SLO.md that does not parse, naming it', async () => {
      const out = await sync(['validate'], broken('SLO.md', (t) => t.replace('/ sum(rate(orchestrator_rpc_requests_total[5m]))', '/ sum(rate(orchestrator_rpc_requests_total[5m])')));
      assert.notEqual(out.code, 0);
      assert.match(out.stderr, /a PromQL query does not parse/);
      assert.match(out.stderr, /SLO\.md promql block 1/);
    });

    it('fails when an alert has no runbook section', async () => {
      const out = await sync(['validate'], broken('runbook.md', (t) => t.replace('## OrchestratorBusDown', '## Bus down')));
      assert.notEqual(out.code, 0);
      assert.match(out.stderr, /OrchestratorBusDown: runbook_url .* is not a section of runbook\.md/);
    });
  });
});
