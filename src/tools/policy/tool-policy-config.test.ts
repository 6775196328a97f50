import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../config.js';
import { checkOverridesKnown, loadToolPolicyOverrides, resolveToolPolicy, toolKey } from './tool-policy-config.js';
import { DEFAULT_TOOL_POLICY, ToolPolicyConfigError } from './tool-policy-options.js';

describe('tool policy configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tool-policy-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, content: unknown) => {
    const path = join(dir, name);
    writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
    return path;
  };

  it('uses sane, bounded defaults (never retries forever)', () => {
    const policy = resolveToolPolicy('http.request');
    assert.deepEqual(policy, DEFAULT_TOOL_POLICY);
    assert.ok(policy.maxRetries > 0 && policy.maxRetries <= 10, 'the default retries are between 1 and 10');
    assert.ok(resolveToolPolicy('llm.chat').attemptTimeoutMs > policy.attemptTimeoutMs, 'models get a longer attempt timeout');
  });

  it('merges file and env: defaults < built-in tool defaults < tool overrides; env beats the file', () => {
    const path = file('ok.json', { defaults: { maxRetries: 1, attemptTimeoutMs: 5_000 }, tools: { 'http.request': { breaker: 'sampling', breakerThreshold: 0.5 }, 'llm.chat': { maxConcurrent: 2 } } });
    const overrides = loadToolPolicyOverrides({ TOOL_POLICY_HTTP_REQUEST_MAX_RETRIES: '7', TOOL_POLICY_DEFAULT_BACKOFF_MAX_MS: '900', TOOL_POLICY_LLM_CHAT_BREAKER_HALF_OPEN_MS: '1234', UNRELATED: 'x' }, path);
    const http = resolveToolPolicy('http.request', overrides);
    assert.deepEqual([http.maxRetries, http.attemptTimeoutMs, http.breaker, http.breakerThreshold, http.backoffMaxMs], [7, 5_000, 'sampling', 0.5, 900]);
    const llm = resolveToolPolicy('llm.chat', overrides);
    assert.deepEqual([llm.maxRetries, llm.attemptTimeoutMs, llm.maxConcurrent, llm.breakerHalfOpenMs], [1, 120_000, 2, 1234]);
    assert.equal(toolKey('text.wordCount'), 'TEXT_WORDCOUNT');
  });

  it('refuses bad values and unknown fields with messages naming the source', () => {
    assert.throws(() => loadToolPolicyOverrides({ TOOL_POLICY_HTTP_REQUEST_MAX_RETRIES: 'many' }), (e: unknown) => e instanceof ToolPolicyConfigError && /TOOL_POLICY_HTTP_REQUEST_MAX_RETRIES: must be a whole number from 0 to 100/.test(e.message));
    assert.throws(() => loadToolPolicyOverrides({ TOOL_POLICY_HTTP_REQUEST_RETRIES: '3' }), /expected TOOL_POLICY_<TOOL\|DEFAULT>_<FIELD>/);
    assert.throws(() => loadToolPolicyOverrides({ TOOL_POLICY_DEFAULT_BREAKER: 'fuse' }), /must be one of consecutive, sampling/);
    assert.throws(() => loadToolPolicyOverrides({}, file('bad.json', '{ nope')), /cannot read it as JSON/);
    assert.throws(() => loadToolPolicyOverrides({}, file('field.json', { tools: { 'http.request': { retries: 2 } } })), /tools\["http.request"\].retries: unknown policy field 'retries'/);
    assert.throws(() => loadToolPolicyOverrides({}, file('top.json', { tool: {} })), /unknown key 'tool'/);
    assert.throws(() => loadToolPolicyOverrides({}, join(dir, 'missing.json')), /cannot read it as JSON/);
    const sampling = loadToolPolicyOverrides({ TOOL_POLICY_DEFAULT_BREAKER: 'sampling', TOOL_POLICY_DEFAULT_BREAKER_THRESHOLD: '5' });
    assert.throws(() => resolveToolPolicy('x', sampling), /share in \(0, 1\) for a sampling breaker/);
    assert.throws(() => checkOverridesKnown(loadToolPolicyOverrides({ TOOL_POLICY_HTTP_REQEST_MAX_RETRIES: '1' }), ['http.request']), /unknown tool 'HTTP_REQEST'/);
  });

  it('fails config loading with a ConfigError for bad policies, hosts or LLM URL', () => {
    assert.throws(() => loadConfig({ TOOL_POLICY_DEFAULT_MAX_QUEUE: '-1' }), (e: unknown) => e instanceof ConfigError && /MAX_QUEUE/.test(e.message));
    assert.throws(() => loadConfig({ HTTP_TOOL_ALLOWED_HOSTS: 'ok.example.com,bad host:x' }), (e: unknown) => e instanceof ConfigError && /HTTP_TOOL_ALLOWED_HOSTS: bad allowed host/.test(e.message));
    assert.throws(() => loadConfig({ LLM_BASE_URL: 'ftp://x' }), ConfigError);
    const config = loadConfig({ HTTP_TOOL_ALLOWED_HOSTS: 'api.example.com, *.internal:8443', LLM_BASE_URL: 'http://127.0.0.1:9/v1', LLM_MODEL: 'm', TOOL_POLICY_LLM_CHAT_MAX_RETRIES: '2' });
    assert.deepEqual(config.httpToolAllowedHosts, ['api.example.com', '*.internal:8443']);
    assert.deepEqual([config.llmBaseUrl, config.llmModel, config.llmApiKey], ['http://127.0.0.1:9/v1', 'm', undefined]);
    assert.deepEqual(config.toolPolicies.tools, { LLM_CHAT: { maxRetries: 2 } });
  });
});
