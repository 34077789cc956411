/**
 * A refused upgrade, read as its close-code twin. The supervisor refuses
 * over HTTP by default (401, 403, 429 and 503 with Retry-After…); a browser's
 * WebSocket shows that only as a failed connection (1006), but ws's WebSocket
 * in Node shows the response. Read as the close code the same refusal carries
 * with `refuse: 'close'` (4000 + status, the reason by name as `refusal`, the
 * hint as `retryAfterMs`), it
 * takes the client machine's path for that code: no retry after a 401 or 403,
 * a wait of at least Retry-After after a 429 or 503.
 */
import {
  ClientCloseCodes,
  type ClientRefusalReason,
  isRefusalWord,
  REPLACED_REASON,
} from '../../machines/client-close.js';
import type { Clock } from '../clock.js';
import { REFUSAL_HEADER, withoutHints } from '../refusal-text.js';

/** What the client reads of ws's `http.IncomingMessage` (no Node types: the client runs in browsers). */
export interface RefusedResponseLike {
  readonly statusCode?: number | undefined;
  readonly statusMessage?: string | undefined;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The body's stream (`data`, `end`, `close`, `error`), where the response has one. */
  // biome-ignore lint/suspicious/noExplicitAny: IncomingMessage's own listener type
  on?(event: string, listener: (...args: any[]) => void): unknown;
  // biome-ignore lint/suspicious/noExplicitAny: as above
  off?(event: string, listener: (...args: any[]) => void): unknown;
  /** Ends the response and its TCP socket. */
  destroy?(): unknown;
}

/**
 * The most of a refusal's body that is read: a close frame's reason holds 123 bytes (RFC 6455
 * §5.5), so a refusal says no more over HTTP than it could in a close frame.
 */
export const REFUSAL_BODY_MAX_BYTES = 123;

/**
 * How long the body is waited for. The supervisor writes it with the status line, in one
 * write, and ends the response: it is there at once. A proxy's may be long, or never end:
 * then the client goes on with what came (or the bare status) after this long.
 */
export const REFUSAL_BODY_WAIT_MS = 1_000;

/**
 * A body that is read: `text/plain` (whatever its other parameters), in UTF-8 or US-ASCII (or no
 * charset named), not encoded (no Content-Encoding, or `identity`). Another charset would be
 * misread as UTF-8, a gzip'd body read as garbage: no message then, the bare status.
 */
function isReadable(headers: RefusedResponseLike['headers']): boolean {
  const type = headers['content-type'];
  const encoding = headers['content-encoding'];
  if (
    encoding !== undefined &&
    (typeof encoding !== 'string' || encoding.trim().toLowerCase() !== 'identity')
  ) {
    return false;
  }
  if (typeof type !== 'string') return false;
  const [media, ...parameters] = type.split(';');
  if (media?.trim().toLowerCase() !== 'text/plain') return false;
  return parameters.every((parameter) => {
    const [name, value = ''] = parameter.split('=');
    if (name?.trim().toLowerCase() !== 'charset') return true;
    return READABLE_CHARSETS.has(
      value
        .trim()
        .replace(/^"(.*)"$/, '$1')
        .toLowerCase(),
    );
  });
}

const READABLE_CHARSETS = new Set(['utf-8', 'utf8', 'us-ascii']);

/**
 * The app's message in a refusal's body: its first 123 bytes as UTF-8 (a character cut by the
 * limit is dropped, not shown as U+FFFD), as withoutHints() leaves it.
 */
function messageOfBody(bytes: Uint8Array): string {
  return withoutHints(new TextDecoder().decode(bytes, { stream: true }));
}

/** A refused upgrade's body being read (readRefusalMessage). */
export interface RefusalRead {
  /**
   * The attempt ended first (its connect timeout, the app's close()): clears the timer, removes
   * the listeners and destroys the response, with no `done`.
   */
  stop(): void;
  /**
   * The socket closed while the body was read (a TCP reset fails the request, and ws emits
   * `error` and `close` before the body's own end): ends the read as stop() does, with no
   * `done`, and returns the message of what came ('' once the read is over).
   */
  flush(): string;
}

/**
 * Reads the message of a refused upgrade's body, at most REFUSAL_BODY_MAX_BYTES of a
 * readable one (isReadable) within `waitMs` on `clock`, then destroys the response and calls
 * `done` with it ('' for none: another type, charset or encoding, an empty body, no time left,
 * a response without a stream). Calls `done` once, at once when there is nothing to read,
 * unless the read is stopped or flushed first.
 */
export function readRefusalMessage(
  response: RefusedResponseLike,
  clock: Clock,
  done: (message: string) => void,
  /** How long the body is waited for: REFUSAL_BODY_WAIT_MS, or less (the connect timeout is near). */
  waitMs: number = REFUSAL_BODY_WAIT_MS,
): RefusalRead {
  const { on, off } = response;
  if (!isReadable(response.headers) || waitMs <= 0 || on === undefined || off === undefined) {
    done('');
    return { stop: () => {}, flush: () => '' };
  }
  const bytes = new Uint8Array(REFUSAL_BODY_MAX_BYTES);
  let size = 0;
  let over = false;
  const stop = () => {
    over = true;
    clock.clearTimeout(timer);
    off.call(response, 'data', data);
    off.call(response, 'end', finish);
    off.call(response, 'close', finish);
    off.call(response, 'error', finish);
    // The rest of a long or endless body is not waited for: the response and its TCP socket go.
    response.destroy?.();
  };
  function finish() {
    if (over) return;
    stop();
    done(messageOfBody(bytes.subarray(0, size)));
  }
  function data(chunk: unknown) {
    const next =
      chunk instanceof Uint8Array
        ? chunk
        : typeof chunk === 'string'
          ? new TextEncoder().encode(chunk)
          : undefined;
    if (next === undefined) return;
    const taken = next.subarray(0, REFUSAL_BODY_MAX_BYTES - size);
    bytes.set(taken, size);
    size += taken.length;
    if (size >= REFUSAL_BODY_MAX_BYTES) finish();
  }
  on.call(response, 'data', data);
  on.call(response, 'end', finish);
  // A body cut short (the connection reset): what came is all there is. The listener also keeps
  // the response's `error` from going unhandled.
  on.call(response, 'close', finish);
  on.call(response, 'error', finish);
  const timer: unknown = clock.setTimeout(finish, Math.min(waitMs, REFUSAL_BODY_WAIT_MS));
  return {
    stop() {
      if (!over) stop();
    },
    flush() {
      if (over) return '';
      stop();
      return messageOfBody(bytes.subarray(0, size));
    },
  };
}

