/**
 * authenticate's `expiresAt` (a session's end, epoch ms on the wall clock),
 * checked at the upgrade: a value that cannot be read, or one that looks like
 * seconds, is the app's mistake, reported to onError. The connection machine
 * enforces the expiry at its heartbeat (machines/connection.machine.ts).
 */
import { describeValue } from './errors.js';

/**
 * authenticate's `expiresAt`: undefined (none) or a finite number of epoch ms.
 * Anything else is the app's mistake (a Date, seconds as a string, NaN), returned
 * for onError; the upgrade is then refused, since a session whose end cannot be
 * read must not be kept open forever. A number far in the past that looks like
 * seconds (a JWT's `exp` not multiplied by 1000) is refused as expired, and
 * `expiresAtInSeconds` says so for onError; one that looks like microseconds
 * is returned as a problem too.
 */
export function expiresAtOf(given: unknown): { expiresAt: number | undefined; problem?: TypeError } {
  if (given === undefined) return { expiresAt: undefined };
  if (typeof given === 'number' && given >= MICROSECONDS_LIKE && given < LARGEST_DATE) {
    const problem = new TypeError(
      `authenticate returned expiresAt ${given}, which looks like microseconds rather than epoch milliseconds (it is after the year 33658); the upgrade was refused (divide it by 1000, or return undefined for a session that does not end)`,
    );
    return { expiresAt: undefined, problem };
  }
  if (typeof given === 'number' && Number.isFinite(given)) return { expiresAt: given };
  const hint = given instanceof Date ? ' (a Date: return its getTime())' : '';
  const problem = new TypeError(
    `authenticate returned an expiresAt that is not a finite number of epoch milliseconds: ${describeValue(given)}${hint}; the upgrade was refused (return a number, e.g. a JWT's exp * 1000, or undefined)`,
  );
  return { expiresAt: undefined, problem };
}

/**
 * Epoch ms after the year 33658: a time in microseconds (a database's or another
 * language's timestamp), which read as milliseconds would keep the session
 * open for millennia. Every microsecond time since 2001-09-09 is above it, and
 * a "never" written as the year 9999 (2.5e14) is below it.
 */
const MICROSECONDS_LIKE = 1e15;
/** The largest Date (8.64e15 ms, year 275760), a common "never": left as it is, as anything above it. */
const LARGEST_DATE = 8.64e15;

/** Epoch ms before 2001-09-09: a time in seconds, read as milliseconds. */
const SECONDS_LIKE = 1e12;
/**
 * Below this (epoch ms before 1970-01-12; epoch seconds before 2001-09-09) it is
 * not seconds of a current time either: a time on a clock that starts at 0, such
 * as a test's SimulatedClock used to mint the token instead of the wall clock.
 */
const FROM_ZERO_LIKE = 1e9;

/** The onError report for an expiresAt that is past because it is in seconds (or on a clock from 0), or undefined. */
export function expiresAtInSeconds(expiresAt: number): TypeError | undefined {
  if (expiresAt <= 0 || expiresAt >= SECONDS_LIKE) return undefined;
  if (expiresAt < FROM_ZERO_LIKE)
    return new TypeError(
      `authenticate returned expiresAt ${expiresAt}, which looks like a time on a clock that starts at 0 (a SimulatedClock's now()) rather than epoch milliseconds; the upgrade was refused as expired (expiresAt is on the wall clock: mint tokens with Date.now(), even when the supervisor has an injected clock)`,
    );
  return new TypeError(
    `authenticate returned expiresAt ${expiresAt}, which looks like seconds (a JWT's exp) rather than epoch milliseconds; the upgrade was refused as expired (return exp * 1000)`,
  );
}
