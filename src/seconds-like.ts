/**
 * A duration written in seconds where milliseconds are meant (`heartbeatIntervalMs: 30`,
 * `backoff: { capMs: 30 }`): how an InvalidOptionError names such a value, with the number
 * of milliseconds probably meant, ready to paste. Shared by createSupervisor() and
 * createClient(), whose modules run in a browser: it imports nothing.
 */

/** `30_000`: an integer as code writes it, its thousands apart (what the message suggests). */
export function asCode(integer: number): string {
  return String(integer).replace(/\B(?=(\d{3})+$)/g, '_');
}

/**
 * How the message names `value` when it is below 1000 and, read as seconds, a number of
 * milliseconds from `min` to `max`: `30, which looks like seconds: 30 s is 30_000`. Undefined
 * for anything else: not a positive number below 1000 (a cap of 30000 under a base of 60000
 * is no 8 hours in seconds), or its thousandfold not such an integer (0, 0.0005).
 */
export function secondsLike(value: unknown, min: number, max: number): string | undefined {
  if (typeof value !== 'number' || !(value > 0 && value < 1_000)) return undefined;
  const ms = Math.round(value * 1_000);
  // 1.1 * 1000 is 1100.0000000000002: a decimal with at most three places is a whole ms.
  if (Math.abs(ms - value * 1_000) > 1e-6 || ms < min || ms > max) return undefined;
  return `${value}, which looks like seconds: ${value} s is ${asCode(ms)}`;
}
