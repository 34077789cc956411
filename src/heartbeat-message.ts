/**
 * The `heartbeatMessage` option, one rule for the server (createSupervisor)
 * and the client (createClient): both sides must agree on the frame, and the
 * client drops the frames equal to it. No Node built-in: the client runs in
 * browsers.
 */
import { InvalidOptionError } from './errors.js';

/**
 * At most a ping's payload (RFC 6455 caps a control frame at 125 bytes): a
 * keepalive goes out on every heartbeat of every connection, so it stays as
 * small as the ping it rides with.
 */
const MAX_HEARTBEAT_MESSAGE_BYTES = 125;

export const HEARTBEAT_MESSAGE_ALLOWED = `a non-empty string of at most ${MAX_HEARTBEAT_MESSAGE_BYTES} bytes in UTF-8, without lone surrogates nor a leading U+FEFF`;

/** A lone surrogate (with the u flag, a pair is one code point and does not match). */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** UTF-8 length, counted by code point (TextEncoder is typed by DOM or Node libs, not both). */
function utf8Bytes(text: string): number {
  let bytes = 0;
  for (const char of text) {
    const point = char.codePointAt(0) as number;
    bytes += point < 0x80 ? 1 : point < 0x800 ? 2 : point < 0x10000 ? 3 : 4;
  }
  return bytes;
}

/**
 * The option checked, or undefined when not given.
 * A lone surrogate goes over the wire as U+FFFD: the client would never see
 * the frame it was told to drop, and would deliver every keepalive to the app.
 * An empty one would drop the app's own empty messages. A leading U+FEFF
 * (a byte order mark) is stripped by a browser's WebSocket (WHATWG "UTF-8
 * decode"), not by ws: there too the client would never see its frame.
 * @throws {InvalidOptionError} WSSUP_INVALID_OPTION
 */
export function resolveHeartbeatMessage(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (
    typeof value !== 'string' ||
    value === '' ||
    value.startsWith('\uFEFF') ||
    LONE_SURROGATE.test(value) ||
    utf8Bytes(value) > MAX_HEARTBEAT_MESSAGE_BYTES
  ) {
    throw new InvalidOptionError('heartbeatMessage', HEARTBEAT_MESSAGE_ALLOWED, value);
  }
  return value;
}

/**
 * The keepalive a `createClient()` asks for. A client without `heartbeatMessage` nor
 * `silenceTimeoutMs` of its own sends `wssup-heartbeat=1` in its URL's query; a server without
 * a `heartbeatMessage` of its own then sends that connection, and only it, a text frame
 * `wssup-heartbeat <heartbeatIntervalMs>` as it opens and with every heartbeat's ping. The
 * client drops those frames, and from the first one watches the server's silence
 * (HEARTBEAT_SILENCE). A client that did not ask (a page's own WebSocket, an older client)
 * receives nothing new; an older server ignores the parameter, and its client watches nothing,
 * as before.
 */
export const HEARTBEAT_PARAM = 'wssup-heartbeat';

/** The frame's words before the interval. */
const OFFER_PREFIX = `${HEARTBEAT_PARAM} `;

/** A heartbeat offer's frame: the server's interval in ms (1 to 10 digits). */
const OFFER = /^wssup-heartbeat ([1-9]\d{0,9})$/;

/** The frame a server sends, with every heartbeat, to a connection that asked. */
export const heartbeatOffer = (heartbeatIntervalMs: number): string =>
  `${OFFER_PREFIX}${heartbeatIntervalMs}`;

/**
 * The server's heartbeat interval in an offer's frame, or undefined for any other message (the
 * app's own). The prefix first: it is the common case, on every message of a client that asked.
 */
export function offeredIntervalMs(data: unknown): number | undefined {
  if (typeof data !== 'string' || !data.startsWith(OFFER_PREFIX)) return undefined;
  const match = OFFER.exec(data);
  return match === null ? undefined : Number(match[1]);
}

/** The longest delay a timer takes (2^31 − 1 ms): a longer one fires at once. */
const MAX_SILENCE_MS = 2_147_483_647;

/**
 * The silence a client that asked tolerates, from the server's interval: two heartbeats and
 * 5 s more (65 s for the production preset's 30 s), so that one late heartbeat is not taken
 * for a dead server; at most a timer's longest delay (2^31 − 1 ms, 24.8 days), which a longer
 * one would fire at once. So above an interval of 1,073,739,323 ms (12.4 days) the window is
 * shorter than two intervals (at the largest, 2147483647 ms, one): a server whose heartbeat is
 * that slow should not leave its clients to watch by it (give them a `silenceTimeoutMs`).
 */
export const heartbeatSilenceMs = (intervalMs: number): number =>
  Math.min(2 * intervalMs + 5_000, MAX_SILENCE_MS);

/** Whether an upgrade request's URL (path and query) asks for the offer: `wssup-heartbeat=1`. */
export function asksHeartbeat(url: string | undefined): boolean {
  if (url === undefined || !url.includes(HEARTBEAT_PARAM)) return false;
  const query = url.indexOf('?');
  return query !== -1 && new URLSearchParams(url.slice(query + 1)).get(HEARTBEAT_PARAM) === '1';
}

/**
 * Whether `url` names the request's parameter at all (any value, a percent-encoded name): the
 * client refuses such a URL (client/options.ts, attempt-url.ts). It writes the parameter itself
 * when it asks; one of the app's own beside it would be read first by the server (`=0` would
 * silently ask for nothing), and to a client that does not ask the offers would be app messages.
 */
export function namesHeartbeatParam(url: string): boolean {
  // As the request will carry it: the URL parser drops tabs and newlines from a name.
  let href = url;
  try {
    href = new URL(url).href;
  } catch {
    // Not a URL: checked as written (its own check refuses it).
  }
  const hash = href.indexOf('#');
  const beforeHash = hash === -1 ? href : href.slice(0, hash);
  const query = beforeHash.indexOf('?');
  return query !== -1 && new URLSearchParams(beforeHash.slice(query + 1)).has(HEARTBEAT_PARAM);
}

/** `url` with the request in its query (before a fragment), unless it asks already. */
export function withHeartbeatParam(url: string): string {
  if (asksHeartbeat(url)) return url;
  const hash = url.indexOf('#');
  const base = hash === -1 ? url : url.slice(0, hash);
  const fragment = hash === -1 ? '' : url.slice(hash);
  const separator = base.includes('?') ? (base.endsWith('?') || base.endsWith('&') ? '' : '&') : '?';
  return `${base}${separator}${HEARTBEAT_PARAM}=1${fragment}`;
}
