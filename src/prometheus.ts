/**
 * The Prometheus text exposition format (version 0.0.4), written out from
 * plain metric families. It knows nothing about agents; `metrics.ts` decides
 * what is measured.
 *
 * @module
 */

/** The `Content-Type` a `/metrics` endpoint serves this format with. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * A monotonically increasing count (name ends in `_total`), a value that goes
 * up and down, or a histogram (cumulative `_bucket{le=…}` counts, `_sum`
 * and `_count`).
 */
export type MetricType = 'counter' | 'gauge' | 'histogram';

/** One sample of a counter or gauge family: its labels (possibly none) and its value. */
export interface MetricSample {
  /** Label names to values. @defaultValue no labels */
  readonly labels?: Readonly<Record<string, string>>;
  readonly value: number;
}

/** One bucket of a histogram: observations at or below `le`. */
export interface HistogramBucket {
  /** The bucket's upper bound, finite; the `+Inf` bucket is implied by `count`. */
  readonly le: number;
  /** Observations at or below `le` (cumulative, as Prometheus counts them). */
  readonly count: number;
}

/** One labelled series of a histogram family. */
export interface HistogramSample {
  /** Label names to values; never `le`, which the buckets add. @defaultValue no labels */
  readonly labels?: Readonly<Record<string, string>>;
  /** The finite buckets, by ascending `le`, with non-decreasing counts. */
  readonly buckets: readonly HistogramBucket[];
  /** All observations (the `+Inf` bucket). */
  readonly count: number;
  /** The sum of the observed values. */
  readonly sum: number;
}

interface FamilyBase {
  /** `[a-zA-Z_:][a-zA-Z0-9_:]*`; a counter's name ends in `_total`. */
  readonly name: string;
  /** One line of help; backslashes and newlines are escaped on output. */
  readonly help: string;
}

/** A counter or gauge with its HELP text, TYPE and samples. */
export interface ScalarFamily extends FamilyBase {
  readonly type: 'counter' | 'gauge';
  readonly samples: readonly MetricSample[];
}

/** A histogram with its HELP text and series. */
export interface HistogramFamily extends FamilyBase {
  readonly type: 'histogram';
  readonly samples: readonly HistogramSample[];
}

/** A named metric with its HELP text, TYPE and samples. */
export type MetricFamily = ScalarFamily | HistogramFamily;

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * Formats families as Prometheus text: for each, a `# HELP` and a `# TYPE`
 * line, then one line per sample; a histogram series is written as its
 * `_bucket` lines (the finite buckets, then `le="+Inf"`), `_sum` and
 * `_count`. Output ends with a newline.
 *
 * @throws TypeError on a malformed metric or label name, a counter not named
 *   `*_total`, a negative counter, a label name starting with `__`, a family
 *   name used twice (a histogram's `_bucket`, `_sum` and `_count` included),
 *   or a histogram series with an `le` label, buckets out of order or counts
 *   that decrease or exceed its count; these are programming errors, so they
 *   are caught by tests rather than shipped as a scrape a server would reject
 */
export function formatExposition(families: readonly MetricFamily[]): string {
  const seen = new Set<string>();
  const lines: string[] = [];
  for (const family of families) {
    checkFamily(family, seen);
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`);
    lines.push(`# TYPE ${family.name} ${family.type}`);
    if (family.type === 'histogram') {
      for (const sample of family.samples) writeHistogram(lines, family.name, sample);
      continue;
    }
    for (const sample of family.samples) {
      if (family.type === 'counter' && !(sample.value >= 0)) {
        throw new TypeError(`counter ${family.name} has a negative or NaN value (${sample.value})`);
      }
      lines.push(`${family.name}${formatLabels(sample.labels)} ${formatValue(sample.value)}`);
    }
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'] as const;

function checkFamily(family: MetricFamily, seen: Set<string>): void {
  const { name, type } = family;
  if (!METRIC_NAME.test(name)) throw new TypeError(`bad metric name ${JSON.stringify(name)}`);
  if (type === 'counter' && !name.endsWith('_total')) {
    throw new TypeError(`counter ${name} must be named *_total`);
  }
  const names = type === 'histogram' ? [name, ...HISTOGRAM_SUFFIXES.map((suffix) => name + suffix)] : [name];
  for (const n of names) {
    if (seen.has(n)) throw new TypeError(`metric ${n} is defined twice`);
    seen.add(n);
  }
}

function writeHistogram(lines: string[], name: string, sample: HistogramSample): void {
  const { labels = {}, buckets, count, sum } = sample;
  if (Object.hasOwn(labels, 'le')) throw new TypeError(`histogram ${name} has a sample labelled le`);
  if (!(count >= 0) || Number.isNaN(sum)) throw new TypeError(`histogram ${name} has a bad count or sum`);
  let previous: HistogramBucket | undefined;
  for (const bucket of buckets) {
    if (!Number.isFinite(bucket.le) || (previous !== undefined && !(bucket.le > previous.le))) {
      throw new TypeError(`histogram ${name} has buckets out of order (le ${bucket.le})`);
    }
    if (!(bucket.count >= (previous?.count ?? 0)) || bucket.count > count) {
      throw new TypeError(`histogram ${name} has a bucket count out of range (le ${bucket.le}: ${bucket.count})`);
    }
    previous = bucket;
    lines.push(`${name}_bucket${formatLabels({ ...labels, le: formatValue(bucket.le) })} ${formatValue(bucket.count)}`);
  }
  lines.push(`${name}_bucket${formatLabels({ ...labels, le: '+Inf' })} ${formatValue(count)}`);
  lines.push(`${name}_sum${formatLabels(sample.labels)} ${formatValue(sum)}`);
  lines.push(`${name}_count${formatLabels(sample.labels)} ${formatValue(count)}`);
}

function formatLabels(labels: Readonly<Record<string, string>> | undefined): string {
  if (labels === undefined) return '';
  const parts = Object.entries(labels).map(([name, value]) => {
    if (!LABEL_NAME.test(name) || name.startsWith('__')) {
      throw new TypeError(`bad label name ${JSON.stringify(name)}`);
    }
    return `${name}="${escapeLabelValue(value)}"`;
  });
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function escapeLabelValue(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
