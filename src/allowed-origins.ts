/**
 * The `allowedOrigins` option: the guard against cross-site WebSocket
 * hijacking. A browser sends its user's cookies with an upgrade that any
 * page opens, and WebSockets have no CORS; the `Origin` header is how a
 * server tells its own pages from another site's. The check runs before
 * `authenticate`, so a forbidden origin costs no app call and no slot.
 *
 * It protects browsers' users; it is not authentication: any other client
 * can send any Origin, or none (and is let through without one).
 */
import type { IncomingMessage } from 'node:http';
import { InvalidOptionError } from './errors.js';

/** One entry of `allowedOrigins`: an exact origin, or a pattern tested against the request's origin. */
export type AllowedOrigin = string | RegExp;

/** `allowedOrigins`, checked and normalised once, at createSupervisor(). */
export interface OriginAllowlist {
  /** Serialized origins (`scheme://host[:port]`, lower-case host, no default port). */
  readonly exact: ReadonlySet<string>;
  /** The RegExps of `allowedOrigins`, each tested against the request's origin as `new URL(Origin).origin` serializes it. */
  readonly patterns: readonly RegExp[];
}

const ALLOWED = "an array of origins such as 'https://app.example.com' (scheme://host[:port]) and RegExps";

/** Said after what is allowed for Socket.IO's `cors: { origin: '*' }` (or `true`), every origin. */
const OMIT = '; leave allowedOrigins out to allow every origin';

/** `'*'` or `true`: Socket.IO's (and the cors package's) "every origin". */
const isEveryOrigin = (value: unknown): boolean => value === '*' || value === true;

/**
 * Checks `allowedOrigins` and normalises its strings with the WHATWG URL
 * parser, as browsers serialize the Origin they send.
 * @throws {InvalidOptionError} WSSUP_INVALID_OPTION for anything but such an array.
 */
export function resolveAllowedOrigins(value: unknown): OriginAllowlist | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value))
    throw new InvalidOptionError(
      'allowedOrigins',
      isEveryOrigin(value) ? `${ALLOWED}${OMIT}` : ALLOWED,
      value,
    );
  const exact = new Set<string>();
  const patterns: RegExp[] = [];
  value.forEach((entry: unknown, index) => {
    const option = `allowedOrigins[${index}]`;
    if (entry instanceof RegExp) {
      // test() on a global or sticky RegExp starts at its lastIndex, left over from
      // the previous request: every other request of one origin would be refused.
      if (entry.global || entry.sticky) {
        throw new InvalidOptionError(option, 'a RegExp without the g or y flag', entry);
      }
      patterns.push(entry);
      return;
    }
    const origin = typeof entry === 'string' ? originOf(entry) : undefined;
    if (origin === undefined) {
      const allowed = "an origin such as 'https://app.example.com', or a RegExp";
      throw new InvalidOptionError(option, isEveryOrigin(entry) ? `${allowed}${OMIT}` : allowed, entry);
    }
    exact.add(origin);
  });
  return Object.freeze({ exact, patterns: Object.freeze(patterns) });
}

/**
 * The serialized origin a configured string stands for, or undefined when
 * it is not one: no scheme, a wildcard, 'null', a scheme without an origin
 * (a non-special one, e.g. chrome-extension:), credentials, or anything
 * after the host but a lone '/' (a path or query suggests a URL was meant).
 */
function originOf(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  const bare =
    url.origin !== 'null' &&
    url.username === '' &&
    url.password === '' &&
    url.pathname === '/' &&
    url.search === '' &&
    url.hash === '' &&
    !text.endsWith('?') &&
    !text.endsWith('#');
  return bare ? url.origin : undefined;
}

/**
 * The origin a request claims, or undefined without one. A version 8
 * handshake names it Sec-WebSocket-Origin (ws reads it the same way). A
 * browser sends it serialized already; parsing it again only spares other
 * clients a refusal over letter case. An opaque or unparsable one stays as
 * sent, and matches no configured string.
 */
function requestOrigin(request: IncomingMessage): string | undefined {
  const header =
    request.headers['sec-websocket-version'] === '8'
      ? request.headers['sec-websocket-origin']
      : request.headers.origin;
  if (typeof header !== 'string') return undefined;
  try {
    const { origin } = new URL(header);
    return origin === 'null' ? header : origin;
  } catch {
    return header;
  }
}

/** True when the request may proceed: it has no Origin (not a browser), or an allowed one. */
export function isOriginAllowed(allowlist: OriginAllowlist, request: IncomingMessage): boolean {
  const origin = requestOrigin(request);
  if (origin === undefined) return true;
  return allowlist.exact.has(origin) || allowlist.patterns.some((pattern) => pattern.test(origin));
}
