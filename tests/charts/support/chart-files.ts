import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Paths of the Helm chart and its deploy commands, and readers for them (no helm here: see README "Deployment"). */
export const root = fileURLToPath(new URL('../../..', import.meta.url));
export const chartDir = join(root, 'charts/orchestrator');
export const templatesDir = join(chartDir, 'templates');
export const deployDir = join(root, 'deploy');

const python = ['/usr/bin/python3', 'python3'].find((p) => spawnSync(p, ['-c', 'import yaml']).status === 0);
/** Set (a reason) when no python3 with PyYAML is installed; .ci/run installs python3-yaml. */
export const noYaml: string | false = python ? false : 'python3 with PyYAML is not installed (apt-get install python3-yaml; .ci/run installs it)';

/** A YAML file parsed by PyYAML (safe_load), as JSON; multi-document files give the first document. */
export function readYaml(path: string): unknown {
  const script = 'import json, sys, yaml\nprint(json.dumps(yaml.safe_load(open(sys.argv[1]))))';
  return JSON.parse(execFileSync(python!, ['-c', script, path], { encoding: 'utf8' })) as unknown;
}

export type Values = Record<string, unknown>;

/** Every template of the chart by file name (helpers and NOTES.txt included). */
export function templates(): Map<string, string> {
  return new Map(readdirSync(templatesDir).map((name) => [name, readFileSync(join(templatesDir, name), 'utf8')]));
}

/**
 * The environment variables src/config.ts reads: the names passed to its readers
 * (`integer(env, 'PORT', ...)`, `raw(env, 'LLM_MODEL')`). config.ts exports no list, so it is parsed.
 */
export function configSettingNames(): Set<string> {
  const source = readFileSync(join(root, 'src/config.ts'), 'utf8');
  return new Set([...source.matchAll(/\(env, '([A-Z][A-Z0-9_]*)'/g)].map((m) => m[1]!));
}
