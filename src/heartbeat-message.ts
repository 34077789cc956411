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
