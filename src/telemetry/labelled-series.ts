import type { Metric, Registry } from 'prom-client';

/**
 * Counters, gauges and histograms for the hot paths (every RPC, every transition): a label set
 * resolves once to its series, and updating a series is an addition. prom-client's own metrics
 * validate and hash the labels on every update (six of them cost ~15 us per RPC, 8% of a no-op
 * call's CPU). These register on a prom-client registry and render through it, so the exposition
 * is the same; a series exists (at zero) from its first lookup.
 */
type Labels<L extends string> = Readonly<Record<L, string>>;

interface Sample {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

abstract class Family<L extends string, S> {
  readonly #series = new Map<string, { labels: Labels<L>; series: S }>();
  abstract readonly type: 'counter' | 'gauge' | 'histogram';
  readonly aggregator = 'sum';

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly L[],
    registry: Registry,
  ) {
    // The registry renders anything with a name, help, type and get(); prom-client types only its own classes.
    registry.registerMetric(this as unknown as Metric);
  }

  /** The series of these label values: look it up once and keep it where updates are frequent. */
  series(labels: Labels<L>): S {
    const key = this.labelNames.length === 1 ? labels[this.labelNames[0]!] : this.labelNames.map((name) => labels[name]).join('\u0000');
    let entry = this.#series.get(key);
    if (!entry) {
      for (const name of this.labelNames) if (typeof labels[name] !== 'string') throw new TypeError(`${this.name}: label ${name} missing`);
      entry = { labels: Object.fromEntries(this.labelNames.map((name) => [name, labels[name]])) as Labels<L>, series: this.create() };
      this.#series.set(key, entry);
    }
    return entry.series;
  }

  protected abstract create(): S;
  protected abstract samples(labels: Labels<L>, series: S): Sample[];

  /** What prom-client's registry reads at a scrape. */
  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Sample[] }> {
    // Without labels the one series exists from the start, as prom-client's does.
    if (this.labelNames.length === 0) this.series({} as Labels<L>);
    const values: Sample[] = [];
    for (const { labels, series } of this.#series.values()) values.push(...this.samples(labels, series));
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** Drops every series, as prom-client's reset does: series looked up before no longer render (the service never resets its registry). */
  reset(): void {
    this.#series.clear();
  }
}

export class CounterSeries {
  value = 0;
  inc(by = 1): void {
    if (!(by >= 0)) throw new TypeError(`a counter only goes up, not by ${by}`);
    this.value += by;
  }
}

export class CounterFamily<L extends string> extends Family<L, CounterSeries> {
  readonly type = 'counter';
  inc(labels: Labels<L>, by = 1): void {
    this.series(labels).inc(by);
  }
  protected create(): CounterSeries {
    return new CounterSeries();
  }
  protected samples(labels: Labels<L>, series: CounterSeries): Sample[] {
    return [{ value: series.value, labels: { ...labels } }];
  }
}

export class GaugeSeries {
  value = 0;
  inc(by = 1): void {
    this.value += by;
  }
  dec(by = 1): void {
    this.value -= by;
  }
}

export class GaugeFamily<L extends string> extends Family<L, GaugeSeries> {
  readonly type = 'gauge';
  protected create(): GaugeSeries {
    return new GaugeSeries();
  }
  protected samples(labels: Labels<L>, series: GaugeSeries): Sample[] {
    return [{ value: series.value, labels: { ...labels } }];
  }
}

export class HistogramSeries {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length);
  }
  observe(value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`not a finite number: ${value}`);
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    if (i < bounds.length) this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

export class HistogramFamily<L extends string> extends Family<L, HistogramSeries> {
  readonly type = 'histogram';
  readonly #bounds: readonly number[];

  constructor(name: string, help: string, labelNames: readonly L[], buckets: readonly number[], registry: Registry) {
    super(name, help, labelNames, registry);
    this.#bounds = [...buckets].sort((a, b) => a - b);
  }

  observe(labels: Labels<L>, value: number): void {
    this.series(labels).observe(value);
  }

  protected create(): HistogramSeries {
    return new HistogramSeries(this.#bounds);
  }

  // As prom-client renders a histogram: cumulative buckets with `le` (first), then _sum and _count.
  protected samples(labels: Labels<L>, series: HistogramSeries): Sample[] {
    const out: Sample[] = [];
    let cumulative = 0;
    series.bounds.forEach((le, i) => {
      cumulative += series.counts[i]!;
      out.push({ metricName: `${this.name}_bucket`, labels: { le, ...labels }, value: cumulative });
    });
    out.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf', ...labels }, value: series.count });
    out.push({ metricName: `${this.name}_sum`, labels: { ...labels }, value: series.sum });
    out.push({ metricName: `${this.name}_count`, labels: { ...labels }, value: series.count });
    return out;
  }
}
