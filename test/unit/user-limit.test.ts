/**
 * authenticate's `maxConnectionsPerUser` (plan tiers), checked at the upgrade:
 * undefined or an integer from 1 to 100000 (the option's own range); anything
 * else is a TypeError for onError that names the value and the range. And the
 * table of what each limit decides: the option's is built once, a plan's once
 * per distinct limit, bounded.
 */
import { describe, expect, it } from 'vitest';
import { evictionPoint } from '../../machines/eviction.js';
import { capacityThresholds } from '../../src/capacity.js';
import { createUserLimits, KEPT_USER_LIMITS, userLimitProblem } from '../../src/user-limit.js';

describe('userLimitProblem', () => {
  it.each([undefined, 1, 3, 20, 100_000])('accepts %s', (value) => {
    expect(userLimitProblem(value)).toBeUndefined();
  });

  it.each([
    [0, '0'],
    [-1, '-1'],
    [1.5, '1.5'],
    [100_001, '100001'],
    [Number.NaN, 'NaN'],
    [Number.POSITIVE_INFINITY, 'Infinity'],
    ['3', '"3"'],
    [null, 'null'],
    [3n, 'a bigint'],
    [{ limit: 3 }, 'an object'],
  ])('refuses %s, naming it and the range', (value, shown) => {
    const problem = userLimitProblem(value);
    expect(problem).toBeInstanceOf(TypeError);
    expect(problem?.message).toContain(
      `maxConnectionsPerUser ${shown}, which is not an integer from 1 to 100000`,
    );
  });
});

describe('createUserLimits', () => {
  const settings = {
    maxConnectionsPerUser: 5,
    evictionThreshold: 0.7,
    capacityLevels: [0.5, 0.8, 0.9],
    capacityHysteresis: 0.1,
  };

  it("gives the option's limit for undefined and for its own value, the same object", () => {
    const limits = createUserLimits(settings);
    expect(limits.of(undefined)).toBe(limits.standard);
    expect(limits.of(5)).toBe(limits.standard);
    expect(limits.standard).toEqual({
      limit: 5,
      evictAt: 4,
      capacity: capacityThresholds([0.5, 0.8, 0.9], 0.1, 5),
      refusal: 'user has reached the maximum number of connections (5)',
    });
  });

  it("computes a plan's limit once, and what it decides from it", () => {
    const limits = createUserLimits(settings);
    const pro = limits.of(20);
    expect(limits.of(20)).toBe(pro);
    expect(pro).toEqual({
      limit: 20,
      evictAt: evictionPoint(20, 0.7),
      capacity: capacityThresholds([0.5, 0.8, 0.9], 0.1, 20),
      refusal: 'user has reached the maximum number of connections (20)',
    });
  });

  it(`keeps at most ${KEPT_USER_LIMITS} limits; past them, each is computed again, and right`, () => {
    const limits = createUserLimits(settings);
    for (let limit = 1; limit <= KEPT_USER_LIMITS + 10; limit++) limits.of(limit);
    const late = KEPT_USER_LIMITS + 5;
    expect(limits.of(late)).not.toBe(limits.of(late));
    expect(limits.of(late)).toEqual(limits.of(late));
    expect(limits.of(late).evictAt).toBe(evictionPoint(late, 0.7));
    expect(limits.of(7)).toBe(limits.of(7)); // kept before the table was full
  });
});
