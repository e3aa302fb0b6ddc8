/**
 * The Prometheus text exposition format (version 0.0.4), written out from
 * plain metric families. It knows nothing about agents; `metrics.ts` decides
 * what is measured.
 *
 * @module
 */

/** The `Content-Type` a `/metrics` endpoint serves this format with. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** A monotonically increasing count (name ends in `_total`), or a value that goes up and down. */
export type MetricType = 'counter' | 'gauge';

/** One sample of a family: its labels (possibly none) and its value. */
export interface MetricSample {
  /** Label names to values. @defaultValue no labels */
  readonly labels?: Readonly<Record<string, string>>;
  readonly value: number;
}

/** A named metric with its HELP text, TYPE and samples. */
export interface MetricFamily {
  /** `[a-zA-Z_:][a-zA-Z0-9_:]*`; a counter's name ends in `_total`. */
  readonly name: string;
  /** One line of help; backslashes and newlines are escaped on output. */
  readonly help: string;
  readonly type: MetricType;
  readonly samples: readonly MetricSample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * Formats families as Prometheus text: for each, a `# HELP` and a `# TYPE`
 * line, then one line per sample. Output ends with a newline.
 *
 * @throws TypeError on a malformed metric or label name, a counter not named
 *   `*_total`, a negative counter, a label name starting with `__`, or a
 *   family name used twice; these are programming errors, so they are caught
 *   by tests rather than shipped as a scrape a server would reject
 */
export function formatExposition(families: readonly MetricFamily[]): string {
  const seen = new Set<string>();
  const lines: string[] = [];
  for (const family of families) {
    checkFamily(family, seen);
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`);
    lines.push(`# TYPE ${family.name} ${family.type}`);
    for (const sample of family.samples) {
      if (family.type === 'counter' && !(sample.value >= 0)) {
        throw new TypeError(`counter ${family.name} has a negative or NaN value (${sample.value})`);
      }
      lines.push(`${family.name}${formatLabels(sample.labels)} ${formatValue(sample.value)}`);
    }
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

function checkFamily(family: MetricFamily, seen: Set<string>): void {
  const { name, type } = family;
  if (!METRIC_NAME.test(name)) throw new TypeError(`bad metric name ${JSON.stringify(name)}`);
  if (type === 'counter' && !name.endsWith('_total')) {
    throw new TypeError(`counter ${name} must be named *_total`);
  }
  if (seen.has(name)) throw new TypeError(`metric ${name} is defined twice`);
  seen.add(name);
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
