import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { chartDir, root } from './support/chart-files.js';

/**
 * The Dockerfile, read (there is no docker here to build it): base image, production-only
 * install, non-root user, the command `make run` uses, and that the files it copies are all the
 * running service imports.
 */
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
const instructions = dockerfile.split('\n').filter((line) => /^[A-Z]+\s/.test(line));
const finalStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
/** Sources of the final stage's COPY lines (not the `--from` ones). */
const copied = [...finalStage.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap(([, sources]) => sources!.split(/\s+/));

describe('Dockerfile', () => {
  it('builds on node:20-slim with production dependencies only', () => {
    const bases = instructions.filter((l) => l.startsWith('FROM ')).map((l) => l.split(/\s+/)[1]);
    assert.ok(bases.length > 0 && bases.every((b) => b === 'node:20-slim'), `bases: ${bases.join(', ')}`);
    assert.match(dockerfile, /^RUN npm ci --omit=dev\b/m);
    assert.match(finalStage, /^COPY --from=deps \/app\/node_modules \.\/node_modules$/m);
  });

  it('runs as the numeric non-root user the chart expects', () => {
    const user = /^USER (\d+)(?::(\d+))?$/m.exec(finalStage);
    assert.ok(user, 'USER must be numeric, or Kubernetes runAsNonRoot cannot verify it');
    assert.notEqual(user[1], '0');
    const values = readFileSync(join(chartDir, 'values.yaml'), 'utf8');
    assert.equal(/^ {2}runAsUser: (\d+)$/m.exec(values)?.[1], user[1]);
  });

  it('starts the service as `make run` does, with node as PID 1 and the chart port exposed', () => {
    const makefile = readFileSync(join(root, 'Makefile'), 'utf8');
    const node = /^NODE := (.+)$/m.exec(makefile)![1]!.split(' ');
    const run = /^run:.*\n\t\$\(NODE\) (.+)$/m.exec(makefile)![1]!;
    const cmd = JSON.parse(/^CMD (\[.+\])$/m.exec(finalStage)![1]!) as string[];
    assert.deepEqual(cmd, [...node, run]);
    assert.match(finalStage, /^EXPOSE 8002$/m);
  });

  it('copies every file the running service imports, and .dockerignore keeps none of them out', () => {
    for (const source of copied) assert.ok(existsSync(join(root, source)), `COPY ${source}: no such file`);
    assert.ok(copied.includes('package.json'), 'build-info reads package.json at run time');
    const ignored = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    for (const source of copied) assert.ok(!ignored.includes(source), `.dockerignore excludes ${source}`);
    assert.ok(ignored.includes('node_modules') && ignored.includes('.git'));

    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const { files, packages } = importClosure(join(root, 'src/main.ts'));
    for (const file of files) {
      const path = relative(root, file);
      assert.ok(copied.some((source) => path === source || path.startsWith(`${source}/`)), `${path} is imported at run time but not copied`);
      assert.doesNotMatch(path, /\.test\.ts$/);
    }
    for (const name of packages) assert.ok(Object.hasOwn(pkg.dependencies, name), `${name} is imported at run time but is not a production dependency`);
    assert.ok(files.size > 50 && packages.has('xstate') && packages.has('@connectrpc/connect-node'), 'the import walk found too little');
    assert.ok(Object.hasOwn(pkg.dependencies, 'tsx'), 'tsx runs the TypeScript: it must be a production dependency');
  });
});

/** Every file reachable from `entry` by relative imports (static and dynamic, types excluded), and the packages they import. */
function importClosure(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const builtins = new Set(builtinModules);
  const pending = [entry];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    const source = readFileSync(file, 'utf8');
    const specifiers = [
      ...[...source.matchAll(/\b(?:import|export)\s+(type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?'([^']+)'/g)].filter(([, type]) => !type).map((m) => m[2]!),
      ...[...source.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g)].map((m) => m[1]!),
    ];
    for (const specifier of specifiers) {
      if (specifier.startsWith('.')) {
        const target = resolve(dirname(file), specifier).replace(/\.js$/, '.ts');
        assert.ok(existsSync(target), `${relative(root, file)} imports ${specifier}: not found`);
        pending.push(target);
      } else if (!specifier.startsWith('node:') && !builtins.has(specifier)) {
        const parts = specifier.split('/');
        packages.add(specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!);
      }
    }
  }
  return { files, packages };
}
