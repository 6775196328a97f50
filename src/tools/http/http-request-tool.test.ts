import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FaultServer } from '../test-support/fault-server.js';
import { ToolError } from '../tool-error.js';
import { HostAllowList } from './host-allow-list.js';
import { createHttpRequestTool } from './http-request-tool.js';
import { parseRetryAfter } from './retry-after.js';

const ctx = (idempotencyKey = 'wf-1:task-1') => ({ signal: new AbortController().signal, idempotencyKey, attempt: 1 });

describe('http.request', () => {
  let server: FaultServer;
  before(async () => (server = await FaultServer.start()));
  after(() => server.close());

  it('sends method, headers, a JSON body and the Idempotency-Key (overriding a given one)', async () => {
    server.script('/echo', { status: 201, body: { created: true } });
    const tool = createHttpRequestTool({ allowList: new HostAllowList([server.host]) });
    const output = await tool({ method: 'post', url: server.url('/echo?x=1'), headers: { 'X-Trace': 'abc', 'Idempotency-Key': 'forged' }, json: { a: [1, 2] } }, ctx('wf-9:t-3'));
    assert.deepEqual([output.status, output.json, output.body], [201, { created: true }, '{"created":true}']);
    const seen = server.requests.at(-1)!;
    assert.deepEqual([seen.method, seen.idempotencyKey, seen.headers['x-trace'], seen.headers['content-type'], seen.body], ['POST', 'wf-9:t-3', 'abc', 'application/json', '{"a":[1,2]}']);
  });

  it('returns text bodies and accepts listed non-2xx statuses', async () => {
    server.script('/text', { status: 404, body: 'nothing here' });
    const tool = createHttpRequestTool({ allowList: new HostAllowList([server.host]) });
    const output = await tool({ url: server.url('/text'), expectStatus: [200, 404] }, ctx());
    assert.deepEqual([output.status, output.body, output.json], [404, 'nothing here', undefined]);
  });

  it('refuses hosts and ports outside the allow-list without sending anything', async () => {
    const before = server.requests.length;
    const other = createHttpRequestTool({ allowList: new HostAllowList(['127.0.0.1:1']) });
    await assert.rejects(other({ url: server.url('/echo') }, ctx()), (e: unknown) => e instanceof ToolError && e.kind === 'host_not_allowed' && !e.retryable);
    const none = createHttpRequestTool({ allowList: new HostAllowList([]) });
    await assert.rejects(none({ url: server.url('/echo') }, ctx()), (e: unknown) => e instanceof ToolError && e.kind === 'host_not_allowed');
    assert.equal(server.requests.length, before);
    const list = new HostAllowList(['*.example.com', 'api.test:8443', '[::1]']);
    assert.equal(list.allows(new URL('https://a.example.com/x')), true);
    assert.equal(list.allows(new URL('https://example.com/x')), false);
    assert.equal(list.allows(new URL('https://api.test:8443/')), true);
    assert.equal(list.allows(new URL('https://api.test/')), false);
    assert.equal(list.allows(new URL('http://[::1]:99/')), true);
  });

  it('does not follow redirects (they could leave the allow-list)', async () => {
    server.script('/moved', { status: 302, headers: { location: 'http://169.254.169.254/' } });
    const tool = createHttpRequestTool({ allowList: new HostAllowList([server.host]) });
    await assert.rejects(tool({ url: server.url('/moved') }, ctx()), (e: unknown) => e instanceof ToolError && e.kind === 'http' && e.status === 302 && !e.retryable);
  });

  it('classifies failures: 5xx/429 retryable with Retry-After, other 4xx terminal, resets as network', async () => {
    const tool = createHttpRequestTool({ allowList: new HostAllowList([server.host]) });
    server.script('/e', { status: 429, headers: { 'retry-after': '2' } }, { status: 503 }, { status: 400, body: 'bad' }, { reset: true });
    const errors: ToolError[] = [];
    for (let i = 0; i < 4; i++) {
      await tool({ url: server.url('/e') }, ctx()).then(
        () => assert.fail('expected a failure'),
        (e: unknown) => errors.push(e as ToolError),
      );
    }
    assert.deepEqual(errors.map((e) => [e.kind, e.status, e.retryable, e.retryAfterMs]), [
      ['http', 429, true, 2000],
      ['http', 503, true, undefined],
      ['http', 400, false, undefined],
      ['network', undefined, true, undefined],
    ]);
  });

  it('rejects bad input as invalid_input', async () => {
    const tool = createHttpRequestTool({ allowList: new HostAllowList([server.host]) });
    for (const input of [{ url: 'not a url' }, { url: 'file:///etc/passwd' }, { url: server.url('/'), json: {}, body: 'x', method: 'POST' }, { url: server.url('/'), body: 'x' }, { url: server.url('/'), expectStatus: [99] }]) {
      await assert.rejects(tool(input, ctx()), (e: unknown) => e instanceof ToolError && e.kind === 'invalid_input', JSON.stringify(input));
    }
  });

  it('parses Retry-After seconds and dates', () => {
    assert.equal(parseRetryAfter('3'), 3000);
    assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4_000), 6_000);
    assert.equal(parseRetryAfter('soon'), undefined);
    assert.equal(parseRetryAfter(null), undefined);
  });
});
