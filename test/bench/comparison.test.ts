/**
 * The bench's ratios pair each round's figures: the kinds take turns within
 * a round so that they meet the same machine, and the machine drifts between
 * rounds.
 */
import { describe, expect, it } from 'vitest';
import { createComparison, pairedRatio } from '../../bench/comparison.js';

describe('pairedRatio', () => {
  it('is the median of the per-round ratios, not the ratio of the medians', () => {
    // The machine halves its speed after round 2, and one round of the
    // supervised kind is an outlier: the rounds say 0.90, 0.88, 0.92, 1.40, 0.92.
    const supervised = [900, 880, 460, 700, 480];
    const bare = [1000, 1000, 500, 500, 520];
    // The ratio of the medians would divide the outlier by a slow round of bare: 700 / 520 = 1.35.
    expect(pairedRatio(supervised, bare)).toBeCloseTo(0.92, 2);
  });

  it('falls back to the ratio of the medians without one sample per round for both', () => {
    expect(pairedRatio([2, 4, 6], [2])).toBe(2);
    expect(pairedRatio([3], [])).toBeNaN();
  });
});

describe('a comparison row', () => {
  it('shows each kind median ±spread and the paired ratio to bare ws', () => {
    const comparison = createComparison(['supervised', 'bare']);
    const samples = comparison.samples();
    samples.supervised.push(90, 45, 46);
    samples.bare.push(100, 50, 50);
    const row = comparison.row('cycles/s', samples, (v) => String(v), '≥ 0.65×');
    expect(comparison.header).toEqual([
      'figure (median of rounds ±spread)',
      'supervised',
      'bare ws',
      'supervised / bare (paired)',
      'goal (supervised / bare)',
    ]);
    expect(row).toEqual(['cycles/s', '46 ±49%', '50 ±50%', '0.90×', '≥ 0.65×']);
  });
});
