// A small, strict parser of the Prometheus text exposition format 0.0.4, for
// tests: it rejects what a Prometheus server would reject or silently
// misread (a sample before its TYPE, a repeated HELP/TYPE or sample, a bad
// name, escape or value, a counter not named *_total or negative, a
// histogram series whose buckets are not cumulative or lack +Inf, _sum or
// _count), so metrics that pass here scrape cleanly.

export interface ParsedSample {
  /** The sample's own name: a histogram's end in `_bucket`, `_sum` or `_count`. */
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface ParsedFamily {
  readonly name: string;
  help: string;
  readonly type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  readonly samples: ParsedSample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const HELP_LINE = new RegExp(`^# HELP (${NAME}) (.*)$`);
const TYPE_LINE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);
const SAMPLE_LINE = new RegExp(`^(${NAME})(\\{.*\\})? (\\S+)(?: (-?\\d+))?$`);
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"(,|$)/;
const VALUE = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|NaN|[+-]Inf)$/;
const HISTOGRAM_SUFFIX = /_(bucket|sum|count)$/;

export class ExpositionError extends Error {}

function fail(lineNo: number, line: string, why: string): never {
  throw new ExpositionError(`line ${lineNo}: ${why}: ${JSON.stringify(line)}`);
}

function unescape(text: string, help: boolean): string {
  return text.replace(/\\(.)/g, (_, c: string) => {
    if (c === 'n') return '\n';
    if (c === '\\') return '\\';
    if (c === '"' && !help) return '"';
    throw new ExpositionError(`bad escape \\${c}`);
  });
}

function parseLabels(text: string, lineNo: number, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let rest = text.slice(1, -1);
  while (rest.length > 0) {
    const m = LABEL.exec(rest);
    if (m === null) fail(lineNo, line, 'malformed labels');
    const [whole, name = '', raw = '', comma] = m;
    if (Object.hasOwn(labels, name)) fail(lineNo, line, `label ${name} repeated`);
    labels[name] = unescape(raw, false);
    rest = rest.slice(whole.length);
    if (comma === ',' && rest.length === 0) fail(lineNo, line, 'trailing comma in labels');
  }
  return labels;
}

/** Parses `text`; throws {@link ExpositionError} on the first violation. */
export function parseExposition(text: string): Map<string, ParsedFamily> {
  if (text.length > 0 && !text.endsWith('\n')) throw new ExpositionError('text must end with a newline');
  const families = new Map<string, ParsedFamily>();
  const help = new Map<string, string>();
  const seenSamples = new Set<string>();
  const lines = text.length === 0 ? [] : text.slice(0, -1).split('\n');
  lines.forEach((line, i) => {
    const lineNo = i + 1;
    if (line.startsWith('#')) {
      const h = HELP_LINE.exec(line);
      if (h !== null) {
        const [, name = '', body = ''] = h;
        if (help.has(name)) fail(lineNo, line, 'HELP repeated');
        const family = families.get(name);
        if (family !== undefined && family.samples.length > 0) fail(lineNo, line, 'HELP after samples');
        help.set(name, unescape(body, true));
        if (family !== undefined) family.help = unescape(body, true);
        return;
      }
      const t = TYPE_LINE.exec(line);
      if (t !== null) {
        const [, name = '', type = ''] = t;
        if (families.has(name)) fail(lineNo, line, 'TYPE repeated');
        if (type === 'counter' && !name.endsWith('_total')) fail(lineNo, line, 'counter not named *_total');
        families.set(name, { name, help: help.get(name) ?? '', type: type as ParsedFamily['type'], samples: [] });
        return;
      }
      fail(lineNo, line, 'a comment that is neither HELP nor TYPE');
    }
    const s = SAMPLE_LINE.exec(line);
    if (s === null) fail(lineNo, line, 'not a sample line');
    const [, name = '', rawLabels, rawValue = ''] = s;
    const base = name.replace(HISTOGRAM_SUFFIX, '');
    const family = families.get(name) ?? (families.get(base)?.type === 'histogram' ? families.get(base) : undefined);
    if (family === undefined) fail(lineNo, line, 'sample without a TYPE before it');
    if (family.type === 'histogram' && name === family.name) fail(lineNo, line, 'histogram sample without a suffix');
    if (!VALUE.test(rawValue)) fail(lineNo, line, 'bad value');
    const value = rawValue === 'NaN' ? NaN : rawValue === '+Inf' ? Infinity : rawValue === '-Inf' ? -Infinity : Number(rawValue);
    if (family.type === 'counter' && !(value >= 0)) fail(lineNo, line, 'counter below 0');
    const labels = rawLabels === undefined ? {} : parseLabels(rawLabels, lineNo, line);
    if (family.type === 'histogram') {
      const isBucket = name.endsWith('_bucket');
      if (isBucket !== Object.hasOwn(labels, 'le')) fail(lineNo, line, 'le on a non-bucket or a bucket without le');
      if (isBucket && !VALUE.test(labels['le'] ?? '')) fail(lineNo, line, 'bad le');
      if (name.endsWith('_sum') ? Number.isNaN(value) : !(value >= 0)) fail(lineNo, line, 'histogram value out of range');
    }
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seenSamples.has(key)) fail(lineNo, line, 'sample repeated');
    seenSamples.add(key);
    family.samples.push({ name, labels, value });
  });
  for (const name of help.keys()) {
    if (!families.has(name)) throw new ExpositionError(`HELP for ${name} without TYPE`);
  }
  for (const family of families.values()) if (family.type === 'histogram') checkHistogram(family);
  return families;
}

