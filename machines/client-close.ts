/**
 * What a reconnecting client does after its socket closed, by close code:
 * the contract between ws-supervisor's servers and `ws-supervisor/client`.
 * Pure (no I/O), so the client machine's guards, its tests and the table
 * of docs/client.md read the same rules.
 *
 * A refusal delivered as a close frame uses 4000 + the HTTP status it would
 * have had (4400, 4401, 4403, 4429, 4500, 4503). Its reason may end with
 * ` refusal=<reason>` (why, by the server's word) and then
 * ` retry-after=<seconds>`, as HTTP's Retry-After header: the client waits at
 * least that long.
 */

/**
 * Close codes the client treats specially. Public contract: see the "Client" table of docs/client.md.
 * Frozen: dispositionOf reads it, so a caller's write would change every client's reconnects.
 */
export const ClientCloseCodes = Object.freeze({
  /** The server closed on purpose (an app's `connection.close()`, a kick): not retried. */
  normal: 1000,
  /**
   * Server shutdown or restart: reconnect after a delay spread over `shutdownWindowMs`, or over
   * a paced shutdown's shorter `reconnect-within-ms` window (see reconnectWithinMsOf).
   */
  goingAway: 1001,
  /** No close frame at all (socket dropped, server killed, HTTP refusal): back off. */
  abnormal: 1006,
  /** Service restart (RFC 6455 registry): as 1001. */
  serviceRestart: 1012,
  /**
   * Evicted as idle: wait for the user to be active again. With the reason
   * `evicted: over the limit` (cluster mode), backed off instead: see dispositionOf.
   */
  evicted: 4001,
  /**
   * The session (authenticate's `expiresAt`) ended: reconnect at once, not backed off (no
   * failure), and the `url` function supplies a fresh token.
   */
  sessionExpired: 4002,
  /** Slow consumer: back off. */
  slowConsumer: 4008,
  /** Sent messages faster than the server's `messageRate` allows: back off. */
  messageRateExceeded: 4009,
  badRequest: 4400,
  unauthenticated: 4401,
  forbidden: 4403,
  tooManyRequests: 4429,
  authenticateFailed: 4500,
  shuttingDown: 4503,
} as const);

/**
 * What the client does next:
 * - `reconnect-now`: the session expired on schedule; reconnect at once (after a retry hint, if any),
 *   without counting a failed attempt (the machine backs it off instead when the connection
 *   had not been stable: see its `isSessionExpired` guard);
 * - `suspend-until-active`: evicted as idle; reconnect on the app's `activity()` (or `resume()`);
 * - `suspend-until-resumed`: the app must act (log in again, fix the request); reconnect on `resume()`;
 * - `spread`: a planned shutdown; reconnect after a random delay within `shutdownWindowMs` (or
 *   the paced shutdown's shorter window, after a stable connection);
 * - `backoff`: reconnect after exponential backoff with full jitter, and never before a retry hint.
 */
export type CloseDisposition =
  | 'reconnect-now'
  | 'suspend-until-active'
  | 'suspend-until-resumed'
  | 'spread'
  | 'backoff';

/** The same hint the server writes: the reason ends with ` retry-after=<integer seconds>`. */
const RETRY_AFTER = / retry-after=(\d+)$/;

/**
 * Whether a close with this code may carry a retry hint in its reason: any code a close frame can
 * carry (or no code given). Not 1006, which no close frame carries: its reason is the client's own
 * words (an error's message, a url() hook's, `cannot connect: …`), which may say anything, and
 * an upgrade refused over HTTP whose status has no twin (a 500, a proxy's 502) gives its
 * Retry-After as a field of its own (the machine's SOCKET_CLOSED `retryAfterMs`).
 */
const mayCarryRetryHint = (code: number | undefined) => code !== ClientCloseCodes.abnormal;

/**
 * The retry hint of a close reason in milliseconds, or undefined when it has none, or when `code`
 * is given and is 1006 (see mayCarryRetryHint).
 */
export function retryAfterMsOf(reason: string, code?: number): number | undefined {
  if (!mayCarryRetryHint(code)) return undefined;
  const seconds = RETRY_AFTER.exec(reason)?.[1];
  return seconds === undefined ? undefined : Number(seconds) * 1000;
}

/**
 * Why the server refused, by the library's own word (its `rejected` event's `reason`): read from
 * ` refusal=<reason>` at the end of a refusal's close reason (before any retry hint), or from the
 * `WS-Supervisor-Refusal` header of a refusal answered over HTTP (under Node only: a browser's
 * WebSocket shows no response). A newer server may name a reason this client does not know: it is
 * kept as the server sent it (a lower-case word), hence `string & {}`: a `switch` on it wants a
 * `default` branch.
 */
export type ClientRefusalReason =
  | 'bad-handshake'
  | 'origin-not-allowed'
  | 'unauthenticated'
  | 'invalid-user-id'
  | 'auth-failed'
  | 'refused'
  | 'user-limit'
  | 'rate-limited'
  | 'process-limit'
  | 'shutting-down'
  | 'store-unavailable'
  | 'internal-error'
  // Any other word, a newer server's: `& {}` keeps the names above in editors' completion.
  | (string & {});

