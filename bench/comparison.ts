/**
 * Tables that compare server kinds measured in the same run: one column per
 * kind (median of rounds ±spread), then each kind's ratio to the baseline,
 * which is bare `ws` when it was measured (else the last kind listed, so
 * `--kinds supervised,actor` still reads supervised / actor).
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
      ...others.map((kind) => `${kind} / ${base}`),
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
        ...(ratios ? others.map((kind) => `${fixed(medians[kind] / medians[base], 2)}×`) : blanks),
        goal,
      ];
    },
    note: (label, cells) => [label, ...kinds.map(cells), ...blanks, ''],
  };
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