/**
 * Each series of a histogram (its labels but `le`): buckets whose counts do
 * not decrease as `le` grows, a `+Inf` bucket equal to `_count`, and a `_sum`.
 */
function checkHistogram(family: ParsedFamily): void {
  const series = new Map<string, { buckets: [number, number][]; sum?: number; count?: number }>();
  for (const sample of family.samples) {
    const { le, ...rest } = sample.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    let one = series.get(key);
    if (one === undefined) {
      one = { buckets: [] };
      series.set(key, one);
    }
    if (le !== undefined) one.buckets.push([le === '+Inf' ? Infinity : Number(le), sample.value]);
    else if (sample.name.endsWith('_sum')) one.sum = sample.value;
    else one.count = sample.value;
  }
  for (const [key, one] of series) {
    const where = `histogram ${family.name}${key}`;
    one.buckets.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < one.buckets.length; i += 1) {
      if ((one.buckets[i] as [number, number])[1] < (one.buckets[i - 1] as [number, number])[1]) {
        throw new ExpositionError(`${where}: bucket counts decrease`);
      }
    }
    const inf = one.buckets.at(-1);
    if (inf === undefined || inf[0] !== Infinity) throw new ExpositionError(`${where}: no +Inf bucket`);
    if (one.sum === undefined || one.count === undefined) throw new ExpositionError(`${where}: no _sum or _count`);
    if (inf[1] !== one.count) throw new ExpositionError(`${where}: +Inf bucket ${inf[1]} is not _count ${one.count}`);
  }
}

/**
 * The value of the one sample of `name` whose labels include `labels`; a
 * histogram's samples by their own names (`…_bucket`, `…_sum`, `…_count`).
 */
export function sampleValue(
  families: Map<string, ParsedFamily>,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number {
  const family = families.get(name) ?? families.get(name.replace(HISTOGRAM_SUFFIX, ''));
  if (family === undefined) throw new Error(`no metric ${name}`);
  const hits = family.samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  if (hits.length !== 1) throw new Error(`${name}${JSON.stringify(labels)} matches ${hits.length} samples`);
  return (hits[0] as ParsedSample).value;
}

/** A histogram series' buckets, `[le, count]` by ascending `le` (`+Inf` last). */
export function histogramBuckets(
  families: Map<string, ParsedFamily>,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): [number, number][] {
  const family = families.get(name);
  if (family?.type !== 'histogram') throw new Error(`no histogram ${name}`);
  return family.samples
    .filter((s) => s.name === `${name}_bucket` && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .map((s): [number, number] => [s.labels['le'] === '+Inf' ? Infinity : Number(s.labels['le']), s.value])
    .sort((a, b) => a[0] - b[0]);
}
