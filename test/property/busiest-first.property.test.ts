/**
 * Property: busiest(books, k) (src/busiest-first.ts, the order of the dashboard's bars, its
 * Cluster card and the reference server's /stats?perUser=1) is the first k of the whole order,
 * books sorted by busiestFirst, for any books and any k: ties of live ÷ limit, of live and of
 * draining included (only the id then decides), k of 0, 1, more than there are books. It leaves
 * its input as it was. And it does not sort every user to list a few: the work it does (the
 * fields its comparisons read) grows with the books, not with the books times their logarithm.
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { type BusyBook, busiest, busiestFirst } from '../../src/busiest-first.js';

/** Few distinct values, so that ties at every step of the order are common. */
const book = fc.record({
  userId: fc.string({ maxLength: 3 }),
  live: fc.integer({ min: 0, max: 6 }),
  draining: fc.integer({ min: 0, max: 2 }),
  limit: fc.constantFrom(1, 2, 3, 4, 6, 12),
});
// User ids are unique in every list of books (one book per user).
const books = fc.uniqueArray(book, { selector: (b) => b.userId, maxLength: 120, size: 'max' });

/**
 * A list and a k, mostly fewer than its books (the heap's case: with k at or past the length
 * busiest() sorts them all). fast-check's default size kept lists to about 10 books, so with k
 * drawn up to 130 fewer than one run in ten reached the heap (179 of 2,000, a review); now
 * lists run to 120 books and k to a little past each, and about 1,650 runs of 2,000 do.
 */
const listAndK = books.chain((list) =>
  fc.tuple(fc.constant(list), fc.integer({ min: 0, max: list.length + 2 })),
);

it('busiest(books, k) is the first k of the whole order, ties included, and leaves books as they were', () => {
  let heaps = 0;
  fc.assert(
    fc.property(listAndK, ([list, k]) => {
      if (k > 0 && k < list.length) heaps += 1;
      const before = [...list];
      const whole = [...list].sort(busiestFirst);
      expect(busiest(list, k)).toEqual(whole.slice(0, k));
      expect(list).toEqual(before);
    }),
    { numRuns: 2_000 },
  );
  // Most runs went through the heap, not the whole sort.
  expect(heaps).toBeGreaterThan(1_000);
});

it('a count that is not a whole number reads as slice(0, count) reads it: a fraction cut down, NaN none', () => {
  fc.assert(
    fc.property(
      books,
      fc.oneof(
        fc.double({ min: 0, max: 130, noNaN: true }),
        fc.constant(Number.NaN),
        fc.constant(Number.POSITIVE_INFINITY),
      ),
      (list, count) => {
        expect(busiest(list, count)).toEqual([...list].sort(busiestFirst).slice(0, count));
      },
    ),
    { numRuns: 500 },
  );
});

it('the busiest few of many books: no more work than a few comparisons per book (not a sort of them all)', () => {
  const n = 20_000;
  let reads = 0;
  // Every comparison reads `live`: counting those reads counts the work, whatever the machine's speed.
  const list: BusyBook[] = Array.from({ length: n }, (_, i) => {
    const live = (i * 7_919) % 50;
    return {
      userId: `user-${i}`,
      get live() {
        reads += 1;
        return live;
      },
      draining: i % 3,
      limit: i % 4 === 0 ? 20 : 50,
    };
  });
  const top = busiest(list, 100);
  expect(top.map((b) => b.userId)).toEqual(
    [...list]
      .sort(busiestFirst)
      .slice(0, 100)
      .map((b) => b.userId),
  );
  reads = 0;
  busiest(list, 100);
  // A whole sort compares ~n log2 n ≈ 286,000 times, each reading live at least twice.
  expect(reads).toBeLessThan(6 * n);
});
