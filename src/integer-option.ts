/**
 * The check most numeric options share: an integer in a range, its default when undefined,
 * and the same words in the InvalidOptionError as in the check, so the two cannot drift.
 * (The client has its own, milliseconds() in client/options.ts: its modules run in a browser
 * and import only what test/client/options.test.ts lists.)
 */
import { describeValue, InvalidOptionError } from './errors.js';
import { secondsLike } from './seconds-like.js';

/** setTimeout's ceiling: the longest delay an option in milliseconds may name. */
export const MAX_DELAY_MS = 2_147_483_647;

export const integerIn =
  (min: number, max: number) =>
  (v: unknown): v is number =>
    typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;

/**
 * How a refused `value` of `option` is named in the message: for a duration (a name in `Ms`)
 * that reads as seconds, with the milliseconds probably meant (`15, which looks like seconds:
 * 15 s is 15_000`); else as describeValue() names it.
 */
export function refusedAs(option: string, value: unknown, min: number, max: number): string {
  return (option.endsWith('Ms') ? secondsLike(value, min, max) : undefined) ?? describeValue(value);
}

/**
 * `value` (or `fallback` when it is undefined), an integer from `min` to `max`.
 * @throws {InvalidOptionError} WSSUP_INVALID_OPTION, naming `option`, otherwise.
 */
export function integerOption(
  option: string,
  value: unknown,
  fallback: number,
  min: number,
  max: number,
): number {
  const resolved = value === undefined ? fallback : value;
  if (!integerIn(min, max)(resolved)) {
    throw new InvalidOptionError(
      option,
      `an integer from ${min} to ${max}`,
      resolved,
      refusedAs(option, resolved, min, max),
    );
  }
  // -0 passes the range check and means 0: returned as 0, so that no resolved option shows -0.
  return resolved === 0 ? 0 : resolved;
}
