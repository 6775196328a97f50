import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { FaultServer } from '../test-support/fault-server.js';
import { httpToolHarness } from '../test-support/http-tool-harness.js';
import { ToolRegistry } from '../tool-registry.js';
import { ResilientToolInvoker } from '../resilient-tool-invoker.js';
import { ToolError } from '../tool-error.js';

/** Gaps in ms between consecutive requests. */
const gaps = (server: FaultServer, path: string) => {
  const times = server.requests.filter((r) => r.path === path).map((r) => r.at);
  return times.slice(1).map((t, i) => t - times[i]!);
};

describe('ToolPolicy against a faulty HTTP server', () => {
  let server: FaultServer;
  before(async () => (server = await FaultServer.start()));
  after(() => server.close());

  it('retries retryable failures a bounded number of times with growing, jittered backoff and one idempotency key', async () => {
    server.script('/down', { status: 503, body: 'overloaded' });
    const h = httpToolHarness(server, { maxRetries: 3, backoffInitialMs: 40, backoffMaxMs: 1000 });
    const error = await h.fail('/down', { key: 'wf-a:t-1' });
    assert.deepEqual(error.toJSON(), { name: 'ToolError', code: 'http', tool: 'http.request', kind: 'http', attempts: 4, status: 503, message: error.message });
    assert.match(error.message, /answered 503: overloaded/);
    assert.equal(server.countFor('wf-a:t-1'), 4);
    const retries = h.events.filter((e) => e.type === 'retry');
    assert.equal(retries.length, 3);
    // One `call` event for the whole call, however many attempts it took.
    assert.deepEqual(h.events.filter((e) => e.type === 'call').map((e) => e.type === 'call' && [e.ok, e.errorKind, e.seconds > 0]), [[false, 'http', true]]);
    retries.forEach((r, i) => {
      // Equal jitter: the n-th delay d = 40 * 2^n lies in [d/2, d].
      const d = 40 * 2 ** i;
      assert.ok(r.type === 'retry' && r.delayMs >= d / 2 && r.delayMs <= d, `retry ${i + 1} waited ${r.type === 'retry' && r.delayMs} ms, expected ${d / 2}..${d}`);
    });
    gaps(server, '/down').forEach((gap, i) => assert.ok(gap >= 40 * 2 ** i / 2 - 2, `gap ${i} was ${gap} ms`));
    assert.deepEqual(h.events.filter((e) => e.type === 'attempt').map((e) => e.type === 'attempt' && [e.attempt, e.ok, e.errorKind, e.status]), [
      [1, false, 'http', 503], [2, false, 'http', 503], [3, false, 'http', 503], [4, false, 'http', 503],
    ]);
  });

  it('survives a reset and a 502, then returns the answer', async () => {
    server.script('/flaky', { reset: true }, { status: 502 }, { status: 200, body: { hello: 'world' } });
    const h = httpToolHarness(server, { maxRetries: 3, backoffInitialMs: 5 });
    const output = (await h.call('/flaky', { key: 'wf-b:t-1' })) as { status: number; json: unknown };
    assert.equal(output.status, 200);
    assert.deepEqual(output.json, { hello: 'world' });
    assert.equal(server.countFor('wf-b:t-1'), 3);
    assert.deepEqual(h.events.filter((e) => e.type === 'attempt').map((e) => e.type === 'attempt' && e.errorKind), ['network', 'http', undefined]);
  });

  it('does not retry terminal errors: other 4xx, a host outside the allow-list, invalid input', async () => {
    server.script('/missing', { status: 404 });
    const h = httpToolHarness(server, { maxRetries: 5, backoffInitialMs: 5 });
    const notFound = await h.fail('/missing', { key: 'wf-c:404' });
    assert.deepEqual([notFound.kind, notFound.status, notFound.attempts], ['http', 404, 1]);
    assert.equal(server.countFor('wf-c:404'), 1);
    const before = server.requests.length;
    const elsewhere = await h.fail('/x', { input: { url: 'http://169.254.169.254/latest/meta-data' } });
    assert.deepEqual([elsewhere.kind, elsewhere.attempts], ['host_not_allowed', 1]);
    const bad = await h.fail('/x', { input: { method: 'FETCH' } });
    assert.equal(bad.kind, 'invalid_input');
    assert.equal(server.requests.length, before);
    assert.equal(h.events.filter((e) => e.type === 'retry').length, 0);
  });

  it('honours Retry-After on 429 and gives up at once when it is longer than maxRetryAfterMs', async () => {
    server.script('/limited', { status: 429, headers: { 'retry-after': '1' } }, { status: 200, body: { ok: 1 } });
    const h = httpToolHarness(server, { maxRetries: 2, backoffInitialMs: 5, maxRetryAfterMs: 2_000 });
    await h.call('/limited', { key: 'wf-d:t' });
    const [gap] = gaps(server, '/limited');
    assert.ok(gap! >= 990, `waited only ${gap} ms despite Retry-After: 1`);
    server.script('/too-long', { status: 429, headers: { 'retry-after': '3600' } });
    const error = await h.fail('/too-long', { key: 'wf-d:long' });
    assert.deepEqual([error.kind, error.status, error.attempts, error.retryAfterMs], ['http', 429, 1, 3_600_000]);
    assert.equal(server.countFor('wf-d:long'), 1);
  });

  it('opens the breaker after N failures, fails fast while open, half-opens after the cool-down and closes on success', async () => {
    server.script('/broken', { status: 500 });
    const h = httpToolHarness(server, { maxRetries: 0, breakerThreshold: 3, breakerHalfOpenMs: 300 });
    const policy = h.invoker.policy('http.request')!;
    for (let i = 0; i < 3; i++) assert.equal((await h.fail('/broken')).kind, 'http');
    assert.equal(policy.state().breaker, 'open');
    const seen = server.requests.length;
    const fast = await h.fail('/broken');
    assert.deepEqual([fast.kind, fast.attempts], ['circuit_open', 0]);
    assert.equal(server.requests.length, seen, 'an open breaker must not reach the server');
    // Only the cool-down lets a test call through.
    await delay(320);
    server.script('/broken', { status: 200, body: {} });
    await h.call('/broken');
    assert.equal(policy.state().breaker, 'closed');
    assert.deepEqual(h.events.filter((e) => e.type === 'breaker').map((e) => e.type === 'breaker' && e.state), ['open', 'half_open', 'closed']);
  });

  it('re-opens when the half-open test call fails, and the retry stops at an open breaker', async () => {
    server.script('/down-again', { status: 503 });
    const h = httpToolHarness(server, { maxRetries: 5, backoffInitialMs: 1, breakerThreshold: 2, breakerHalfOpenMs: 200 });
    const first = await h.fail('/down-again', { key: 'wf-e:1' });
    // Two failures open the breaker; the third attempt is refused without a request.
    assert.deepEqual([first.kind, first.attempts], ['circuit_open', 2]);
    assert.equal(server.countFor('wf-e:1'), 2);
    await delay(220);
    const probe = await h.fail('/down-again', { key: 'wf-e:2' });
    assert.deepEqual([probe.kind, probe.attempts], ['circuit_open', 1]);
    assert.equal(h.invoker.policy('http.request')!.state().breaker, 'open');
    // Every attempt is reported for the journal, the refused one too (it never ran).
    const attempts = h.events.flatMap((e) => (e.type === 'attempt' && e.idempotencyKey === 'wf-e:1' ? [[e.attempt, e.ok, e.refused ?? false, e.errorKind]] : []));
    assert.deepEqual(attempts, [[1, false, false, 'http'], [2, false, false, 'http'], [3, false, true, 'circuit_open']]);
  });

  it('opens a sampling breaker when the failed share over the window exceeds the threshold', async () => {
    server.script('/half-bad', { status: 200, body: {} }, { status: 500 }, { status: 500 }, { status: 500 });
    const h = httpToolHarness(server, { maxRetries: 0, breaker: 'sampling', breakerThreshold: 0.5, breakerSamplingMs: 5_000, breakerMinimumRps: 0.1 });
    const policy = h.invoker.policy('http.request')!;
    await h.call('/half-bad');
    await h.fail('/half-bad');
    // 1 of 2 failed: not over the threshold yet.
    assert.equal(policy.state().breaker, 'closed');
    await h.fail('/half-bad');
    // 2 of 3 failed.
    assert.equal(policy.state().breaker, 'open');
    assert.equal((await h.fail('/half-bad')).kind, 'circuit_open');
  });

  it('does not count rate limits or caller errors toward the breaker', async () => {
    server.script('/teapot', { status: 418 });
    const h = httpToolHarness(server, { maxRetries: 0, breakerThreshold: 2 });
    for (let i = 0; i < 4; i++) assert.equal((await h.fail('/teapot')).kind, 'http');
    assert.equal(h.invoker.policy('http.request')!.state().breaker, 'closed');
  });

  it('caps concurrency with the bulkhead, queues up to maxQueue and refuses the rest', async () => {
    server.script('/slow', { status: 200, body: {}, delayMs: 200 });
    server.maxInFlight = 0;
    const h = httpToolHarness(server, { maxConcurrent: 2, maxQueue: 1 });
    const start = server.requests.length;
    const calls = [0, 1, 2].map((i) => h.call('/slow', { key: `wf-f:${i}` }));
    const refused = await h.fail('/slow', { key: 'wf-f:3' });
    assert.deepEqual([refused.kind, refused.attempts], ['bulkhead_full', 0]);
    await server.waitForRequests(start + 2);
    assert.deepEqual(h.invoker.states().map((s) => [s.tool, s.active, s.queued]), [['http.request', 2, 1]]);
    await Promise.all(calls);
    assert.equal(server.maxInFlight, 2);
    assert.equal(server.requests.length - start, 3);
    assert.equal(server.countFor('wf-f:3'), 0);
    assert.deepEqual(h.invoker.states().map((s) => [s.active, s.queued]), [[0, 0]]);
    assert.equal(h.events.filter((e) => e.type === 'bulkhead_rejected').length, 1);
    const refusal = h.events.find((e) => e.type === 'attempt' && e.idempotencyKey === 'wf-f:3');
    assert.deepEqual(refusal && refusal.type === 'attempt' && [refusal.attempt, refusal.refused, refusal.errorKind], [1, true, 'bulkhead_full']);
    const outcomes = h.events.filter((e) => e.type === 'call').map((e) => e.type === 'call' && (e.ok ? 'ok' : e.errorKind));
    assert.deepEqual(outcomes.sort(), ['bulkhead_full', 'ok', 'ok', 'ok']);
  });

  it('refuses at once with maxQueue 0', async () => {
    server.script('/slow0', { status: 200, body: {}, delayMs: 100 });
    const h = httpToolHarness(server, { maxConcurrent: 1, maxQueue: 0 });
    const running = h.call('/slow0');
    assert.equal((await h.fail('/slow0')).kind, 'bulkhead_full');
    await running;
  });

  it('aborts an attempt at its timeout (the server sees the connection close) and retries it', async () => {
    server.script('/hang', { hang: true });
    const h = httpToolHarness(server, { attemptTimeoutMs: 100, maxRetries: 1, backoffInitialMs: 1 });
    const dropped = server.dropped.length;
    const error = await h.fail('/hang', { key: 'wf-g:t' });
    assert.deepEqual([error.kind, error.attempts], ['timeout', 2]);
    assert.match(error.message, /attempt 2 timed out after 100 ms/);
    await server.waitForDropped(dropped + 2);
    assert.equal(server.countFor('wf-g:t'), 2);
  });

  it('stops the whole call at the total timeout, aborting the attempt in flight', async () => {
    server.script('/hang-total', { hang: true });
    const h = httpToolHarness(server, { attemptTimeoutMs: 10_000, totalTimeoutMs: 200, maxRetries: 5 });
    const dropped = server.dropped.length;
    const started = Date.now();
    const error = await h.fail('/hang-total', { key: 'wf-h:t' });
    assert.ok(Date.now() - started < 2_000, 'gave up within 2 s');
    assert.deepEqual([error.kind, error.attempts], ['timeout', 1]);
    assert.match(error.message, /200 ms in total/);
    await server.waitForDropped(dropped + 1);
  });

  it('aborts the request when the caller cancels', async () => {
    server.script('/hang-cancel', { hang: true });
    const h = httpToolHarness(server, {});
    const controller = new AbortController();
    const dropped = server.dropped.length;
    const arrived = server.requests.length;
    const call = h.fail('/hang-cancel', { signal: controller.signal });
    await server.waitForRequests(arrived + 1);
    controller.abort(new Error('the task was cancelled'));
    const error = await call;
    assert.deepEqual([error.kind, error.tool], ['cancelled', 'http.request']);
    await server.waitForDropped(dropped + 1);
  });

  it('returns at once when a call waiting in the bulkhead queue is cancelled', async () => {
    server.script('/hang-queue', { hang: true });
    const h = httpToolHarness(server, { maxConcurrent: 1, maxQueue: 1 });
    const first = new AbortController();
    const second = new AbortController();
    const arrived = server.requests.length;
    const running = h.fail('/hang-queue', { signal: first.signal, key: 'q:1' });
    const queued = h.fail('/hang-queue', { signal: second.signal, key: 'q:2' });
    await server.waitForRequests(arrived + 1);
    assert.deepEqual(h.invoker.states().map((s) => [s.active, s.queued]), [[1, 1]]);
    second.abort(new Error('the task was cancelled'));
    assert.equal((await queued).kind, 'cancelled');
    first.abort(new Error('the engine is stopping'));
    assert.equal((await running).kind, 'cancelled');
    assert.equal(server.countFor('q:2'), 0, 'a cancelled queued call never runs');
  });
});

