/**
 * An upgrade the server must refuse, read as a Node client reads it: `ws`
 * reports a refused upgrade as an `error` ("Unexpected server response: 429")
 * unless something listens for `unexpected-response`, which hands over the
 * response instead.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { ClientOptions } from 'ws';
import { SupervisorError } from '../errors.js';
import { WebSocket } from '../transport/ws-peer.js';
import { readRefusedBody } from './refused-body.js';

/** The HTTP answer to a refused upgrade: its status, headers and body (bounded: 64 KiB, 1 s). */
export interface RefusalAnswer {
  /** Its status, e.g. 401, 403, 429 or 503. */
  statusCode: number;
  /** Its headers (lower-case names), e.g. `retry-after` on a 429 or 503. */
  headers: IncomingHttpHeaders;
  /**
   * Its body: the refusal's message and a newline, e.g. `'unauthenticated\n'`. As much of it as
   * came: at most its first 64 KiB, within 1 s of the status (a body that never ends, or a
   * connection cut mid-body, gives what came before; `''` for none).
   */
  body: string;
}

/**
 * refusal()'s `handshakeTimeout` when its options give none: below the 5 s test timeout of
 * vitest and jest, so that a server that never answers fails the test with ws's error (and
 * the socket closed) rather than with the runner's timeout and the socket left open.
 */
const REFUSAL_HANDSHAKE_TIMEOUT_MS = 3_000;

/**
 * Opens a WebSocket to `url` that the server must refuse at the upgrade, and resolves
 * with the answer: its status, headers and body. The body is read before it resolves
 * (a response read a turn of I/O later had lost it: `''`), and the client's socket is
 * ended, so nothing is left open.
 *
 * The body is read bounded, as serveForTest()'s `open()` reads it: at most its first
 * 64 KiB, for at most 1 s (real time: `node:timers`, which fake timers leave alone). A
 * body that keeps coming and never ends (another server's `200 text/event-stream` at that
 * URL), or a larger one, resolves with what came by then; so does one cut short.
 *
 * A server that never answers fails it after `handshakeTimeout` ms without a byte (ws's own
 * timer: one of inactivity, armed from the connect until the body has been read), and its
 * socket is closed; so does a body that stops coming, when `handshakeTimeout` is under 1 s.
 *
 * @param url The server's WebSocket URL, e.g. `ws://127.0.0.1:${port}/?token=bad`.
 * @param options `ws`'s client options (`headers`, `origin`, …), as `new WebSocket(url, options)`
 *   takes them; `handshakeTimeout` bounds the wait for the answer (`0` waits for ever).
 * @default options.handshakeTimeout 3000 (ms), under the 5 s test timeout of vitest and jest
 * @throws {Error} `Opening handshake has timed out` (ws's; the promise rejects) when the server
 *   sends nothing for `handshakeTimeout` ms before its answer has been read (bounded, above).
 * @throws {SupervisorError} WSSUP_NOT_REFUSED (the promise rejects) when the upgrade
 *   succeeds: the socket opened (it is terminated). A refusal sent as a close frame
 *   (`refuse: 'close'`) opens first: read its close with `inbox(ws).closed` instead.
 *   Any other failure (ECONNREFUSED, a bad URL) rejects with `ws`'s own error.
 * @example
 * const answer = await refusal(`ws://127.0.0.1:${port}/?token=bob`);
 * expect(answer).toMatchObject({ statusCode: 429, headers: { 'retry-after': '5' } });
 */
export function refusal(url: string | URL, options?: ClientOptions): Promise<RefusalAnswer> {
  const handshakeTimeout = options?.handshakeTimeout ?? REFUSAL_HANDSHAKE_TIMEOUT_MS;
  return new Promise<RefusalAnswer>((resolve, reject) => {
    const ws = new WebSocket(url, { ...options, handshakeTimeout });
    // Stays for good: ws emits `error` when the socket is ended below, after this has settled.
    ws.on('error', reject);
    ws.on('open', () => {
      ws.terminate();
      reject(
        new SupervisorError(
          'WSSUP_NOT_REFUSED',
          `refusal(): expected the upgrade to ${String(url)} to be refused, but it opened` +
            " (a refusal by close frame, refuse: 'close', opens first: read its close code instead).",
        ),
      );
    });
    ws.on('unexpected-response', (_request, response: IncomingMessage) => {
      // Bounded (64 KiB, 1 s), and never rejects: a body cut short gives what came.
      void readRefusedBody(response).then((body) => {
        // ws keeps the request until it is told to let go: terminate() on a socket still
        // connecting aborts it (and emits an `error`, which the listener above ignores now).
        ws.terminate();
        resolve({ statusCode: response.statusCode ?? 0, headers: response.headers, body });
      });
    });
  });
}
