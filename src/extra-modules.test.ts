import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadExtraModules } from './extra-modules.js';

describe('loadExtraModules', () => {
  const dir = mkdtempSync(join(tmpdir(), 'extra-modules-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const module = (name: string, source: string) => {
    const path = join(dir, name);
    writeFileSync(path, source);
    return relative(process.cwd(), path);
  };

  it('collects machines and tools from modules given relative to the working directory', async () => {
    const loaded = await loadExtraModules(['tests/fixtures/crash-machines.ts']);
    assert.deepEqual(loaded.machines.map((m) => `${m.id}@${m.version}`), ['crash-probe@1']);
    assert.deepEqual(Object.keys(loaded.tools), ['test.slow']);
    assert.deepEqual(await loadExtraModules([]), { machines: [], tools: {} });
  });

  it('refuses exports of the wrong shape, a tool defined twice, and a missing module', async () => {
    await assert.rejects(loadExtraModules([module('bad-machines.mjs', 'export const machines = {};')]), /'machines' must be an array/);
    await assert.rejects(loadExtraModules([module('bad-tool.mjs', 'export const tools = { a: 1 };')]), /tool 'a' is not a function/);
    const a = module('a.mjs', 'export const tools = { x: async () => 1 };');
    const b = module('b.mjs', 'export const tools = { x: async () => 2 };');
    await assert.rejects(loadExtraModules([a, b]), /tool 'x' is defined twice/);
    await assert.rejects(loadExtraModules(['no/such/module.ts']), /Cannot find module|ERR_MODULE_NOT_FOUND/);
  });
});