/**
 * A reason's word as the server writes it: lower-case letters, digits and hyphens, at most 32
 * characters (the longest the server writes, `origin-not-allowed`, has 18). Anything else in the
 * header's place is no reason (undefined), so a proxy's header cannot push the rest off the reason.
 */
const REFUSAL_WORD = /^[a-z][a-z0-9-]{0,31}$/;

/** Whether `word` can be a refusal's reason on the wire (see REFUSAL_WORD). */
export const isRefusalWord = (word: string): boolean => REFUSAL_WORD.test(word);

/** The reason token the server writes: ` refusal=<word>` at the end of the reason, before any retry hint. */
const REFUSAL_TOKEN = / refusal=([a-z][a-z0-9-]{0,31})$/;

/**
 * Whether a close with this code may carry a reason token: the refusals' codes (4400–4599, as
 * 4000 + status). Another code's reason keeps such an ending, its app's own text; so does a
 * 1006's, which the client writes itself (an error's message, a url() hook's): an upgrade refused
 * over HTTP gives its reason as a field of its own (the machine's SOCKET_CLOSED `refusal`).
 */
const mayCarryRefusal = (code: number | undefined) => code === undefined || (code >= 4400 && code <= 4599);

/**
 * The refusal's reason named in a close reason (` refusal=<word>` before any retry hint), or
 * undefined when it names none (an older server, a close that is no refusal, a browser under
 * `refuse: 'http'`) or when `code` is given and is no refusal's (see mayCarryRefusal).
 */
export function refusalOf(reason: string, code?: number): ClientRefusalReason | undefined {
  if (!mayCarryRefusal(code)) return undefined;
  return REFUSAL_TOKEN.exec(reason.replace(RETRY_AFTER, ''))?.[1];
}

/**
 * The reason of a 4001 for a connection the cluster-wide book refused after an outage or a lost
 * lease (the server's `evictionReason('over-limit')`), which says nothing about the user's idleness.
 */
export const OVER_THE_LIMIT_REASON = 'evicted: over the limit';

/**
 * The reason of a 4001 for a connection that its own client instance replaced by connecting
 * again (the `wssup-instance` id): the client that reads it shares its id with another live
 * one, and reconnecting would only evict that one in turn.
 */
export const SUPERSEDED_REASON = 'evicted: superseded';

/**
 * The reason of a 4001 for a connection that a newer connection of its user replaced at the
 * user's limit (the supervisor's `atLimit: 'replace-oldest'`: "newest login wins"). The user
 * signed in elsewhere: reconnecting would replace that newer session in turn, and two devices
 * would take turns evicting each other, so the client waits for the app (`resume()`).
 */
export const REPLACED_REASON = 'evicted: replaced';

/**
 * The client's default `shutdownWindowMs`: after an unpaced 1001 its returns spread uniformly
 * over this. Here, not in the client's options alone, because the server reads it too: a paced
 * shutdown sends its hint only over a window at least this long (see withReconnectWithin).
 */
export const DEFAULT_SHUTDOWN_WINDOW_MS = 10_000;

/**
 * A paced shutdown's hint on its 1001 (` reconnect-within-ms=<integer ms>` at the end of the
 * reason, before any retry hint): the server already spread its closes, a batch every that
 * many ms, so a client may come back within that window instead of its whole
 * `shutdownWindowMs`. A client of an earlier version ignores it: it reads no retry hint there
 * (that must end the reason), only a longer `reason`, and spreads over its own window as before.
 */
const RECONNECT_WITHIN = / reconnect-within-ms=(\d+)$/;

/**
 * Whether a close with this code may carry a paced shutdown's window: 1001 and 1012 (or no code
 * given, as before codes were told apart). Another code's reason ending so is its own text.
 */
const mayCarryWindow = (code: number | undefined) =>
  code === undefined || code === ClientCloseCodes.goingAway || code === ClientCloseCodes.serviceRestart;

/**
 * The paced shutdown's reconnect window of a close reason (` reconnect-within-ms=<ms>`), in ms
 * as the server sent it, or undefined when it has none, or when `code` is given and is neither
 * 1001 nor 1012. The client bounds it (see `MIN_RECONNECT_WITHIN_MS` and `planSpread` in
 * client.machine.ts): a server can shorten the wait, never make it longer than
 * `shutdownWindowMs`, nor shorter than a second.
 */
export function reconnectWithinMsOf(reason: string, code?: number): number | undefined {
  if (!mayCarryWindow(code)) return undefined;
  const ms = RECONNECT_WITHIN.exec(reason.replace(RETRY_AFTER, ''))?.[1];
  return ms === undefined ? undefined : Number(ms);
}

/**
 * The close reason without its hints: the human-readable message. When `code` is given, the retry
 * hint goes from any code but 1006, a paced shutdown's window only from 1001 and 1012, and a
 * refusal's reason token only from 4400–4599 (another code's reason keeps such an ending, its
 * app's own text, as a 1006's keeps the client's own words whole).
 */
