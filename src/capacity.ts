/**
 * Capacity alerts: where a user's live count crosses the configured levels
 * of `maxConnectionsPerUser`, with hysteresis so that a user hovering at a
 * boundary does not flood. Pure arithmetic on counts: the books (books.ts)
 * keep each user's band in O(1) per published book, and the runtime
 * announces the net change once the user's supervisor has finished its step.
 *
 * A user's band is the number of levels it has reached (0: none).
 *   - Level i is reached, on the way up, when live ≥ up[i] = ceil(levels[i] × limit).
 *   - It is left, on the way down, only when live < down[i] =
 *     max(1, min(up[i], ceil((levels[i] − hysteresis) × limit))):
 *     a fraction `hysteresis` of the limit below the level, never below one
 *     connection (so a user with no live connection is in band 0) and never
 *     above the level itself.
 * Both thresholds rise with i, so the reached levels are always the lowest
 * `band` ones and a band is one integer.
 */
import { describeValue, InvalidOptionError } from './errors.js';

/** @default the levels of the incident reports: alerts at 50 %, 80 % and 90 % of the limit. */
export const DEFAULT_CAPACITY_LEVELS: readonly number[] = Object.freeze([0.5, 0.8, 0.9]);
/** @default a tenth of the limit below a level before its down-crossing fires. */
export const DEFAULT_CAPACITY_HYSTERESIS = 0.1;
/** More levels than this is a dashboard, not an alert. */
const MAX_CAPACITY_LEVELS = 16;

/** The live counts at which each level is reached and left, for one limit. */
export interface CapacityThresholds {
  readonly levels: readonly number[];
  readonly up: readonly number[];
  readonly down: readonly number[];
}

// 0.55 × 100 is 55.00000000000001 in floating point: round to 12 digits before ceil (as evictionPoint does).
const ceilOf = (x: number) => Math.ceil(Number(x.toPrecision(12)));

export function capacityThresholds(
  levels: readonly number[],
  hysteresis: number,
  limit: number,
): CapacityThresholds {
  const up = levels.map((level) => ceilOf(level * limit));
  const down = levels.map((level, i) =>
    Math.max(1, Math.min(up[i] as number, ceilOf((level - hysteresis) * limit))),
  );
  return Object.freeze({ levels, up: Object.freeze(up), down: Object.freeze(down) });
}

/** The band a user in `band` is in once it holds `live` connections. O(levels crossed). */
export function bandAfter(band: number, live: number, { up, down }: CapacityThresholds): number {
  let next = band;
  while (next < up.length && live >= (up[next] as number)) next += 1;
  while (next > 0 && live < (down[next - 1] as number)) next -= 1;
  return next;
}

/** Validates `capacityLevels`; returns a frozen copy. */
export function checkCapacityLevels(value: unknown): readonly number[] {
  const allowed = `an array of at most ${MAX_CAPACITY_LEVELS} fractions of maxConnectionsPerUser, each greater than 0 and at most 1, strictly increasing`;
  if (!Array.isArray(value) || value.length > MAX_CAPACITY_LEVELS)
    throw new InvalidOptionError('capacityLevels', allowed, value, levelsAsGiven(value));
  let previous = 0;
  for (const level of value) {
    if (typeof level !== 'number' || !(level > previous) || level > 1)
      throw new InvalidOptionError('capacityLevels', allowed, value, levelsAsGiven(value));
    previous = level;
  }
  return Object.freeze([...value]);
}

/**
 * An array of numbers as written, `[0.8, 0.5]`, when it is no longer than the option allows:
 * "received an array" did not say which
 * level was out of order (ops trial). Anything else as every option's message names it.
 */
function levelsAsGiven(value: unknown): string {
  // The length first: an array of 2 ** 32 - 1 holes is refused, never copied.
  const short = Array.isArray(value) && value.length <= MAX_CAPACITY_LEVELS;
  const levels = short ? Array.from(value as unknown[]) : [];
  if (levels.length === 0 || !levels.every((level) => typeof level === 'number')) {
    return describeValue(value);
  }
  return `[${levels.join(', ')}]`;
}

/** Validates `capacityHysteresis`. */
export function checkCapacityHysteresis(value: unknown): number {
  if (typeof value !== 'number' || !(value >= 0) || !(value < 1))
    throw new InvalidOptionError('capacityHysteresis', 'a number from 0 (inclusive) to 1 (exclusive)', value);
  return value === 0 ? 0 : value; // -0 means 0 (as the limits' -0, options.ts)
}
