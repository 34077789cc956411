/**
 * Recognises a ws `WebSocketServer` by what the supervisor uses of it, not by
 * `instanceof` (issue 13): an app's own copy of `ws` (another version, or a
 * copy npm nested beside ours) has its own class, and `instanceof` against
 * ours refused it.
 */
import type { WebSocketServer } from 'ws';
import { describeValue } from './errors.js';

/**
 * True for a WebSocketServer-like object created with `{ noServer: true }`:
 * it has `handleUpgrade` (the one method the supervisor calls per connection)
 * and `close`, and its `options.noServer` is true. A server that listens by
 * itself would complete handshakes before a slot could be reserved.
 */
export function isNoServerWebSocketServer(value: unknown): value is WebSocketServer {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as { handleUpgrade?: unknown; close?: unknown; options?: unknown };
  if (typeof candidate.handleUpgrade !== 'function' || typeof candidate.close !== 'function') return false;
  const options = candidate.options;
  return (
    typeof options === 'object' && options !== null && (options as { noServer?: unknown }).noServer === true
  );
}

/**
 * `wss` has a `verifyClient` of the app's: ws runs it inside handleUpgrade, after the
 * admission was decided (and, with `atLimit: 'replace-oldest'`, an old connection replaced).
 */
export function hasVerifyClient(wss: WebSocketServer): boolean {
  return typeof (wss.options as { verifyClient?: unknown }).verifyClient === 'function';
}

/**
 * How an error names a ws server made to listen by itself (`{ port }` or `{ server }`):
 * "received a WebSocketServer" alone read as the right thing passed, so say how it was
 * made and what to do instead; and the class itself, passed where an instance belongs.
 * Undefined for anything else (the default naming applies).
 */
export function describeListeningServer(value: unknown): string | undefined {
  // The class itself where an instance belongs: "received a function" did not say which slip it was.
  if (typeof value === 'function' && isWebSocketServerClass(value)) {
    return 'a function (the class, not a server: pass new WebSocketServer({ noServer: true }))';
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const candidate = value as { handleUpgrade?: unknown; options?: unknown };
  if (typeof candidate.handleUpgrade !== 'function') return undefined;
  const options = candidate.options;
  if (typeof options !== 'object' || options === null) return undefined;
  const { server, port } = options as { server?: unknown; port?: unknown };
  // ws fills in every option it knows, as null when not given.
  const madeWith = server != null ? 'server' : port != null ? 'port' : undefined;
  if (madeWith === undefined) return undefined;
  return (
    `${describeValue(value)} created with { ${madeWith} }, which completes handshakes itself: ` +
    'create it with { noServer: true } and give your http server to attach()'
  );
}

/** A class whose instances would have handleUpgrade: ws's WebSocketServer, of any copy. Never throws. */
function isWebSocketServerClass(value: unknown): boolean {
  try {
    const { prototype } = value as { prototype?: { handleUpgrade?: unknown } };
    return typeof prototype?.handleUpgrade === 'function';
  } catch {
    return false;
  }
}
