import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EventNotAcceptedError } from '../../src/engine/errors.js';
import type { EventBus, TransitionMessage } from '../../src/engine/ports/event-bus.js';
import { createWorkflowEngine } from '../../src/engine/workflow-engine.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { code } from './support/assert-code.js';
import { createHarness, FAST } from './support/engine-harness.js';
import type { Harness } from './support/engine-harness.js';
import { probe } from './support/probe-machine.js';

describe('sendEvent', () => {
  let h: Harness;
  before(async () => (h = await createHarness()));
  after(() => h.close());
  const start = () => h.engine.startWorkflow({ machineId: 'probe', input: { label: 's' } });

  it('applies an event as the next version, with the payload in the machine event', async () => {
    const wf = await start();
    const view = await h.engine.sendEvent({ workflowId: wf.id, event: { type: 'probe.bump', payload: { by: 5 } }, eventId: 'e-1' });
    assert.equal(view.version, 2);
    assert.equal((view.context as { count: number }).count, 5);
    const { entries } = await h.engine.getHistory({ workflowId: wf.id, fromVersion: 2 });
    assert.deepEqual(entries.map((e) => [e.version, e.eventType, e.eventId, e.event]), [[2, 'probe.bump', 'e-1', { by: 5, type: 'probe.bump' }]]);
  });

  it('applies a repeated event id once and returns the original result', async () => {
    const wf = await start();
    const first = await h.engine.sendEvent({ workflowId: wf.id, event: { type: 'probe.bump' }, eventId: 'dup' });
    await h.engine.sendEvent({ workflowId: wf.id, event: { type: 'probe.bump' }, eventId: 'other' });
    const again = await h.engine.sendEvent({ workflowId: wf.id, event: { type: 'probe.bump' }, eventId: 'dup' });
    assert.equal(again.version, first.version);
    assert.deepEqual(again.context, first.context);
    const current = await h.engine.getWorkflow(wf.id);
    assert.equal(current.version, 3);
    assert.equal((current.context as { count: number }).count, 2);
  });

  it('returns the original result for a repeated event id even when the state no longer accepts the event', async () => {
    const wf = await start();
    const first = await h.engine.sendEvent({ workflowId: wf.id, event: { type: 'probe.go' }, eventId: 'go-1' });
    assert.equal(first.state, 'working');
    const again = await h.engine.sendEvent({ workflowId: wf.id, event: { type: 'probe.go' }, eventId: 'go-1' });
    assert.equal(again.version, first.version);
    await assert.rejects(h.engine.sendEvent({ workflowId: wf.id, event: { type: 'probe.go' }, eventId: 'go-2' }), code('failed_precondition'));
    await h.engine.sendEvent({ workflowId: wf.id, event: { type: 'probe.abandon' } });
  });

  it('is aborted when expectedVersion does not match, and applies when it does', async () => {
    const wf = await start();
    await assert.rejects(h.engine.sendEvent({ workflowId: wf.id, event: { type: 'probe.bump' }, expectedVersion: 5 }), code('aborted', /version 1, not 5/));
    const ok = await h.engine.sendEvent({ workflowId: wf.id, event: { type: 'probe.bump' }, expectedVersion: 1 });
    assert.equal(ok.version, 2);
    await assert.rejects(h.engine.sendEvent({ workflowId: wf.id, event: { type: 'probe.bump' }, expectedVersion: 1 }), code('aborted'));
  });

  it('refuses an event the state does not accept with failed_precondition listing the accepted ones', async () => {
    const wf = await start();
    await assert.rejects(h.engine.sendEvent({ workflowId: wf.id, event: { type: 'probe.abandon' } }), (error: unknown) => {
      code('failed_precondition', /not accepted in state "idle"/)(error);
      assert.ok(error instanceof EventNotAcceptedError, 'an EventNotAcceptedError');
      assert.deepEqual(error.acceptedEvents, ['probe.bump', 'probe.explode', 'probe.finish', 'probe.go', 'probe.wait']);
      assert.deepEqual(error.details?.acceptedEvents, error.acceptedEvents);
      return true;
    });
    assert.equal((await h.engine.getWorkflow(wf.id)).version, 1);
  });

  it('refuses events to a finished workflow', async () => {
    const wf = await start();
    const done = await h.engine.sendEvent({ workflowId: wf.id, event: { type: 'probe.finish' } });
    assert.equal(done.status, 'done');
    assert.deepEqual(done.output, { count: 0 });
    assert.deepEqual(done.acceptedEvents, []);
    await assert.rejects(h.engine.sendEvent({ workflowId: wf.id, event: { type: 'probe.bump' } }), code('failed_precondition', /is done/));
  });

  it('names the wrong payload field, refuses reserved types and bad ids', async () => {
    const wf = await start();
    await assert.rejects(h.engine.sendEvent({ workflowId: wf.id, event: { type: 'probe.bump', payload: { by: 0 } } }), code('invalid_argument', /event\.payload\.by must be >= 1/));
    await assert.rejects(h.engine.sendEvent({ workflowId: wf.id, event: { type: 'xstate.done.actor.job' } }), code('invalid_argument', /reserved/));
    await assert.rejects(h.engine.sendEvent({ workflowId: wf.id, event: { type: '' } }), code('invalid_argument', /event\.type/));
    await assert.rejects(h.engine.sendEvent({ workflowId: wf.id, event: { type: 'probe.bump', payload: { type: 'x' } } }), code('invalid_argument', /type/));
    await assert.rejects(h.engine.sendEvent({ workflowId: wf.id, event: { type: 'probe.bump' }, expectedVersion: -1 }), code('invalid_argument'));
    assert.equal((await h.engine.getWorkflow(wf.id)).version, 1);
  });

  it('refuses an oversized payload with resource_exhausted and writes nothing', async () => {
    const wf = await start();
    await assert.rejects(h.engine.sendEvent({ workflowId: wf.id, event: { type: 'probe.bump', payload: { junk: 'x'.repeat(300 * 1024) } } }), code('resource_exhausted'));
    assert.equal((await h.engine.getHistory({ workflowId: wf.id })).entries.length, 1);
  });

  it('reports a machine exception on an event as invalid_argument and keeps the instance as it was', async () => {
    const wf = await start();
    await assert.rejects(h.engine.sendEvent({ workflowId: wf.id, event: { type: 'probe.explode' } }), code('invalid_argument', /boom/));
    const view = await h.engine.getWorkflow(wf.id);
    assert.equal(view.version, 1);
    assert.equal(view.status, 'active');
  });

  it('is not_found for an unknown workflow', async () => {
    await assert.rejects(h.engine.sendEvent({ workflowId: 'missing', event: { type: 'probe.bump' } }), code('not_found'));
    await assert.rejects(h.engine.getWorkflow('missing'), code('not_found'));
  });

  it('answers the caller before it publishes the transition, and publishes every one in order', async () => {
    // Why the order matters: the answer must not wait for the watch messages and Redis PUBLISHes.
    const order: string[] = [];
    const bus = new Proxy(h.bus, {
      get(target, key, receiver) {
        if (key === 'publish') {
          return (message: TransitionMessage) => {
            order.push(`published ${message.version}`);
            return target.publish(message);
          };
        }
        const value = Reflect.get(target, key, receiver) as unknown;
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    }) as EventBus;
    const engine = createWorkflowEngine({ store: h.store, bus, machines: [probe], tools: h.tools, logger: silentLogger, options: FAST });
    await engine.start();
    try {
      const wf = await engine.startWorkflow({ machineId: 'probe', input: { label: 'order' } });
      const answers = [2, 3, 4].map((by) => engine.sendEvent({ workflowId: wf.id, event: { type: 'probe.bump', payload: { by } } }).then((view) => order.push(`answered ${view.version}`)));
      await Promise.all(answers);
      await engine.stop(); // lets the last publishes out
      assert.deepEqual(order.filter((o) => o.startsWith('published')), ['published 1', 'published 2', 'published 3', 'published 4']);
      // A later transition may be answered before an earlier one is published (PGlite commits
      // without I/O), but never a transition published before its own answer.
      for (const version of [2, 3, 4]) assert.ok(order.indexOf(`answered ${version}`) < order.indexOf(`published ${version}`), order.join(', '));
    } finally {
      await engine.stop();
    }
  });
});
