/**
 * Round trips in log-spaced buckets, 1 % wide, from 1 µs to about 100 s.
 * A load client records hundreds of thousands of messages a second into a
 * fixed array (one Math.log per sample, no allocation), and the runner adds
 * the clients' arrays, so percentiles over all clients stay exact to 1 %.
 */
const GROWTH = 1.01;
const LOG_GROWTH = Math.log(GROWTH);
const BUCKETS = Math.ceil(Math.log(1e8) / LOG_GROWTH) + 1;

export type HistogramCounts = number[];

export class LatencyHistogram {
  readonly counts = new Uint32Array(BUCKETS);
  total = 0;

  record(ms: number): void {
    const us = ms * 1000;
    const index = us <= 1 ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(us) / LOG_GROWTH));
    this.counts[index] = (this.counts[index] as number) + 1;
    this.total += 1;
  }

  /** Plain numbers, for IPC. */
  toJSON(): HistogramCounts {
    return Array.from(this.counts);
  }
}

/** Adds histograms (from several clients) bucket by bucket. */
export function mergeCounts(all: readonly HistogramCounts[]): HistogramCounts {
  const sum = new Array<number>(BUCKETS).fill(0);
  for (const counts of all) for (let i = 0; i < BUCKETS; i++) sum[i] = (sum[i] as number) + (counts[i] ?? 0);
  return sum;
}

/** The p-th percentile in milliseconds: the upper edge of the bucket that holds it. */
export function histogramPercentile(counts: HistogramCounts, p: number): number {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * total));
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i] as number;
    if (seen >= rank) return GROWTH ** i / 1000;
  }
  return GROWTH ** (counts.length - 1) / 1000;
}
