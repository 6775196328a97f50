import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ToolNotFoundError, ToolRegistry } from './tool-registry.js';

const context = (signal = new AbortController().signal) => ({ signal, idempotencyKey: 'wf:job@1', attempt: 1 });

describe('ToolRegistry', () => {
  it('runs the adapter registered for a src, passing the call context on', async () => {
    const registry = new ToolRegistry({ 'echo.it': async (input, ctx) => ({ input, key: ctx.idempotencyKey, attempt: ctx.attempt }) });
    assert.deepEqual(await registry.invoke('echo.it', { a: 1 }, context()), { input: { a: 1 }, key: 'wf:job@1', attempt: 1 });
    assert.equal(registry.has('echo.it'), true);
    assert.deepEqual(registry.list(), ['echo.it']);
  });

  it('rejects unknown tools and a second adapter for one src', async () => {
    const registry = new ToolRegistry({ a: async () => 1 });
    await assert.rejects(registry.invoke('b', {}, context()), ToolNotFoundError);
    assert.throws(() => registry.register('a', async () => 2), /already registered/);
  });

  it('stops waiting when the signal aborts, even for an adapter that ignores it', async () => {
    const registry = new ToolRegistry({ 'never.ends': () => new Promise(() => {}) });
    const controller = new AbortController();
    const call = registry.invoke('never.ends', {}, context(controller.signal));
    controller.abort(new Error('cancelled'));
    await assert.rejects(call, /cancelled/);
    await assert.rejects(registry.invoke('never.ends', {}, context(controller.signal)), /cancelled/);
  });
});
