/** The eviction rule as a pure function: T = ceil(threshold × limit), then evict idle until n < T. */
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { evictionPoint, planEvictions } from '../../machines/index.js';

describe('evictionPoint', () => {
  it.each([
    { limit: 20, threshold: 0.7, T: 14 },
    { limit: 10, threshold: 0.7, T: 7 },
    { limit: 5, threshold: 0.7, T: 4 }, // 3.5 rounds up
    { limit: 3, threshold: 0.7, T: 3 }, // 2.1 rounds up
    { limit: 1, threshold: 0.7, T: 1 },
    { limit: 5, threshold: 1, T: 5 },
    { limit: 100, threshold: 0.01, T: 1 },
    { limit: 100_000, threshold: 0.5, T: 50_000 },
    { limit: 20, threshold: 0, T: 0 }, // idle as a timeout: every idle child goes at once
    { limit: 1, threshold: 0, T: 0 },
    { limit: 100_000, threshold: 0, T: 0 },
  ])('limit $limit, threshold $threshold → T = $T', ({ limit, threshold, T }) => {
    expect(evictionPoint(limit, threshold)).toBe(T);
  });

  // threshold × limit is a whole number here, but not in floating point
  // (0.55 × 100 = 55.00000000000001), and the ceiling must not round that up.
  it.each([
    { limit: 100, threshold: 0.55, T: 55 },
    { limit: 25, threshold: 0.56, T: 14 },
    { limit: 50, threshold: 0.14, T: 7 },
  ])('limit $limit, threshold $threshold → T = $T exactly', ({ limit, threshold, T }) => {
    expect(evictionPoint(limit, threshold)).toBe(T);
  });
});

describe('planEvictions', () => {
  it.each<{ name: string; n: number; idle: string[]; T: number; victims: string[] }>([
    { name: 'below T: nothing', n: 3, idle: ['a', 'b', 'c'], T: 4, victims: [] },
    { name: 'at T: one, the longest idle', n: 4, idle: ['a', 'b', 'c'], T: 4, victims: ['a'] },
    { name: 'above T: until n < T', n: 6, idle: ['a', 'b', 'c', 'd'], T: 4, victims: ['a', 'b', 'c'] },
    { name: 'above T, too few idle: all idle', n: 9, idle: ['a', 'b'], T: 4, victims: ['a', 'b'] },
    { name: 'at T, none idle: nothing', n: 5, idle: [], T: 4, victims: [] },
    { name: 'T = 1: every idle child goes', n: 3, idle: ['a', 'b', 'c'], T: 1, victims: ['a', 'b', 'c'] },
    { name: 'n = 0: nothing', n: 0, idle: [], T: 1, victims: [] },
    { name: 'T = 0: a lone idle child goes', n: 1, idle: ['a'], T: 0, victims: ['a'] },
    { name: 'T = 0: every idle child goes, none busy', n: 3, idle: ['a', 'b'], T: 0, victims: ['a', 'b'] },
  ])('$name', ({ n, idle, T, victims }) => {
    expect(planEvictions(n, idle, T)).toEqual(victims);
  });

  it('does not touch the list it is given', () => {
    const idle = Object.freeze(['a', 'b', 'c']);
    planEvictions(10, idle, 1);
    expect(idle).toEqual(['a', 'b', 'c']);
  });
});

/** A live count, the idle children among them (unique ids, longest idle first), and T. */
const situation = fc
  .record({
    idle: fc.uniqueArray(fc.string({ minLength: 1, maxLength: 4 }), { maxLength: 30 }),
    busy: fc.nat(30),
    limit: fc.integer({ min: 1, max: 60 }),
    // 0 included: T = 0 (evictionThreshold 0) is in the option's range.
    threshold: fc.oneof(fc.constant(0), fc.double({ min: 0.01, max: 1, noNaN: true })),
  })
  .map(({ idle, busy, limit, threshold }) => ({
    idle,
    n: idle.length + busy,
    T: evictionPoint(limit, threshold),
  }));

describe('planEvictions properties', () => {
  test.prop([situation])('never evicts more than the idle list', ({ n, idle, T }) => {
    expect(planEvictions(n, idle, T).length).toBeLessThanOrEqual(idle.length);
  });

  test.prop([situation])('evicts a prefix of the idle list: longest idle first', ({ n, idle, T }) => {
    const victims = planEvictions(n, idle, T);
    expect(victims).toEqual(idle.slice(0, victims.length));
  });

  test.prop([situation])('afterwards, n < T or nobody idle is left', ({ n, idle, T }) => {
    const victims = planEvictions(n, idle, T);
    expect(n - victims.length < T || victims.length === idle.length).toBe(true);
  });

  test.prop([situation])('evicts no more than needed to get below T', ({ n, idle, T }) => {
    const victims = planEvictions(n, idle, T);
    if (victims.length > 0) expect(n - (victims.length - 1)).toBeGreaterThanOrEqual(T);
    if (n < T) expect(victims).toEqual([]);
  });
});