export function closeMessageOf(reason: string, code?: number): string {
  if (!mayCarryRetryHint(code)) return reason;
  let message = reason.replace(RETRY_AFTER, '');
  if (mayCarryRefusal(code)) message = message.replace(REFUSAL_TOKEN, '');
  return mayCarryWindow(code) ? message.replace(RECONNECT_WITHIN, '') : message;
}

/**
 * A paced shutdown's close reason: `reason` with the window its client may come back within
 * (` reconnect-within-ms=<intervalMs>`, whole ms rounded up), when the pace's whole window is at
 * least {@link DEFAULT_SHUTDOWN_WINDOW_MS}; below that, `reason` as it is. The returns of a
 * pace over w told h spread as U(0, w) + U(0, h), whose busiest second holds 1 / max(w, h) of
 * them: with w under the client's 10 s (`pace: {}` is 2.5 s by default) a hint made them more
 * bunched than an unpaced shutdown's U(0, 10 s) (40 % in one second, not 10 %: review). From
 * 10 s on, max(w, h) = w, never more bunched than unpaced. The server writes it; clients read
 * it with {@link reconnectWithinMsOf}.
 */
export function withReconnectWithin(reason: string, pace: { windowMs: number; intervalMs: number }): string {
  if (pace.windowMs < DEFAULT_SHUTDOWN_WINDOW_MS) return reason;
  return `${reason} reconnect-within-ms=${Math.ceil(pace.intervalMs)}`;
}

/**
 * The disposition of a close code. 4400–4499 other than 4429 are client
 * errors: retrying the same request would be refused again, so the app must
 * act. 4429 and 5xx-like codes are the server's "later". Every code not named
 * here (1005, 1011, 1013, 3000–3999, other 4xxx) backs off: a client that
 * cannot tell why it was closed must neither give up nor hurry.
 *
 * A 4001 is told apart by its reason: `evicted: idle` waits for the user's activity, as
 * reconnecting at once would only make an idle tab hold a slot again; `evicted: over the limit`
 * (cluster mode) may have ended an active connection, whose app never calls `activity()`
 * (a background tab, a service), so it backs off as after 4429: the next attempt is admitted
 * once a slot is free, or refused with the server's retry hint. `evicted: superseded` says
 * another client with this client's instance id connected: two live clients share one id (an
 * app's own `instance`), and reconnecting would evict the other in turn, so the app must act.
 * `evicted: replaced` says the user connected elsewhere at the limit and the server keeps the
 * newest (`atLimit: 'replace-oldest'`): reconnecting would replace that one, so the app must act.
 * Without a reason, a 4001 counts as idle.
 */
export function dispositionOf(code: number, reason = ''): CloseDisposition {
  if (code === ClientCloseCodes.sessionExpired) return 'reconnect-now';
  if (code === ClientCloseCodes.evicted) {
    const message = closeMessageOf(reason, code);
    if (message === SUPERSEDED_REASON || message === REPLACED_REASON) return 'suspend-until-resumed';
    return message === OVER_THE_LIMIT_REASON ? 'backoff' : 'suspend-until-active';
  }
  if (code === ClientCloseCodes.goingAway || code === ClientCloseCodes.serviceRestart) return 'spread';
  if (code === ClientCloseCodes.normal) return 'suspend-until-resumed';
  if (code >= 4400 && code <= 4499 && code !== ClientCloseCodes.tooManyRequests) {
    return 'suspend-until-resumed';
  }
  return 'backoff';
}

/** A close code by name, for apps to switch on. */
export type CloseKind =
  | 'normal'
  | 'shutdown'
  | 'abnormal'
  | 'evicted'
  | 'session-expired'
  | 'slow-consumer'
  | 'message-rate-exceeded'
  | 'bad-request'
  | 'unauthenticated'
  | 'forbidden'
  | 'too-many-requests'
  | 'auth-failed'
  | 'unavailable'
  | 'other';

const KINDS: Record<number, CloseKind> = {
  [ClientCloseCodes.normal]: 'normal',
  [ClientCloseCodes.goingAway]: 'shutdown',
  [ClientCloseCodes.serviceRestart]: 'shutdown',
  [ClientCloseCodes.abnormal]: 'abnormal',
  [ClientCloseCodes.evicted]: 'evicted',
  [ClientCloseCodes.sessionExpired]: 'session-expired',
  [ClientCloseCodes.slowConsumer]: 'slow-consumer',
  [ClientCloseCodes.messageRateExceeded]: 'message-rate-exceeded',
  [ClientCloseCodes.badRequest]: 'bad-request',
  [ClientCloseCodes.unauthenticated]: 'unauthenticated',
  [ClientCloseCodes.forbidden]: 'forbidden',
  [ClientCloseCodes.tooManyRequests]: 'too-many-requests',
  [ClientCloseCodes.authenticateFailed]: 'auth-failed',
  [ClientCloseCodes.shuttingDown]: 'unavailable',
};

/** The name of a close code (`'other'` for codes without a rule of their own). */
export function closeKindOf(code: number): CloseKind {
  return KINDS[code] ?? 'other';
}
