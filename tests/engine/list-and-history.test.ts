import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ManualClock } from '../../src/engine/clock.js';
import { code } from './support/assert-code.js';
import { createHarness } from './support/engine-harness.js';
import type { Harness } from './support/engine-harness.js';

describe('listWorkflows, getHistory and time travel', () => {
  let h: Harness;
  const clock = new ManualClock(Date.UTC(2031, 0, 1));
  const ids: string[] = [];
  before(async () => {
    h = await createHarness({ options: { clock } });
    // Seven instances, one second apart; some moved on, one finished.
    for (let i = 0; i < 7; i++) {
      const wf = await h.engine.startWorkflow({ machineId: 'probe', input: { label: `l${i}` }, workflowId: `list-${i}` });
      ids.push(wf.id);
      clock.advance(1_000);
    }
    await h.engine.sendEvent({ workflowId: 'list-1', event: { type: 'probe.wait' } });
    await h.engine.sendEvent({ workflowId: 'list-2', event: { type: 'probe.wait' } });
    await h.engine.sendEvent({ workflowId: 'list-3', event: { type: 'probe.finish' } });
  });
  after(() => h.close());

  it('pages newest first with tokens, without gaps or repeats', async () => {
    const seen: string[] = [];
    let token = '';
    let pages = 0;
    do {
      const page = await h.engine.listWorkflows({ pageSize: 3, pageToken: token });
      seen.push(...page.workflows.map((w) => w.id));
      token = page.nextPageToken;
      pages++;
    } while (token);
    assert.deepEqual(seen, [...ids].reverse());
    assert.equal(pages, 3);
  });

  it('filters by status, state, machine and creation time', async () => {
    const byStatus = await h.engine.listWorkflows({ status: 'done' });
    assert.deepEqual(byStatus.workflows.map((w) => w.id), ['list-3']);
    const byState = await h.engine.listWorkflows({ state: 'waiting' });
    assert.deepEqual(byState.workflows.map((w) => w.id), ['list-2', 'list-1']);
    assert.deepEqual(byState.workflows[0]!.timers.map((t) => t.id), ['xstate.after.probeDelay.probe.waiting']);
    assert.equal((await h.engine.listWorkflows({ machineId: 'other' })).workflows.length, 0);
    const window = await h.engine.listWorkflows({ createdAfter: new Date(Date.UTC(2031, 0, 1, 0, 0, 1)), createdBefore: new Date(Date.UTC(2031, 0, 1, 0, 0, 4)) });
    assert.deepEqual(window.workflows.map((w) => w.id), ['list-3', 'list-2']);
    const paged = await h.engine.listWorkflows({ state: 'idle', pageSize: 2 });
    assert.ok(paged.nextPageToken, 'a next page token');
    const rest = await h.engine.listWorkflows({ state: 'idle', pageSize: 2, pageToken: paged.nextPageToken });
    assert.deepEqual([...paged.workflows, ...rest.workflows].map((w) => w.id), ['list-6', 'list-5', 'list-4', 'list-0']);
  });

  it('refuses a page token from another query or a forged one', async () => {
    const page = await h.engine.listWorkflows({ pageSize: 1 });
    await assert.rejects(h.engine.listWorkflows({ pageSize: 1, status: 'active', pageToken: page.nextPageToken }), code('invalid_argument', /different query/));
    await assert.rejects(h.engine.listWorkflows({ pageToken: 'garbage!' }), code('invalid_argument'));
    await assert.rejects(h.engine.listWorkflows({ status: 'weird' as never }), code('invalid_argument'));
  });

  it('pages the history by version', async () => {
    for (let i = 0; i < 4; i++) await h.engine.sendEvent({ workflowId: 'list-0', event: { type: 'probe.bump' } });
    const first = await h.engine.getHistory({ workflowId: 'list-0', pageSize: 2 });
    assert.deepEqual(first.entries.map((e) => e.version), [1, 2]);
    const second = await h.engine.getHistory({ workflowId: 'list-0', pageSize: 2, pageToken: first.nextPageToken });
    assert.deepEqual(second.entries.map((e) => e.version), [3, 4]);
    const third = await h.engine.getHistory({ workflowId: 'list-0', pageSize: 2, pageToken: second.nextPageToken });
    assert.deepEqual(third.entries.map((e) => e.version), [5]);
    assert.equal(third.nextPageToken, '');
    assert.deepEqual((await h.engine.getHistory({ workflowId: 'list-0', fromVersion: 4 })).entries.map((e) => e.version), [4, 5]);
    assert.deepEqual(third.entries[0]!.context, { label: 'l0', count: 4, delayMs: 60_000, lastResult: null, lastError: null });
    await assert.rejects(h.engine.getHistory({ workflowId: 'nope' }), code('not_found'));
  });

  it('reads any past version (time travel)', async () => {
    const v3 = await h.engine.getWorkflow('list-0', { atVersion: 3 });
    assert.equal(v3.version, 3);
    assert.equal((v3.context as { count: number }).count, 2);
    assert.equal(v3.state, 'idle');
    const v1 = await h.engine.getWorkflow('list-3', { atVersion: 1 });
    assert.equal(v1.status, 'active');
    assert.equal(v1.output, undefined);
    const v2 = await h.engine.getWorkflow('list-3', { atVersion: 2 });
    assert.equal(v2.status, 'done');
    assert.deepEqual(v2.output, { count: 0 });
    await assert.rejects(h.engine.getWorkflow('list-0', { atVersion: 99 }), code('invalid_argument', /versions 1 to 5/));
  });
});