/**
 * The statuses that have a close-code twin the client acts on (docs/admission.md, "Refusals a client can
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
 * status (`HTTP 429 Too Many Requests`), then the body's message if any (`HTTP 401
 * Unauthorized: token expired`). `retryAfterMs` is the Retry-After header's (in seconds, or
 * those until its HTTP-date), whatever the status, else undefined: a field of its own, which
 * the machine takes as the close's. A twin's reason still ends with it as ` retry-after=<s>`, as
 * the same refusal's close frame does (the server's words there); a 1006's never does: the
 * machine reads no hint from a 1006's reason, the client's own words on any other failed
 * connect, and would show it to the app as words. The whole reason is
 * at most 123 bytes of UTF-8, as a close frame's (the status text, then the message, cut to fit;
 * the hint never). `refusal` is the WS-Supervisor-Refusal header's word (as the server writes it,
 * else undefined), given as a field of its own and never written into the reason: the machine
 * reads a reason token only from a close frame's 4400–4599, so a 1006 (a 500, or any failed
 * connect) keeps its words whole and names no refusal nor hint it did not get from a header.
 * `wasClean` is false: no WebSocket was opened, so none was closed cleanly.
 *
 * One exception: a 403 whose (text/plain) body is exactly `evicted: replaced` is a handshake that
 * a newer login of its user replaced (atLimit: 'replace-oldest'): it reads as the close the same
 * replacement gives after the handshake, 4001 `evicted: replaced`, which waits for resume(). As
 * 4403 an app answering with a new token and resume() would replace the newer login in turn.
 */
export function closeOfRefusedUpgrade(
  response: RefusedResponseLike,
  /** The wall clock an HTTP-date is read against (it names a wall-clock moment). */
  wallNowMs: number = Date.now(),
  /** The body's message (readRefusalMessage), '' for none. */
  message = '',
): {
  code: number;
  reason: string;
  wasClean: false;
  refusal: ClientRefusalReason | undefined;
  retryAfterMs: number | undefined;
} {
  const status = response.statusCode ?? 0;
  if (status === 403 && message === REPLACED_REASON) {
    return {
      code: ClientCloseCodes.evicted,
      reason: REPLACED_REASON,
      wasClean: false,
      refusal: undefined,
      retryAfterMs: undefined,
    };
  }
  const code = TWINS[status] ?? ClientCloseCodes.abnormal;
  const header = response.headers['retry-after'];
  const given = typeof header === 'string' ? retryAfterSeconds(header, wallNowMs) : undefined;
  const seconds = given === undefined ? undefined : Math.min(given, MAX_RETRY_AFTER_SECONDS);
  // In a twin's reason only: a 1006's reason is never read for a hint (the client's own words).
  const hint = seconds === undefined || code === ClientCloseCodes.abnormal ? '' : ` retry-after=${seconds}`;
  const named = response.headers[REFUSAL_HEADER.toLowerCase()];
  const refusal = typeof named === 'string' && isRefusalWord(named.trim()) ? named.trim() : undefined;
  // The whole reason fits a close frame's, as a close-frame refusal's does: an app may pass it
  // on to close(), which throws on a longer one. The hint is kept whole (the machine reads it),
  // the status text cut to the room left (a proxy's may be kilobytes), then the message.
  const room = CLOSE_REASON_MAX_BYTES - utf8Length(hint);
  const bare = `HTTP ${status}`;
  const words = cutToBytes(withoutHints(response.statusMessage ?? ''), room - utf8Length(`${bare} `));
  const line = words === '' ? bare : `${bare} ${words}`;
  const hintless = cutToBytes(withoutHints(message), room - utf8Length(`${line}: `));
  const text = hintless === '' ? line : `${line}: ${hintless}`;
  return {
    code,
    reason: `${text}${hint}`,
    wasClean: false,
    refusal,
    retryAfterMs: seconds === undefined ? undefined : seconds * 1000,
  };
}

/** A close frame's reason holds at most 123 bytes of UTF-8 (RFC 6455 §5.5). */
const CLOSE_REASON_MAX_BYTES = 123;

const utf8Length = (text: string) => new TextEncoder().encode(text).length;

/**
 * The longest start of `text` that is at most `max` bytes in UTF-8, at a character's boundary
 * (encodeInto() writes no part of a character, a surrogate pair's included), without the
 * space a cut may leave at its end.
 */
function cutToBytes(text: string, max: number): string {
  if (max <= 0) return '';
  const { read } = new TextEncoder().encodeInto(text, new Uint8Array(max));
  return read === text.length ? text : text.slice(0, read).trimEnd();
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
