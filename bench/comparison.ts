/**
 * Tables that compare server kinds measured in the same run: one column per
 * kind (median of rounds ±spread), then each kind's ratio to the baseline,
 * which is bare `ws` when it was measured (else the last kind listed, so
 * `--kinds supervised,actor` still reads supervised / actor).
 *
 * A ratio is paired: the median over rounds of the kind's figure divided by
 * the baseline's in the same round. The kinds take turns within each round
 * precisely so that they meet the same machine, and this machine's speed
 * drifts between rounds by more than the kinds differ (whole-bench spreads
 * of ±20–40 %): a ratio of two medians may divide a slow round of one kind by
 * a fast round of the other. Without one sample per round for both (a
 * figure measured once), it falls back to the ratio of the medians.
 */
import { fixed, median, spread } from './figures.js';
import type { ServerKind } from './processes.js';

export const kindLabel: Record<ServerKind, string> = {
  supervised: 'supervised',
  bare: 'bare ws',
  actor: 'ws + one XState actor',
  socketio: 'Socket.IO',
};

export type Samples = Record<ServerKind, number[]>;

export interface Comparison {
  readonly kinds: readonly ServerKind[];
  readonly base: ServerKind;
  readonly header: string[];
  /** An empty sample list per compared kind. */
  samples(): Samples;
  /** A row: each kind's median ±spread, each ratio to the base (unless `ratios` is false), the goal. */
  row(
    label: string,
    samples: Samples,
    format: (value: number) => string,
    goal?: string,
    ratios?: boolean,
  ): string[];
  /** A row with one free-text cell per kind (no ratios). */
  note(label: string, cells: (kind: ServerKind) => string): string[];
}

export function createComparison(kinds: readonly ServerKind[]): Comparison {
  const base = kinds.includes('bare') ? 'bare' : (kinds.at(-1) as ServerKind);
  const others = kinds.filter((kind) => kind !== base);
  const blanks = others.map(() => '');
  return {
    kinds,
    base,
    header: [
      'figure (median of rounds ±spread)',
      ...kinds.map((kind) => kindLabel[kind]),
      ...others.map((kind) => `${kind} / ${base} (paired)`),
      'goal (supervised / bare)',
    ],
    samples: () => Object.fromEntries(kinds.map((kind) => [kind, []])) as unknown as Samples,
    row(label, samples, format, goal = '', ratios = true) {
      const medians = Object.fromEntries(kinds.map((kind) => [kind, median(samples[kind])])) as Record<
        ServerKind,
        number
      >;
      return [
        label,
        ...kinds.map((kind) => `${format(medians[kind])} ±${fixed(spread(samples[kind]), 0)}%`),
        ...(ratios
          ? others.map((kind) => `${fixed(pairedRatio(samples[kind], samples[base]), 2)}×`)
          : blanks),
        goal,
      ];
    },
    note: (label, cells) => [label, ...kinds.map(cells), ...blanks, ''],
  };
}

/** The median of the per-round ratios `of[i] / to[i]`; the ratio of the medians unless both have one sample per round. */
export function pairedRatio(of: readonly number[], to: readonly number[]): number {
  if (of.length !== to.length || of.length === 0) return median(of) / median(to);
  return median(of.map((value, round) => value / (to[round] as number)));
}

/** `--kinds`: any list of known kinds, each once. */
export function parseKinds(text: string, known: readonly ServerKind[]): ServerKind[] {
  const kinds = text.split(',').map((item) => item.trim()) as ServerKind[];
  const unknown = kinds.filter((kind) => !known.includes(kind));
  if (unknown.length > 0 || kinds.length === 0) {
    throw new Error(`--kinds: unknown ${unknown.join(', ')}; choose from ${known.join(', ')}`);
  }
  if (new Set(kinds).size !== kinds.length) throw new Error('--kinds: a kind is listed twice');
  return kinds;
}
