/** The hash that places users on shards: FNV-1a as published, stable, in range, and spread evenly. */
import { describe, expect, it } from 'vitest';
import { fnv1a, shardId, shardOf } from '../../machines/shard-of.js';

describe('fnv1a', () => {
  it.each([
    ['', 0x811c9dc5],
    ['a', 0xe40c292c],
    ['foobar', 0xbf9cf968],
  ])('hashes %j to the published FNV-1a 32-bit value', (text, expected) => {
    expect(fnv1a(text)).toBe(expected);
  });

  it('returns an unsigned 32-bit integer', () => {
    for (const text of ['alice', 'ß', '😀', 'x'.repeat(128)]) {
      const hash = fnv1a(text);
      expect(Number.isInteger(hash) && hash >= 0 && hash < 2 ** 32).toBe(true);
    }
  });
});

describe('shardOf', () => {
  it('places a user on the same shard every time, in [0, shards)', () => {
    for (const shards of [1, 3, 64]) {
      for (const userId of ['alice', 'bob', 'user-42', '01890a5d-ac96-774b-bcce-b302099a8057']) {
        const index = shardOf(userId, shards);
        expect(index).toBe(shardOf(userId, shards));
        expect(index >= 0 && index < shards).toBe(true);
      }
    }
  });

  it('spreads sequential user ids evenly over 64 shards', () => {
    const counts = new Array<number>(64).fill(0);
    for (let i = 0; i < 64_000; i++) {
      const index = shardOf(`user-${i}`, 64);
      counts[index] = (counts[index] ?? 0) + 1;
    }
    // 1,000 each on average; a binomial spread stays within a few percent of it.
    expect(Math.min(...counts)).toBeGreaterThan(900);
    expect(Math.max(...counts)).toBeLessThan(1_100);
  });

  it('names the shard actors user-shard-<index>', () => {
    expect(shardId(0)).toBe('user-shard-0');
    expect(shardId(63)).toBe('user-shard-63');
  });
});
