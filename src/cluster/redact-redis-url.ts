/**
 * How every message of the store shows a Redis URL (an option error and its `received`, "could
 * not connect to Redis at …", and so the reference server's stderr): without what may be a
 * secret, since errors end up in logs.
 */

/**
 * `text` with its secrets replaced by `***`, the rest as given so that a mistake can be seen:
 *
 * - the user info's password (`redis://user:***@host`, `redis://:***@host`), and a user info
 *   without a colon whole (`redis://***@host`): `redis://SECRET@host` is a common slip for
 *   `redis://:SECRET@host`, and node-redis takes the secret as a user name;
 * - a path that is no database number (`/***`), the query (`?***`) and the fragment (`#***`):
 *   node-redis reads no query or fragment and refuses such a path, but a password can land in
 *   any of them (`?password=…`, as other Redis clients take it; an unencoded `#` or `/` in
 *   `redis://user:12#pass@host` makes `#pass@host` a fragment).
 *
 * Where the text parses as a URL, its parts are found as node-redis finds them (the host ends at
 * the first `/`, `?` or `#`, and for `http:` and the other special schemes at a `\` too, which
 * `redis:` leaves in the user info: `redis://app:Pa55\word@h` showed `redis://app:Pa55/***`), so
 * that a connect error names the host it tried. What does not parse is what gets refused
 * (`http://u:pa/ss@host`, `redis:/…`): there everything before the last `@` counts as user info,
 * as a password may hold any of those characters. An `@` after the host, with none before it,
 * makes the host and port a user name and password too: `redis://app:1234/7@h` (a password
 * `1234/7` whose `/` is not written `%2F`) shows as `redis://app:***` and the hidden path, not
 * the digits.
 */
export function redactRedisUrl(text: string): string {
  const start = /^[A-Za-z][A-Za-z0-9+.-]*:[/\\]*/.exec(text)?.[0].length ?? 0;
  const hostEnds = SPECIAL_SCHEMES.test(text) ? /[/\\?#]/ : /[/?#]/;
  const end = URL.canParse(text) ? authorityEnd(text, start, hostEnds) : text.length;
  const at = text.lastIndexOf('@', end - 1);
  let shown = text.slice(0, start);
  if (at >= start) {
    const userInfo = text.slice(start, at);
    const colon = userInfo.indexOf(':');
    if (userInfo !== '') shown += colon === -1 ? '***' : `${userInfo.slice(0, colon)}:***`;
  } else if (text.includes('@', end)) {
    // No user info, but an `@` in the path, query or fragment: what reads as the host and its port
    // may be a user name and the start of a password (`app:1234` of `app:1234/7@h`). Hidden as
    // user info is (a bracketed IPv6 host is kept whole: its port is what is hidden).
    const authority = text.slice(start, end);
    const colon =
      authority.startsWith('[') && authority.includes(']:')
        ? authority.indexOf(']:') + 1
        : authority.indexOf(':');
    shown += colon === -1 ? '***' : `${authority.slice(0, colon)}:***`;
    return shown + redactedTail(text.slice(end));
  }
  const host = at >= start ? at : start;
  const hostEnd = authorityEnd(text, host, hostEnds);
  shown += text.slice(host, hostEnd);
  return shown + redactedTail(text.slice(hostEnd));
}

/** The schemes whose host a `\` ends, as a `/` does (WHATWG URL's special schemes); not `redis:`. */
const SPECIAL_SCHEMES = /^(?:https?|wss?|ftp|file):/i;

/** Where the host (and port) that begins at `from` ends: at a path, a query or a fragment. */
function authorityEnd(text: string, from: number, hostEnds: RegExp): number {
  const found = text.slice(from).search(hostEnds);
  return found === -1 ? text.length : from + found;
}

/** The path, query and fragment after the host: a database number (`/0`) kept, the rest hidden. */
function redactedTail(tail: string): string {
  const rest = tail.search(/[?#]/);
  const path = rest === -1 ? tail : tail.slice(0, rest);
  const shownPath = /^(\/\d*)?$/.test(path) ? path : '/***';
  return rest === -1 ? shownPath : `${shownPath}${tail[rest]}***`;
}
