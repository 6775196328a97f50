import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { InMemoryEventBus } from '../../src/bus/in-memory-event-bus.js';
import type { WorkflowEngineOptions } from '../../src/engine/engine-options.js';
import { createWorkflowEngine, type WorkflowEngine } from '../../src/engine/workflow-engine.js';
import { PostgresWorkflowStore } from '../../src/store/postgres-workflow-store.js';
import { engineTelemetry } from '../../src/telemetry/engine-telemetry.js';
import { instrumentStore } from '../../src/telemetry/instrumented-store.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { Metrics } from '../../src/telemetry/metrics.js';
import { registerInMemoryTracing } from '../../src/telemetry/test-support/in-memory-tracing.js';
import { inSpan } from '../../src/telemetry/tracing.js';
import { openTestDatabase, type TestDatabase } from '../helpers/test-database.js';
import { parsePrometheusText, sumOf } from '../helpers/prometheus-text.js';
import { ControlledTools } from './support/controlled-tools.js';
import { FAST } from './support/engine-harness.js';
import { probe } from './support/probe-machine.js';
import { untilEntry } from './support/wait.js';

const exporter = registerInMemoryTracing();

describe('engine telemetry (observer, instrumented store)', () => {
  let db: TestDatabase;
  let metrics: Metrics;
  let bus: InMemoryEventBus;
  const engines: WorkflowEngine[] = [];
  const engine = (options: WorkflowEngineOptions = {}) => {
    const made = createWorkflowEngine({
      store: instrumentStore(new PostgresWorkflowStore(db.db), metrics),
      bus,
      machines: [probe],
      tools: new ControlledTools(['test.job']),
      logger: silentLogger,
      options: { ...FAST, ...options, observer: engineTelemetry(metrics) },
    });
    engines.push(made);
    return made;
  };
  const samples = async () => parsePrometheusText(await metrics.registry.metrics()).samples;

  before(async () => {
    db = await openTestDatabase();
    metrics = new Metrics({ version: 't', commit: 't' });
    bus = new InMemoryEventBus();
  });
  after(async () => {
    for (const e of engines) await e.stop();
    await bus.close();
    await db.close();
  });

  it('counts starts, transitions by source, finishes by outcome and a conflict between two replicas', async () => {
    const [a, b] = [engine(), engine()];
    const wf = await a.startWorkflow({ machineId: 'probe', input: { label: 'x' } });
    await b.sendEvent({ workflowId: wf.id, event: { type: 'probe.bump' } });
    // `a` still caches version 1: its commit conflicts, is retried under the lock, and applies.
    const bumped = await a.sendEvent({ workflowId: wf.id, event: { type: 'probe.bump' } });
    assert.equal(bumped.version, 3);
    await a.sendEvent({ workflowId: wf.id, event: { type: 'probe.finish' } });
    const cancelled = await a.startWorkflow({ machineId: 'probe', input: { label: 'y' } });
    await a.cancelWorkflow({ workflowId: cancelled.id, reason: 'test' });

    const s = await samples();
    assert.equal(sumOf(s, 'orchestrator_workflows_started_total', { machine: 'probe' }), 2);
    assert.equal(sumOf(s, 'orchestrator_transitions_total', { machine: 'probe', source: 'start' }), 2);
    assert.equal(sumOf(s, 'orchestrator_transitions_total', { machine: 'probe', source: 'client' }), 3);
    assert.equal(sumOf(s, 'orchestrator_transitions_total', { machine: 'probe', source: 'cancel' }), 1);
    assert.equal(sumOf(s, 'orchestrator_transition_duration_seconds_count', { source: 'client' }), 3);
    assert.equal(sumOf(s, 'orchestrator_workflows_finished_total', { machine: 'probe', outcome: 'done' }), 1);
    assert.equal(sumOf(s, 'orchestrator_workflows_finished_total', { machine: 'probe', outcome: 'cancelled' }), 1);
    assert.equal(sumOf(s, 'orchestrator_transition_conflicts_total'), 1);
    assert.equal(sumOf(s, 'orchestrator_store_errors_total'), 0);
  });

  it('puts each transition in a span under the caller, with its store commit inside', async () => {
    const e = engine();
    const wf = await e.startWorkflow({ machineId: 'probe', input: { label: 'traced' } });
    exporter.reset();
    let caller = '';
    await inSpan('caller', {}, async (span) => {
      caller = span.spanContext().spanId;
      await e.sendEvent({ workflowId: wf.id, event: { type: 'probe.bump' } });
    });
    const spans = exporter.getFinishedSpans();
    const transition = spans.find((s) => s.name === 'orchestrator.transition');
    assert.ok(transition, 'a transition span was recorded');
    assert.equal(transition.parentSpanContext?.spanId, caller);
    assert.equal(transition.attributes['orchestrator.source'], 'client');
    const commit = spans.find((s) => s.name === 'orchestrator.store.commitTransition');
    assert.equal(commit?.parentSpanContext?.spanId, transition.spanContext().spanId);
  });

  it('fires a timer armed in a traced transition in a trace of its own, and observes its lag', async () => {
    // No regular poll in time: the wake-up scheduled by the traced transition fires the timer.
    const e = engine({ timerPollIntervalMs: 60_000 });
    await e.start();
    const wf = await e.startWorkflow({ machineId: 'probe', input: { label: 'timer', delayMs: 30 } });
    exporter.reset();
    let callerTrace = '';
    await inSpan('caller', {}, async (span) => {
      callerTrace = span.spanContext().traceId;
      await e.sendEvent({ workflowId: wf.id, event: { type: 'probe.wait' } });
    });
    await untilEntry(e, wf.id, (entry) => entry.eventType.startsWith('xstate.after'), 10_000);
    const fired = await waitForSpan(() => exporter.getFinishedSpans().find((s) => s.name === 'orchestrator.transition' && s.attributes['orchestrator.source'] === 'timer'));
    assert.equal(fired.parentSpanContext, undefined, 'a root span');
    assert.notEqual(fired.spanContext().traceId, callerTrace);
    const s = await samples();
    assert.ok(sumOf(s, 'orchestrator_timers_fired_total') >= 1, 'a timer fired');
    assert.ok(sumOf(s, 'orchestrator_timer_lag_seconds_count') >= 1, 'a timer lag observed');
  });

  it('counts store failures by operation', async () => {
    const other = await openTestDatabase();
    const store = instrumentStore(new PostgresWorkflowStore(other.db), metrics);
    await other.close();
    await assert.rejects(store.loadWorkflow('gone'));
    const s = await samples();
    assert.equal(sumOf(s, 'orchestrator_store_errors_total', { operation: 'loadWorkflow' }), 1);
    assert.equal(sumOf(s, 'orchestrator_store_errors_total', { operation: 'commitTransition' }), 0, 'every operation has a series');
    // Not a method: read through the Proxy as it is (the timer scheduler sizes its firings by it).
    assert.equal(store.commitCapacity, 128);
  });
});

/** The span once it has ended: the transition's span ends a moment after its history entry is visible (bounded: 5 s). */
async function waitForSpan<T>(find: () => T | undefined): Promise<T> {
  for (let i = 0; i < 500; i++) {
    const found = find();
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('the span did not end within 5 s');
}
