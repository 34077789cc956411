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
 * that a connect error names the host it tried; but an `@` after the host makes all up to that
 * last `@` a password but the user name: `redis://app:1234/7@h` (a password `1234/7` whose `/`
 * is not written `%2F`, read as host `app` and port 1234) shows as `redis://app:***@h`, and
 * `redis://u:Pa@ss?x1@h` as `redis://u:***`: after a `?` or `#`, what follows the `@` may be
 * a password too (`redis://h/0?password=p@ssw0rd` showed `ssw0rd` as the host). What does not
 * parse is what gets refused (`http://u:pa/ss@host`, `redis://h:99999?password=p@ss`,
 * `redis://app:S3cret`): there an `@` may be in a password or in the query, and a `:` may start
 * a password with no `@` after it, so only the scheme and a user name (`redis://app:***`) are
 * shown.
 */
export function redactRedisUrl(text: string): string {
  const start = /^[A-Za-z][A-Za-z0-9+.-]*:[/\\]*/.exec(text)?.[0].length ?? 0;
  let shown = text.slice(0, start);
  if (!URL.canParse(text)) {
    // Where the user info, host, path and query are cannot be told: an `@` may be in a password
    // or in the query (`redis://h:99999?password=p@ssw0rd`), a `:` may start a password with no
    // `@` after it (`redis://app:S3cret`). Only the user name is shown, if it is surely one.
    return `${shown}${shownUserName(text.slice(start))}***`;
  }
  const hostEnds = SPECIAL_SCHEMES.test(text) ? /[/\\?#]/ : /[/?#]/;
  const end = authorityEnd(text, start, hostEnds);
  const at = text.lastIndexOf('@', end - 1);
  const lastAt = text.lastIndexOf('@');
  if (lastAt >= end) {
    // An `@` after the host: a password holds an `@` and then a `/`, `?` or `#`
    // (`default:Pa@ssW0rd?x1@host`), or a `/`, `?` or `#` with no `@` before it (`app:1234/7@h`),
    // and what reads as the host, or as the host and its port, is part of it. All up to that last
    // `@` is hidden but the user name. What follows is shown only if it is a host, a port and a
    // database number, all there is to a URL, and the `@` is in the path: in a query or a
    // fragment, it may be in a password (`h:6379/0?password=p@ssw0rd`, `h/0#@secret`), whose
    // rest then reads as a host. So `u:Pa@ss?x1@host`, where `host` was meant, shows no host.
    shown += `${shownUserName(text.slice(start, lastAt))}***`;
    const rest = text.slice(lastAt + 1);
    const query = text.slice(end, lastAt).search(/[?#]/);
    return query === -1 && BARE_AUTHORITY.test(rest) ? `${shown}@${rest}` : shown;
  }
  if (at >= start) {
    const userInfo = text.slice(start, at);
    const colon = userInfo.indexOf(':');
    if (userInfo !== '') shown += colon === -1 ? '***' : `${userInfo.slice(0, colon)}:***`;
  }
  const host = at >= start ? at : start;
  const hostEnd = authorityEnd(text, host, hostEnds);
  shown += text.slice(host, hostEnd);
  return shown + redactedTail(text.slice(hostEnd));
}

/**
 * The user name that begins `rest` and ends at its first `:`, with that colon (`app:`), or `''`
 * where it may be (part of) a secret: no colon (`SECRET@host`), or an `@`, `/`, `?`, `#`, `[` or
 * `\` before it (the colon is then in a password, a port or a query).
 */
function shownUserName(rest: string): string {
  const colon = rest.indexOf(':');
  if (colon === -1) return '';
  const name = rest.slice(0, colon);
  return /[@/?#[\\]/.test(name) ? '' : `${name}:`;
}

/** A host (a name, an IPv4 or a bracketed IPv6 address), a port and a database number, or fewer. */
const BARE_AUTHORITY = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d*)?(?:\/\d*)?$/;

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
