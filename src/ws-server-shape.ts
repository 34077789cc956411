/**
 * Recognises a ws `WebSocketServer` by what the supervisor uses of it, not by
 * `instanceof` (issue 13): an app's own copy of `ws` (another version, or a
 * copy npm nested beside ours) has its own class, and `instanceof` against
 * ours refused it.
 */
import type { WebSocketServer } from 'ws';

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