describe('ToolPolicy with in-process adapters', () => {
  it('returns at the attempt timeout even when the adapter ignores its signal', async () => {
    let aborted = false;
    const registry = new ToolRegistry({
      'stuck.tool': (_input, { signal }) => {
        signal.addEventListener('abort', () => (aborted = true));
        return new Promise(() => {});
      },
    });
    const invoker = new ResilientToolInvoker(registry, { overrides: { defaults: { attemptTimeoutMs: 50, maxRetries: 0 }, tools: {} } });
    await assert.rejects(invoker.invoke('stuck.tool', {}, { signal: new AbortController().signal, idempotencyKey: 'k', attempt: 1 }), (e: unknown) => e instanceof ToolError && e.kind === 'timeout' && e.attempts === 1);
    assert.equal(aborted, true);
  });

  it('passes local tool errors through as terminal invalid_input / tool_error', async () => {
    const registry = new ToolRegistry({
      'bad.input': async () => { throw Object.assign(new Error('numbers must be numbers'), { code: 'invalid_argument' }); },
      'boom': async () => { throw new Error('boom'); },
    });
    const invoker = new ResilientToolInvoker(registry);
    const ctx = { signal: new AbortController().signal, idempotencyKey: 'k', attempt: 1 };
    await assert.rejects(invoker.invoke('bad.input', {}, ctx), (e: unknown) => e instanceof ToolError && e.kind === 'invalid_input' && e.attempts === 1 && e.tool === 'bad.input');
    await assert.rejects(invoker.invoke('boom', {}, ctx), (e: unknown) => e instanceof ToolError && e.kind === 'tool_error' && e.attempts === 1);
  });
});
