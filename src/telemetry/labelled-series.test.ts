import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { CounterFamily, GaugeFamily, HistogramFamily } from './labelled-series.js';

const buckets = [0.01, 0.1, 1];

/** The same updates on prom-client's metrics and on ours render the same exposition text. */
describe('labelled series', () => {
  it('render exactly as prom-client renders the same updates', async () => {
    const theirs = new Registry();
    const ours = new Registry();
    const c1 = new Counter({ name: 'calls_total', help: 'Calls', labelNames: ['method', 'code'], registers: [theirs] });
    const c2 = new CounterFamily('calls_total', 'Calls', ['method', 'code'], ours);
    const g1 = new Gauge({ name: 'in_flight', help: 'In flight', labelNames: ['method'], registers: [theirs] });
    const g2 = new GaugeFamily('in_flight', 'In flight', ['method'], ours);
    const h1 = new Histogram({ name: 'seconds', help: 'Time "taken"\nper call', labelNames: ['method'], buckets, registers: [theirs] });
    const h2 = new HistogramFamily('seconds', 'Time "taken"\nper call', ['method'], buckets, ours);
    // Without labels: rendered at zero before any update.
    new Counter({ name: 'plain_total', help: 'P', registers: [theirs] });
    new CounterFamily('plain_total', 'P', [], ours);
    new Histogram({ name: 'plain_seconds', help: 'P', buckets, registers: [theirs] });
    new HistogramFamily('plain_seconds', 'P', [], buckets, ours);

    for (const [method, code, seconds] of [['Get', 'ok', 0.005], ['Get', 'ok', 0.1], ['Get', 'not_found', 2], ['Send "x"\\', 'ok', 0.5]] as const) {
      c1.inc({ method, code });
      c2.series({ method, code }).inc();
      h1.observe({ method }, seconds);
      h2.series({ method }).observe(seconds);
    }
    c1.inc({ method: 'Get', code: 'ok' }, 0);
    c2.inc({ method: 'Get', code: 'ok' }, 0);
    c1.inc({ method: 'List', code: 'ok' }, 0);
    c2.inc({ method: 'List', code: 'ok' }, 0);
    g1.inc({ method: 'Get' });
    g1.inc({ method: 'Get' });
    g1.dec({ method: 'Get' });
    const get = g2.series({ method: 'Get' });
    get.inc();
    get.inc();
    get.dec();
    h1.observe({ method: 'Get' }, 0.01); // exactly on a bound: in that bucket (le is "less or equal")
    h2.observe({ method: 'Get' }, 0.01);

    assert.equal(await ours.metrics(), await theirs.metrics());
    assert.deepEqual(JSON.parse(JSON.stringify(await ours.getMetricsAsJSON())).map(sorted), JSON.parse(JSON.stringify(await theirs.getMetricsAsJSON())).map(sorted));
  });

  it('refuse what prom-client refuses: a missing label, a counter going down, a value that is not a number', () => {
    const registry = new Registry();
    const counter = new CounterFamily('c_total', 'C', ['a', 'b'], registry);
    assert.throws(() => counter.series({ a: 'x' } as never), /label b missing/);
    assert.throws(() => counter.inc({ a: 'x', b: 'y' }, -1), /only goes up/);
    assert.throws(() => new HistogramFamily('h', 'H', [], buckets, registry).series({}).observe(Number.NaN), /finite/);
    assert.throws(() => new CounterFamily('c_total', 'C', [], registry), /already been registered/);
  });

  it('give the same series object for the same labels, and start from zero after a reset', async () => {
    const registry = new Registry();
    const counter = new CounterFamily('c_total', 'C', ['a'], registry);
    const one = counter.series({ a: 'x' });
    assert.equal(counter.series({ a: 'x' }), one);
    one.inc(3);
    registry.resetMetrics();
    assert.deepEqual((await counter.get()).values, []);
    assert.equal(counter.series({ a: 'x' }).value, 0);
  });
});

/** Sample order within a metric is the same; label key order need not be, and exemplars are not used. */
function sorted(metric: { values: { labels: Record<string, unknown>; exemplar?: unknown }[] }) {
  return { ...metric, values: metric.values.map(({ exemplar: _, ...v }) => ({ ...v, labels: Object.fromEntries(Object.entries(v.labels).sort()) })) };
}
