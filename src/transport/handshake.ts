/**
 * checkHandshake(): the opening-handshake checks of ws's
 * `WebSocketServer#handleUpgrade`, run before authenticate and admission.
 *
 * ws validates a request only when it is asked to complete the handshake,
 * which the supervisor does after a slot was reserved (and idle connections
 * of the user possibly evicted to make room). A request that ws would refuse
 * must be refused before that, with the answer ws would give, so that it is
 * never admitted, never evicts anything and allocates nothing.
 *
 * The checks follow ws 8 (lib/websocket-server.js, handleUpgrade), in its
 * order, and use ws's own parsers for the two headers with a grammar
 * (Sec-WebSocket-Protocol, Sec-WebSocket-Extensions), so they refuse exactly
 * what the installed ws refuses. Only `verifyClient` is left to ws: it is the
 * app's verdict, and it may be asynchronous. Two rules of RFC 6455 §4.2.1
 * that ws does not check are checked too: the request is HTTP/1.1 or later
 * and carries a Host header.
 */
import type { IncomingMessage } from 'node:http';
import { AppHookError } from '../errors.js';
import type { StatusOf } from '../reasons.js';
// ws's own parsers, read from the app's ws (ws-peer.ts checks that it has them).
import { extension, PerMessageDeflate, subprotocol } from './ws-peer.js';

/** How to refuse a malformed upgrade request: an HTTP status, a body and extra headers. */
export interface HandshakeRefusal {
  /** The statuses a `bad-handshake` rejected event may carry: its type's own, so that another fails to compile. */
  status: StatusOf<'bad-handshake'>;
  message: string;
  headers?: Readonly<Record<string, string>>;
  /** Set when the app's `shouldHandle` threw: report it, then refuse (HTTP 500). */
  error?: AppHookError;
}

/** The part of a ws `WebSocketServer` that the checks read. */
export interface HandshakeServer {
  readonly options: {
    readonly perMessageDeflate?: boolean | object | undefined;
    readonly maxPayload?: number | undefined;
  };
  shouldHandle(request: IncomingMessage): boolean | Promise<boolean>;
}

// ws's own: 16 bytes in base64 are 22 characters and "==".
const KEY = /^[+/0-9A-Za-z]{22}==$/;

/** The versions ws speaks (RFC 6455's 13, and 8 of the hybi drafts). */
const SUPPORTED_VERSIONS = '13, 8';

/**
 * Returns how to refuse `request` when ws would refuse its handshake, or
 * undefined when ws would accept it (its `verifyClient` aside). Pure: it reads
 * the request and the server's options and allocates nothing that outlives it.
 *
 * Statuses follow ws, so moving the check earlier changes no answer a client
 * sees: 405 for a method other than GET (with `Allow: GET`), 400 otherwise,
 * and an unsupported version gets 400 with `Sec-WebSocket-Version: 13, 8`
 * (RFC 6455 §4.4 asks for the header; its 426 is only an example).
 */
export function checkHandshake(request: IncomingMessage, wss: HandshakeServer): HandshakeRefusal | undefined {
  // RFC 6455 §4.2.1 (1, 2): ws answers these with a 101; a proxy or a client that
  // sends them is not speaking WebSocket, and its handshake must not hold a slot.
  if (request.httpVersionMajor < 1 || (request.httpVersionMajor === 1 && request.httpVersionMinor < 1)) {
    return { status: 505, message: 'WebSocket needs HTTP/1.1 or later' };
  }
  if (request.headers.host === undefined) {
    return { status: 400, message: 'Missing Host header' };
  }
  if (request.method !== 'GET') {
    return { status: 405, message: 'Invalid HTTP method', headers: { Allow: 'GET' } };
  }
  const headers = request.headers;
  const upgrade = headers.upgrade;
  if (upgrade === undefined || upgrade.toLowerCase() !== 'websocket') {
    return { status: 400, message: 'Invalid Upgrade header' };
  }
  const key = headers['sec-websocket-key'];
  if (key === undefined || !KEY.test(key)) {
    return { status: 400, message: 'Missing or invalid Sec-WebSocket-Key header' };
  }
  // ws's own coercion, so the same spellings pass (" 13", "13.0").
  const version = Number(headers['sec-websocket-version']);
  if (version !== 13 && version !== 8) {
    return {
      status: 400,
      message: 'Missing or invalid Sec-WebSocket-Version header',
      headers: { 'Sec-WebSocket-Version': SUPPORTED_VERSIONS },
    };
  }
  let handled: boolean | Promise<boolean>;
  try {
    handled = wss.shouldHandle(request);
  } catch (error) {
    return {
      status: 500,
      message: 'Internal Server Error',
      error: new AppHookError('webSocketServer.shouldHandle', error),
    };
  }
  // ws tests the value as is, so a promise (allowed by @types/ws) counts as true there too.
  if (!handled) return { status: 400, message: 'Not handled by this WebSocket server' };
  const protocols = headers['sec-websocket-protocol'];
  if (protocols !== undefined) {
    try {
      subprotocol.parse(protocols);
    } catch {
      return { status: 400, message: 'Invalid Sec-WebSocket-Protocol header' };
    }
  }
  const extensions = headers['sec-websocket-extensions'];
  const deflate = wss.options.perMessageDeflate;
  if (deflate && extensions !== undefined) {
    try {
      const offers = extension.parse(extensions)[PerMessageDeflate.extensionName];
      if (offers !== undefined) {
        // Negotiation only: no zlib stream exists until a message is compressed.
        const options = typeof deflate === 'object' ? deflate : {};
        new PerMessageDeflate({ ...options, isServer: true, maxPayload: wss.options.maxPayload }).accept(
          offers,
        );
      }
    } catch {
      return { status: 400, message: 'Invalid or unacceptable Sec-WebSocket-Extensions header' };
    }
  }
  return undefined;
}
