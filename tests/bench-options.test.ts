import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseBenchArgs, UsageError } from '../bench/bench-options.js';

describe('bench options (bench/bench-options.ts)', () => {
  it('takes open-loop rates as a list, none by default, one in a smoke run', () => {
    assert.deepEqual(parseBenchArgs(['--open-rates', '400, 800,1200'], {}).engine.openRates, [400, 800, 1200]);
    assert.deepEqual(parseBenchArgs([], {}).engine.openRates, []);
    assert.deepEqual(parseBenchArgs(['--smoke'], {}).engine.openRates, [200]);
  });

  it('refuses a rate or an in-flight level that is not a positive whole number, naming it', () => {
    assert.throws(() => parseBenchArgs(['--open-rates', '400,0'], {}), (e: unknown) => e instanceof UsageError && /--open-rates: '0' is not a positive whole number of SendEvents per second/.test(e.message));
    assert.throws(() => parseBenchArgs(['--open-rates', '1.5'], {}), UsageError);
    assert.throws(() => parseBenchArgs(['--concurrency', '1,eight'], {}), (e: unknown) => e instanceof UsageError && /--concurrency: 'eight' is not a positive whole number$/.test(e.message));
    assert.deepEqual(parseBenchArgs(['--concurrency', '2,16'], {}).concurrencies, [2, 16]);
  });

  it('records results only over several runs against Postgres', () => {
    const postgres = { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test' };
    assert.equal(parseBenchArgs(['--write-results'], postgres).writeResults, true);
    assert.throws(() => parseBenchArgs(['--write-results'], {}), (e: unknown) => e instanceof UsageError && /set DATABASE_URL/.test(e.message));
    assert.throws(() => parseBenchArgs(['--write-results', '--runs', '1'], postgres), (e: unknown) => e instanceof UsageError && /--runs >= 2/.test(e.message));
  });

  it('runs a compiled tree of --dist, the repository\'s dist/ with --compiled alone', () => {
    assert.deepEqual([parseBenchArgs(['--dist', 'bench/out/ab/x'], {}).compiled, parseBenchArgs(['--dist', 'bench/out/ab/x'], {}).distDir], [true, 'bench/out/ab/x']);
    assert.deepEqual([parseBenchArgs(['--compiled'], {}).compiled, parseBenchArgs(['--compiled'], {}).distDir], [true, undefined]);
    assert.equal(parseBenchArgs([], {}).compiled, false);
  });

  it('pairs a ceiling level with each engine level unless --unpaired', () => {
    assert.equal(parseBenchArgs([], {}).pairCeiling, true);
    assert.equal(parseBenchArgs(['--unpaired'], {}).pairCeiling, false);
  });
});
