/**
 * A user's own limit (plan tiers): authenticate may return
 * `maxConnectionsPerUser` for the user it admits, checked here at the upgrade
 * as a bad `expiresAt` is (expires-at.ts): a value out of the option's own
 * range is the app's mistake, reported to onError, and the upgrade refused.
 *
 * Everything a limit decides (T, the capacity thresholds, the refusal's
 * message) is computed once per distinct limit and kept in a bounded table:
 * the option's own is built with the supervisor, so a user on the default
 * costs one comparison per admission, and a plan's limit one Map lookup.
 */
import { evictionPoint } from '../machines/eviction.js';
import { type CapacityThresholds, capacityThresholds } from './capacity.js';
import { describeValue } from './errors.js';

/** The range of authenticate's `maxConnectionsPerUser`: the option's own. */
const USER_LIMIT_RANGE = 'an integer from 1 to 100000';
const MAX_USER_LIMIT = 100_000;

/**
 * The onError report for authenticate's `maxConnectionsPerUser`, or undefined
 * when it is usable: undefined (the option's limit) or an integer from 1 to
 * 100000. Allocates only for a bad value.
 */
export function userLimitProblem(given: unknown): TypeError | undefined {
  if (given === undefined) return undefined;
  if (typeof given === 'number' && Number.isInteger(given) && given >= 1 && given <= MAX_USER_LIMIT)
    return undefined;
  return new TypeError(
    `authenticate returned maxConnectionsPerUser ${describeValue(given)}, which is not ${USER_LIMIT_RANGE} (the range of the maxConnectionsPerUser option); the upgrade was refused (return a number in that range, or undefined for the option's limit)`,
  );
}

/** One limit and what it decides, shared by every user on it (frozen). */
export interface UserLimit {
  /** The most live connections the user may hold. */
  readonly limit: number;
  /** T: evictionPoint(limit, evictionThreshold). */
  readonly evictAt: number;
  /** The live counts at which each capacity level is reached and left, for this limit. */
  readonly capacity: CapacityThresholds;
  /** The `user-limit` refusal's message, naming the limit. */
  readonly refusal: string;
}

/**
 * Distinct limits kept: plans are a handful. Past this many (an app returning
 * a limit per user), a limit not kept is computed at each admission instead.
 */
export const KEPT_USER_LIMITS = 256;

export interface UserLimitSettings {
  maxConnectionsPerUser: number;
  evictionThreshold: number;
  capacityLevels: readonly number[];
  capacityHysteresis: number;
}

/** The user limits of one supervisor. */
export interface UserLimits {
  /** The option's limit (maxConnectionsPerUser). */
  readonly standard: UserLimit;
  /** The UserLimit of `limit` (validated), or the option's for undefined. */
  of(limit: number | undefined): UserLimit;
}

export function createUserLimits(settings: UserLimitSettings): UserLimits {
  const build = (limit: number): UserLimit =>
    Object.freeze({
      limit,
      evictAt: evictionPoint(limit, settings.evictionThreshold),
      capacity: capacityThresholds(settings.capacityLevels, settings.capacityHysteresis, limit),
      refusal: `user has reached the maximum number of connections (${limit})`,
    });
  const standard = build(settings.maxConnectionsPerUser);
  const kept = new Map<number, UserLimit>([[standard.limit, standard]]);
  return {
    standard,
    of(limit) {
      if (limit === undefined || limit === standard.limit) return standard;
      let found = kept.get(limit);
      if (found === undefined) {
        found = build(limit);
        if (kept.size < KEPT_USER_LIMITS) kept.set(limit, found);
      }
      return found;
    },
  };
}
