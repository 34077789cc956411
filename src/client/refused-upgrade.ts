/**
 * A refused upgrade, read as its close-code twin. The supervisor refuses
 * over HTTP by default (401, 403, 429 and 503 with Retry-After…); a browser's
 * WebSocket shows that only as a failed connection (1006), but ws's WebSocket
 * in Node shows the response. Read as the close code the same refusal carries
 * with `refuse: 'close'` (4000 + status, the hint as ` retry-after=<s>`), it
 * takes the client machine's path for that code: no retry after a 401 or 403,
 * a wait of at least Retry-After after a 429 or 503.
 */
import { ClientCloseCodes } from '../../machines/client-close.js';

/** What the client reads of ws's `http.IncomingMessage` (no Node types: the client runs in browsers). */
export interface RefusedResponseLike {
  readonly statusCode?: number | undefined;
  readonly statusMessage?: string | undefined;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

/**
 * The statuses that have a close-code twin the client acts on (README, "Refusals a client can
 * read"). Not 500: a proxy's or an app's own 500 is no failed `authenticate` (4500). Every
 * other status stays a failed connection, 1006, backed off as before.
 */
const TWINS: Readonly<Record<number, number>> = {
  400: ClientCloseCodes.badRequest,
  401: ClientCloseCodes.unauthenticated,
  403: ClientCloseCodes.forbidden,
  429: ClientCloseCodes.tooManyRequests,
  503: ClientCloseCodes.shuttingDown,
};

/** RFC 9110 §10.2.3 delay-seconds. */
const DELAY_SECONDS = /^\s*(\d+)\s*$/;

/**
 * RFC 9110 §5.6.7 IMF-fixdate, the HTTP-date a sender must use (`Wed, 21 Oct 2015 07:28:00
 * GMT`). The supervisor never sends one, but a proxy or load balancer in front of it may
 * (a 503 during its own maintenance). The obsolete forms are not read: no hint.
 */
const IMF_FIXDATE =
  /^\s*(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT\s*$/;

/**
 * The most a hint says, as the server caps its own (RFC 9111 §1.2.2): a longer one would print
 * as `1e+21`, which the hint's `/ retry-after=(\d+)$/` does not read, and be lost.
 */
const MAX_RETRY_AFTER_SECONDS = 2 ** 31;

/**
 * The close a refused upgrade stands for: its twin code (or 1006), and a reason naming the
 * status (`HTTP 429 Too Many Requests`) that ends with ` retry-after=<s>` when the response
 * has a Retry-After in seconds, as a close-frame refusal's does: the client machine reads the
 * hint from there. `wasClean` is false: no WebSocket was opened, so none was closed cleanly.
 */
export function closeOfRefusedUpgrade(
  response: RefusedResponseLike,
  /** The wall clock an HTTP-date is read against (it names a wall-clock moment). */
  wallNowMs: number = Date.now(),
): {
  code: number;
  reason: string;
  wasClean: false;
} {
  const status = response.statusCode ?? 0;
  const text = response.statusMessage ? `HTTP ${status} ${response.statusMessage}` : `HTTP ${status}`;
  const header = response.headers['retry-after'];
  const seconds = typeof header === 'string' ? retryAfterSeconds(header, wallNowMs) : undefined;
  return {
    code: TWINS[status] ?? ClientCloseCodes.abnormal,
    reason:
      seconds === undefined ? text : `${text} retry-after=${Math.min(seconds, MAX_RETRY_AFTER_SECONDS)}`,
    wasClean: false,
  };
}

/**
 * A Retry-After's wait in whole seconds: its delay-seconds, or the seconds from now to its
 * HTTP-date, rounded up (0 for a date already past); undefined for anything else.
 */
function retryAfterSeconds(header: string, wallNowMs: number): number | undefined {
  const seconds = DELAY_SECONDS.exec(header)?.[1];
  if (seconds !== undefined) return Number(seconds);
  if (!IMF_FIXDATE.test(header)) return undefined;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - wallNowMs) / 1_000));
}
