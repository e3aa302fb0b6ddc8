// A small, strict parser of the Prometheus text exposition format 0.0.4, for
// tests: it rejects what a Prometheus server would reject or silently
// misread (a sample before its TYPE, a repeated HELP/TYPE or sample, a bad
// name, escape or value, a counter not named *_total or negative), so
// metrics that pass here scrape cleanly.

export interface ParsedSample {
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
    const family = families.get(name);
    if (family === undefined) fail(lineNo, line, 'sample without a TYPE before it');
    if (!VALUE.test(rawValue)) fail(lineNo, line, 'bad value');
    const value = rawValue === 'NaN' ? NaN : rawValue === '+Inf' ? Infinity : rawValue === '-Inf' ? -Infinity : Number(rawValue);
    if (family.type === 'counter' && !(value >= 0)) fail(lineNo, line, 'counter below 0');
    const labels = rawLabels === undefined ? {} : parseLabels(rawLabels, lineNo, line);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seenSamples.has(key)) fail(lineNo, line, 'sample repeated');
    seenSamples.add(key);
    family.samples.push({ labels, value });
  });
  for (const name of help.keys()) {
    if (!families.has(name)) throw new ExpositionError(`HELP for ${name} without TYPE`);
  }
  return families;
}

/** The value of the one sample of `name` whose labels include `labels`. */
export function sampleValue(
  families: Map<string, ParsedFamily>,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number {
  const family = families.get(name);
  if (family === undefined) throw new Error(`no metric ${name}`);
  const hits = family.samples.filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (hits.length !== 1) throw new Error(`${name}${JSON.stringify(labels)} matches ${hits.length} samples`);
  return (hits[0] as ParsedSample).value;
}
