/**
 * The arguments of `handleUpgrade(request, socket, head)`, checked before
 * anything reads them. An app routing upgrades itself can pass them in the
 * wrong order or drop one; that slip used to surface as a TypeError deep in
 * the upgrade path, reported as WSSUP_INTERNAL ("a bug in ws-supervisor"),
 * and then as a rejection of the promise handleUpgrade() promises never to
 * reject. It is the caller's mistake, and is said so (WSSUP_INVALID_ARGUMENT).
 */
import type { IncomingMessage } from 'node:http';
import { constants, type Http2ServerRequest } from 'node:http2';
import type { Duplex } from 'node:stream';
import { describeValue, SupervisorError } from './errors.js';

const hasMethods = (value: unknown, names: readonly string[]): boolean =>
  typeof value === 'object' &&
  value !== null &&
  names.every((name) => typeof (value as Record<string, unknown>)[name] === 'function');

/**
 * Shapes, not classes: any Duplex will do (a TLS socket, a test's stream). An
 * IncomingMessage is a Readable, so `end` (the answer to a refusal) is what tells a swapped pair apart.
 */
const isSocket = (value: unknown): value is Duplex => hasMethods(value, ['end', 'destroy', 'on', 'off']);

/**
 * The ServerResponse of a 'request' handler (a route): it has end() and destroy() too, so
 * it passed for a socket, and the raw HTTP answer became the body of a 200.
 */
const isServerResponse = (value: unknown): boolean => hasMethods(value, ['writeHead', 'setHeader']);

const isRequest = (value: unknown): value is IncomingMessage =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as { headers?: unknown }).headers === 'object' &&
  (value as { headers?: unknown }).headers !== null;

/**
 * An HTTP/2 request (node:http2's compatibility API): its `socket` is a proxy whose `end`
 * ends the stream, so a refusal written there became the body of a 200.
 */
const isHttp2 = (request: IncomingMessage): boolean => request.httpVersionMajor === 2;

/**
 * The error for a `request` or `socket` that is not one, or undefined when
 * both are usable. (`head` is checked later, once the socket can be answered.)
 */
export function upgradeArgumentsError(request: unknown, socket: unknown): SupervisorError | undefined {
  // HTTP/2 before a response: an http2 'request' handler's (request, response) is that slip.
  const problem = !isSocket(socket)
    ? `socket must be the Duplex of Node's 'upgrade' event, got ${describeValue(socket)}`
    : !isRequest(request)
      ? `request must be the IncomingMessage of Node's 'upgrade' event, got ${describeValue(request)}`
      : isHttp2(request)
        ? "request is an HTTP/2 request (a node:http2 'request' or 'stream'), which cannot be upgraded: HTTP/2 has no Upgrade, and WebSockets over HTTP/2 (RFC 8441) are not supported. Call it from the 'upgrade' event of a node:http or node:https server, or of http2.createSecureServer({ allowHTTP1: true }), whose HTTP/1.1 connections carry upgrades"
        : isServerResponse(socket)
          ? `socket must be the Duplex of Node's 'upgrade' event, got ${describeValue(socket)}: call handleUpgrade() from the server's 'upgrade' listener, not from a request handler or route (or let attach(server) listen for you)`
          : undefined;
  if (problem === undefined) return undefined;
  return new SupervisorError('WSSUP_INVALID_ARGUMENT', `handleUpgrade(request, socket, head): ${problem}`);
}

/**
 * Closes the client's connection after such a slip: nothing can be answered
 * on what is not a socket, and a client left waiting would hold its TCP
 * connection (Node sets no timeout on an upgraded socket). Whichever argument
 * is a stream is destroyed; destroying an upgrade's request destroys its socket.
 */
export function dropUnusableUpgrade(request: unknown, socket: unknown): void {
  if (isRequest(request) && isHttp2(request)) {
    // RST_STREAM HTTP_1_1_REQUIRED (RFC 9113 §7): what the client may do instead, and only
    // this stream ends; the session's other requests go on.
    const { stream } = request as unknown as Http2ServerRequest;
    try {
      stream.close(constants.NGHTTP2_HTTP_1_1_REQUIRED);
      return;
    } catch {
      // Fall back to destroying it, below.
    }
  }
  for (const stream of [socket, request]) {
    if (!hasMethods(stream, ['destroy'])) continue;
    try {
      (stream as { destroy(): void }).destroy();
    } catch {
      // Not ours to fix: the error above already names the slip.
    }
  }
}

/**
 * True when a `ws` WebSocket already owns this socket: another WebSocketServer of the
 * same http server (one created with `{ server }`, old code left in place) completed
 * its handshake first. ws marks the socket with its own `Symbol('websocket')`, one per
 * copy of ws, so it is found by its description. Never throws.
 */
export function isUpgradedElsewhere(socket: Duplex): boolean {
  try {
    return Object.getOwnPropertySymbols(socket).some(
      (symbol) =>
        symbol.description === 'websocket' && (socket as unknown as Record<symbol, unknown>)[symbol] != null,
    );
  } catch {
    return false;
  }
}
