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

/** The query parameter that carries a client instance's id. */
export const INSTANCE_PARAM = 'wssup-instance';

/** The id's rule: 16–64 characters of the URL-safe base64 alphabet (a client draws 22, 128 random bits). */
const INSTANCE_ID = /^[A-Za-z0-9_-]{16,64}$/;

/** What an instance id must be, as error messages say it. */
export const INSTANCE_ALLOWED = 'a string of 16 to 64 characters A-Z, a-z, 0-9, _ or -';

/** Whether `value` is a usable instance id. */
export const isInstanceId = (value: unknown): value is string =>
  typeof value === 'string' && INSTANCE_ID.test(value);

/** What the server read from an upgrade request's URL: an id, none, or why the parameter is unusable. */
export type InstanceParam = { instance: string | undefined } | { problem: string };

const NONE: InstanceParam = { instance: undefined };

/**
 * The instance id in `url` (an upgrade request's path and query). Most URLs do not name the
 * parameter, and are not parsed. Named twice, or with a value outside the rule, it is a
 * problem: the request is refused (400), since a client that sends it means to be
 * replaced on reconnect, and would silently not be.
 */
export function instanceParamOf(url: string | undefined): InstanceParam {
  if (url === undefined || !url.includes(INSTANCE_PARAM)) return NONE;
  const query = url.indexOf('?');
  if (query === -1) return NONE;
  const values = new URLSearchParams(url.slice(query + 1)).getAll(INSTANCE_PARAM);
  if (values.length === 0) return NONE;
  if (values.length > 1) return { problem: `the ${INSTANCE_PARAM} query parameter is given more than once` };
  const [value] = values as [string];
  if (!isInstanceId(value)) {
    return { problem: `the ${INSTANCE_PARAM} query parameter must be ${INSTANCE_ALLOWED}` };
  }
  return { instance: value };
}

/** `url` with the instance id in its query (before a fragment, kept as the app wrote it). */
export function withInstanceParam(url: string, instance: string): string {
  const hash = url.indexOf('#');
  const base = hash === -1 ? url : url.slice(0, hash);
  const fragment = hash === -1 ? '' : url.slice(hash);
  const separator = base.includes('?') ? (base.endsWith('?') || base.endsWith('&') ? '' : '&') : '?';
  return `${base}${separator}${INSTANCE_PARAM}=${instance}${fragment}`;
}
