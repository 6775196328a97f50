import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import ts from 'typescript';

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * `assert.ok(value)` (and `assert(value)`) without a message makes node build one from the
 * source of the call when it fails: it reads the file at the position V8 reports and parses it
 * with acorn. tsx runs a whitespace-minified build (every call on line 1, at a column of the
 * build), so node parses the TypeScript source from a wrong place, again and again: a failing
 * `assert.ok` in a long test file spins for minutes and the file ends in the runner's timeout
 * with no message (seen in tests/e2e/telemetry.test.ts, mistaken for a server stall in session
 * 14). With a message node builds nothing, so every such call here carries one.
 */
describe('test hygiene', () => {
  it('gives every assert.ok / assert call a message (node would parse the source to make one, and hang)', () => {
    const missing = ['src', 'tests', 'machines', 'bench'].flatMap((dir) => typeScriptFiles(join(root, dir))).flatMap(callsWithoutMessage);
    assert.deepEqual(missing, [], `give these a message:\n${missing.join('\n')}`);
  });

  it('finds a call without a message (the check above can fail)', () => {
    const source = "import assert from 'node:assert/strict';\nassert.ok(1 > 0);\nassert(true);\nassert.ok(true, 'fine');\n";
    assert.deepEqual(callsWithoutMessage({ path: 'probe.ts', source }), ['probe.ts:2: assert.ok(1 > 0)', 'probe.ts:3: assert(true)']);
  });
});

interface SourceFile {
  path: string;
  source: string;
}

function callsWithoutMessage({ path, source }: SourceFile): string[] {
  const file = ts.createSourceFile(path, source, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node) && node.arguments.length < 2) {
      const callee = node.expression.getText(file);
      if (callee === 'assert' || callee === 'assert.ok') {
        const line = file.getLineAndCharacterOfPosition(node.getStart(file)).line + 1;
        found.push(`${path}:${line}: ${node.getText(file).replace(/\s+/g, ' ')}`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

function typeScriptFiles(dir: string): SourceFile[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.parentPath.includes('node_modules'))
    .map((entry) => {
      const path = join(entry.parentPath, entry.name);
      return { path: relative(root, path), source: readFileSync(path, 'utf8') };
    });
}
