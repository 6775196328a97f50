import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Metrics } from './metrics.js';
import { recordToolEvent, toolCallOutcome } from './tool-metrics.js';

describe('tool metrics from policy events', () => {
  it('names the policy own failures as outcomes and everything else the tool failed with `error`', () => {
    assert.equal(toolCallOutcome(true, undefined), 'ok');
    for (const kind of ['timeout', 'circuit_open', 'bulkhead_full', 'cancelled'] as const) assert.equal(toolCallOutcome(false, kind), kind);
    for (const kind of ['http', 'network', 'invalid_input', 'tool_error', undefined]) assert.equal(toolCallOutcome(false, kind), 'error');
  });

  it('counts calls, retries, timeouts and bulkhead rejections per tool', async () => {
    const metrics = new Metrics({ version: 't', commit: 't' });
    const tool = 'http.request';
    recordToolEvent(metrics, { type: 'call', tool, ok: false, errorKind: 'circuit_open', seconds: 0.001 });
    recordToolEvent(metrics, { type: 'call', tool, ok: true, seconds: 0.3 });
    recordToolEvent(metrics, { type: 'retry', tool });
    recordToolEvent(metrics, { type: 'timeout', tool });
    recordToolEvent(metrics, { type: 'bulkhead_rejected', tool });
    recordToolEvent(metrics, { type: 'breaker', tool }); // a gauge read at scrape, not counted here
    const text = await metrics.registry.metrics();
    assert.match(text, /^orchestrator_tool_calls_total\{tool="http.request",outcome="circuit_open"\} 1$/m);
    assert.match(text, /^orchestrator_tool_calls_total\{tool="http.request",outcome="ok"\} 1$/m);
    assert.match(text, /^orchestrator_tool_call_duration_seconds_bucket\{le="0.25",tool="http.request"\} 1$/m);
    assert.match(text, /^orchestrator_tool_call_duration_seconds_count\{tool="http.request"\} 2$/m);
    assert.match(text, /^orchestrator_tool_retries_total\{tool="http.request"\} 1$/m);
    assert.match(text, /^orchestrator_tool_timeouts_total\{tool="http.request"\} 1$/m);
    assert.match(text, /^orchestrator_tool_bulkhead_rejections_total\{tool="http.request"\} 1$/m);
  });
});
