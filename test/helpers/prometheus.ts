/**
 * A strict reader of the Prometheus text exposition format (0.0.4), for the
 * tests that scrape `/metrics`. prom-client writes the format but ships no
 * parser, so this one refuses anything a Prometheus server would: a line
 * that is neither a comment nor a sample, a sample of an undeclared family,
 * a family declared twice, a bad label or value, a histogram whose buckets
 * decrease or whose `+Inf` bucket is not its count.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  /** The sample's own name: `x_bucket`, `x_sum`, `x_count` for a histogram `x`. */
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: MetricType;
  help: string;
  samples: Sample[];
}

export interface Exposition {
  families: Map<string, Family>;
  /**
   * The value of the one sample of `name` whose labels include `labels`.
   * @throws when there is none, or more than one.
   */
  value(name: string, labels?: Record<string, string>): number;
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*';
// NaN in any case: a Prometheus server reads values with Go's strconv.ParseFloat, which takes
// it so, and prom-client 15 writes `Nan` (an empty event-loop-delay histogram's mean and stddev).
const VALUE =
  '[+-]?(?:Inf|[Nn][Aa][Nn]|[0-9]+(?:\\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|\\.[0-9]+(?:[eE][+-]?[0-9]+)?)';
const HELP = new RegExp(`^# HELP (${NAME}) (.*)$`);
const TYPE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (${VALUE})(?: -?[0-9]+)?$`);
const LABEL_PAIR = new RegExp(`^(${LABEL})="((?:[^"\\\\\\n]|\\\\[\\\\"n])*)"(?:,|$)`);

const suffixes: Record<MetricType, string[]> = {
  counter: [''],
  gauge: [''],
  untyped: [''],
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['', '_sum', '_count'],
};

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let rest = text;
  while (rest !== '') {
    const match = LABEL_PAIR.exec(rest);
    if (match === null) throw new Error(`bad labels in ${JSON.stringify(line)}`);
    const [whole, name = '', raw = ''] = match;
    if (name in labels) throw new Error(`label ${name} twice in ${JSON.stringify(line)}`);
    labels[name] = raw.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
    rest = rest.slice(whole.length);
  }
  return labels;
}

function parseValue(text: string): number {
  if (/^[+]?Inf$/.test(text)) return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  if (/^[+-]?nan$/i.test(text)) return Number.NaN;
  return Number(text);
}

function checkHistogram(family: Family): void {
  const series = new Map<string, Sample[]>();
  for (const sample of family.samples) {
    if (sample.name !== `${family.name}_bucket`) continue;
    const { le, ...rest } = sample.labels;
    if (le === undefined) throw new Error(`${family.name}_bucket without le`);
    const key = JSON.stringify(rest);
    series.set(key, [...(series.get(key) ?? []), sample]);
  }
  for (const [key, buckets] of series) {
    let previous = Number.NEGATIVE_INFINITY;
    let count = -1;
    for (const bucket of buckets) {
      const bound = parseValue(bucket.labels.le as string);
      if (bound <= previous) throw new Error(`${family.name}: le not increasing`);
      if (bucket.value < count) throw new Error(`${family.name}: bucket counts decrease`);
      previous = bound;
      count = bucket.value;
    }
    if (previous !== Number.POSITIVE_INFINITY) throw new Error(`${family.name}: no +Inf bucket`);
    const total = family.samples.find(
      (s) => s.name === `${family.name}_count` && JSON.stringify(s.labels) === key,
    );
    if (total?.value !== count) throw new Error(`${family.name}: +Inf bucket is not _count`);
  }
}

/** Parses a whole exposition; throws on the first thing that breaks the format. */
export function parseExposition(text: string): Exposition {
  if (!text.endsWith('\n')) throw new Error('exposition does not end with a newline');
  const families = new Map<string, Family>();
  const owner = new Map<string, Family>();
  const helps = new Map<string, string>();
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') continue; // the format ignores empty lines (prom-client puts one between families)
    const help = HELP.exec(line);
    if (help !== null) {
      const [, name = '', body = ''] = help;
      if (helps.has(name)) throw new Error(`HELP for ${name} twice`);
      helps.set(name, body);
      continue;
    }
    const type = TYPE.exec(line);
    if (type !== null) {
      const [, name = '', kind] = type;
      if (families.has(name)) throw new Error(`TYPE for ${name} twice`);
      const family: Family = { name, type: kind as MetricType, help: helps.get(name) ?? '', samples: [] };
      families.set(name, family);
      for (const suffix of suffixes[family.type]) owner.set(`${name}${suffix}`, family);
      continue;
    }
    if (line.startsWith('#')) throw new Error(`unexpected comment ${JSON.stringify(line)}`);
    const sample = SAMPLE.exec(line);
    if (sample === null) throw new Error(`not a sample: ${JSON.stringify(line)}`);
    const [, name = '', labels = '', value = ''] = sample;
    const family = owner.get(name);
    if (family === undefined) throw new Error(`sample of an undeclared family: ${JSON.stringify(line)}`);
    family.samples.push({ name, labels: parseLabels(labels, line), value: parseValue(value) });
  }
  for (const family of families.values()) {
    if (family.help === '') throw new Error(`${family.name} has no HELP`);
    if (family.type === 'histogram') checkHistogram(family);
  }
  return {
    families,
    value(name, labels = {}) {
      const family = owner.get(name);
      const matches = (family?.samples ?? []).filter(
        (s) => s.name === name && Object.entries(labels).every(([key, value]) => s.labels[key] === value),
      );
      if (matches.length !== 1) {
        throw new Error(`${matches.length} samples of ${name} ${JSON.stringify(labels)}, expected 1`);
      }
      return (matches[0] as Sample).value;
    },
  };
}
