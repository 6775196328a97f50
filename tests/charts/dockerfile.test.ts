import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { SERVER_NODE_FLAGS, startServerProcess } from '../helpers/server-process.js';
import { createTestDatabaseOptions } from '../helpers/test-database.js';
import { chartDir, root } from './support/chart-files.js';
import { copyFromContext, dockerignore, dockerStages } from './support/docker-context.js';

/**
 * The Dockerfile, without docker (there is none here): read for its base, dependencies, user and
 * command, and its build stage replayed on the files it would see (COPY lines through
 * .dockerignore, then `make build`), then the compiled service started as the image would start it.
 */
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
const stages = dockerStages(dockerfile);
const stage = (name: string | undefined) => stages.find((s) => s.name === name)!;
const makefile = readFileSync(join(root, 'Makefile'), 'utf8');
/** The command of a Makefile target's first recipe line. */
const recipe = (target: string) => new RegExp(`^${target}:.*\\n(?:\\t.*\\n)*?\\t(node .+)$`, 'm').exec(makefile)?.[1];

describe('Dockerfile', () => {
  const dirs: string[] = [];
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('builds on node:20-slim: production dependencies for the image, `make build` in a build stage', () => {
    assert.deepEqual(stages.map((s) => /^FROM (\S+)/.exec(s.text)![1]), ['node:20-slim', 'node:20-slim', 'node:20-slim']);
    assert.match(stage('deps').text, /^RUN npm ci --omit=dev\b/m);
    assert.match(stage('build').text, /^RUN make build$/m);
    const final = stages.at(-1)!;
    assert.deepEqual(final.copies, [], 'the image takes nothing from the context but what the stages made');
    assert.match(final.text, /^COPY --from=deps \/app\/node_modules \.\/node_modules$/m);
    assert.match(final.text, /^COPY --from=build \/app\/dist \.\/dist$/m);
  });

  it('runs as the numeric non-root user the chart expects', () => {
    const user = /^USER (\d+)(?::(\d+))?$/m.exec(stages.at(-1)!.text);
    assert.ok(user, 'USER must be numeric, or Kubernetes runAsNonRoot cannot verify it');
    assert.notEqual(user[1], '0');
    const values = readFileSync(join(chartDir, 'values.yaml'), 'utf8');
    assert.equal(/^ {2}runAsUser: (\d+)$/m.exec(values)?.[1], user[1]);
  });

  it('starts the service as `make start` does, with node as PID 1, on the chart port', () => {
    const cmd = JSON.parse(/^CMD (\[.+\])$/m.exec(stages.at(-1)!.text)![1]!) as string[];
    assert.deepEqual(cmd.join(' '), recipe('start'));
    // The flags the tests and benchmarks start the service with (server-process.ts) are production's.
    assert.deepEqual(cmd, ['node', ...SERVER_NODE_FLAGS, 'dist/src/main.js']);
    assert.match(makefile, new RegExp(`^\\t\\$\\(NODE\\) ${SERVER_NODE_FLAGS.join(' ')} src/main\\.ts$`, 'm'), '`make run` passes the same flags');
    assert.match(stages.at(-1)!.text, /^EXPOSE 8002$/m);
  });

  it('the running service imports production dependencies only', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const { files, packages } = importClosure(join(root, 'src/main.ts'));
    assert.ok(files.size > 50 && packages.has('xstate') && packages.has('@connectrpc/connect-node'), 'the import walk found too little');
    for (const name of packages) assert.ok(Object.hasOwn(pkg.dependencies, name), `${name} is imported at run time but is not a production dependency`);
  });

  it('the build stage compiles from the files it copies, and the result starts and answers the liveness probe', async () => {
    const build = stage('build');
    const ignored = dockerignore(root);
    const context = mkdtempSync(join(tmpdir(), 'docker-build-'));
    const image = mkdtempSync(join(tmpdir(), 'docker-image-'));
    dirs.push(context, image);
    for (const copy of build.copies) {
      for (const source of copy.sources) {
        assert.ok(existsSync(join(root, source)), `COPY ${source}: no such file`);
        assert.ok(!ignored(source), `.dockerignore excludes ${source}`);
        // copyFromContext keeps context paths: COPY must put each source at its own path under WORKDIR.
        assert.ok(['./', `./${source}`, `./${dirname(source)}/`].includes(copy.destination), `COPY ${source} ${copy.destination}`);
      }
      copyFromContext(root, copy.sources, context, ignored);
    }
    // `npm ci` of the build stage: every dependency, here the checkout's.
    symlinkSync(join(root, 'node_modules'), join(context, 'node_modules'));
    const make = spawnSync('make', ['--no-print-directory', 'build'], { cwd: context, encoding: 'utf8', timeout: 300_000 });
    assert.equal(make.status, 0, make.stdout + make.stderr);

    // The image: node_modules (here the checkout's; production-only is checked above) and dist/.
    symlinkSync(join(root, 'node_modules'), join(image, 'node_modules'));
    cpSync(join(context, 'dist'), join(image, 'dist'), { recursive: true });
    const store = createTestDatabaseOptions();
    const server = await startServerProcess({ ...store.env, GIT_COMMIT: 'image-test' }, 60_000, [join(image, 'dist/src/main.js')]);
    try {
      const res = await fetch(`${server.baseUrl}/info.v1.InfoService/GetInfo?connect=v1&encoding=json&message=%7B%7D`);
      assert.equal(res.status, 200);
      const info = (await res.json()) as { name: string; gitCommit: string };
      assert.deepEqual([info.name, info.gitCommit], ['orchestrator', 'image-test']);
    } finally {
      await server.stop('SIGKILL');
      await store.cleanup();
    }
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
