import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { silentLogger } from '../telemetry/logger.js';
import { createBuiltinTools } from './builtin-tools.js';

const ctx = () => ({ signal: new AbortController().signal, idempotencyKey: 'wf:t@1', attempt: 1 });

describe('builtin tools', () => {
  const tools = createBuiltinTools(silentLogger);

  it('has every tool the shipped machines use', () => {
    for (const src of ['llm.plan', 'llm.classify', 'tools.call', 'notify.page', 'notify.status']) assert.ok(tools.has(src), src);
  });

  it('plans deterministically from the goal, within the allowed tools and maxSteps', async () => {
    const input = { goal: 'add 2 and 3 then shout "done"', tools: ['math.sum', 'text.upper', 'text.wordCount'], maxSteps: 2 };
    const plan = await tools.invoke('llm.plan', input, ctx());
    assert.deepEqual(plan, await tools.invoke('llm.plan', input, ctx()));
    assert.deepEqual((plan as { steps: { tool: string; input: unknown }[] }).steps.map((s) => [s.tool, s.input]), [
      ['math.sum', { numbers: [2, 3] }],
      ['text.upper', { text: 'done' }],
    ]);
    const none = await tools.invoke('llm.plan', { goal: 'hello', tools: [], maxSteps: 5 }, ctx());
    assert.deepEqual(none, { steps: [], summary: 'nothing to do' });
  });

  it('dispatches plan steps to allow-listed tools only', async () => {
    assert.deepEqual(await tools.invoke('tools.call', { tool: 'math.sum', input: { numbers: [1, 2, 3] } }, ctx()), { tool: 'math.sum', output: { sum: 6 } });
    await assert.rejects(tools.invoke('tools.call', { tool: 'notify.page', input: {} }, ctx()), /not callable by agents/);
    await assert.rejects(tools.invoke('tools.call', { tool: 'math.sum', input: { numbers: ['x'] } }, ctx()), /finite numbers/);
  });

  it('classifies incidents by keywords, keeping a reported severity', async () => {
    assert.equal(((await tools.invoke('llm.classify', { title: 'checkout is down' }, ctx())) as { severity: string }).severity, 'sev1');
    assert.equal(((await tools.invoke('llm.classify', { title: 'slow search' }, ctx())) as { severity: string }).severity, 'sev3');
    assert.equal(((await tools.invoke('llm.classify', { title: 'typo', reported: 'sev2' }, ctx())) as { severity: string }).severity, 'sev2');
  });
});
