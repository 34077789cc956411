/**
 * A client instance's id: one `createClient()` picks it once and sends it in
 * the query of every attempt's URL (`wssup-instance=…`). A reconnect is the
 * same instance coming back, so the server knows that its earlier connection,
 * if it still holds a slot, was left behind (a phone that changed networks,
 * a socket the client gave up on): the newcomer replaces it at once, instead
 * of being refused at the limit until the heartbeat finds the old one dead.
 *
 * Shared by the server, which reads the parameter, and the client, which
 * writes it: one name and one rule.
 */

import type { InstanceClaim } from '../machines/events.js';

/** The query parameter that carries a client instance's id and its attempt's time: `<id>.<ms>`. */
export const INSTANCE_PARAM = 'wssup-instance';

/** The id's rule: 16–64 characters of the URL-safe base64 alphabet (a client draws 22, 128 random bits). */
const INSTANCE_ID = /^[A-Za-z0-9_-]{16,64}$/;

/** The parameter's value: the id, a dot, and the attempt's time in ms (1–16 digits). */
const INSTANCE_VALUE = /^([A-Za-z0-9_-]{16,64})\.(\d{1,16})$/;

/** What an instance id must be, as error messages say it. */
export const INSTANCE_ALLOWED = 'a string of 16 to 64 characters A-Z, a-z, 0-9, _ or -';

/** What the parameter's value must be, as the server's 400 says it. */
const VALUE_ALLOWED = `<id>.<attempt time>: an id of 16 to 64 characters A-Z, a-z, 0-9, _ or -, a dot, and the attempt's time in ms (Date.now(), later for every attempt)`;

/** Whether `value` is a usable instance id. */
export const isInstanceId = (value: unknown): value is string =>
  typeof value === 'string' && INSTANCE_ID.test(value);

/** What the server read from an upgrade request's URL: a claim, none, or why the parameter is unusable. */
export type InstanceParam = { instance: InstanceClaim | undefined } | { problem: string };

const NONE: InstanceParam = { instance: undefined };

/**
 * The instance claim in `url` (an upgrade request's path and query). Most URLs do not name the
 * parameter, and are not parsed; one with a `%` is (a name may be percent-encoded, as
 * `wssup-%69nstance`, which URLSearchParams decodes). Named twice, or with a value outside the
 * rule, it is a problem: the request is refused (400), since a client that sends it means to
 * be replaced on reconnect, and would silently not be.
 */
export function instanceParamOf(url: string | undefined): InstanceParam {
  if (url === undefined || !(url.includes('instance') || url.includes('%'))) return NONE;
  const query = url.indexOf('?');
  if (query === -1) return NONE;
  const values = new URLSearchParams(url.slice(query + 1)).getAll(INSTANCE_PARAM);
  if (values.length === 0) return NONE;
  if (values.length > 1) return { problem: `the ${INSTANCE_PARAM} query parameter is given more than once` };
  const match = INSTANCE_VALUE.exec(values[0] as string);
  const attemptAt = match === null ? Number.NaN : Number(match[2]);
  if (match === null || !Number.isSafeInteger(attemptAt)) {
    return { problem: `the ${INSTANCE_PARAM} query parameter must be ${VALUE_ALLOWED}` };
  }
  // A copy, not the match: V8 cuts a match out of a longer string as a view onto it, and the
  // id outlives the request (connection.instance, the user supervisor's book), so the whole URL
  // (a token in the query, kilobytes) would stay with it. encodeURIComponent changes nothing in
  // the id's alphabet and builds a new string (test/unit/instance-id-retention.test.ts).
  return { instance: { id: encodeURIComponent(match[1] as string), attemptAt } };
}

/** `url` with the instance claim in its query (before a fragment, kept as the app wrote it). */
export function withInstanceParam(url: string, claim: InstanceClaim): string {
  const hash = url.indexOf('#');
  const base = hash === -1 ? url : url.slice(0, hash);
  const fragment = hash === -1 ? '' : url.slice(hash);
  const separator = base.includes('?') ? (base.endsWith('?') || base.endsWith('&') ? '' : '&') : '?';
  return `${base}${separator}${INSTANCE_PARAM}=${claim.id}.${claim.attemptAt}${fragment}`;
}
