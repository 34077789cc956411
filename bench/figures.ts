/** Small statistics and table helpers shared by the bench programs. */

export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] as number;
}

export const sortNumbers = (values: Iterable<number>): Float64Array => Float64Array.from(values).sort();

export const median = (values: readonly number[]) => percentile(sortNumbers(values), 50);

/** Relative spread of rounds: (max - min) / median, as ±half of it in percent. */
export function spread(values: readonly number[]): number {
  if (values.length < 2) return 0;
  const sorted = sortNumbers(values);
  const mid = percentile(sorted, 50);
  return mid === 0 ? 0 : (((sorted[sorted.length - 1] as number) - (sorted[0] as number)) / mid) * 50;
}

/** A Markdown table; every row has the header's number of cells. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((cell, i) => Math.max(cell.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((cell, i) => cell.padEnd(widths[i] as number)).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function fixed(value: number, digits = 1): string {
  if (!Number.isFinite(value)) return 'n/a';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export const kib = (bytes: number) => `${fixed(bytes / 1024, 2)} KB`;

/** High-resolution monotonic time in milliseconds. */
export const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

/** A full, synchronous garbage collection (run with --expose-gc). */
export function fullGc(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run node with --expose-gc');
  gc();
  gc();
}
