/**
 * When the store's Redis connection comes back after a drop (issue 12): node-redis
 * reconnects in the background, and the first command after that may reach another
 * server (a failover behind one address, a restart). The store passes this on as
 * `reconnected`, so that the node renews at once instead of at its next tick.
 *
 * A single client says so with 'ready' (after every connect, its handshake done), and
 * so does a sentinel client (once it is connected to the primary again, after a
 * reconfiguration: a failover); a cluster client with 'node-ready' (any node's
 * connection, a restarted master's included). The listener is added once the store
 * has started, so the first connect is never reported, and its undo removes exactly
 * it: an app's own client outlives the store, and must not keep a listener per store
 * it was lent to.
 */
import { isClusterClient } from './redis-shapes.js';

/** node-redis's event emitter methods; a client without them (a test double) is not watched. */
interface Emitter {
  on(event: string, listener: () => void): unknown;
  off(event: string, listener: () => void): unknown;
}

const isEmitter = (value: unknown): value is Emitter =>
  typeof (value as Partial<Emitter> | null)?.on === 'function' &&
  typeof (value as Partial<Emitter> | null)?.off === 'function';

/** Calls `listener` each time `client` (single, cluster or sentinel) has a connection ready again; returns its undo. */
export function watchReconnects(client: unknown, listener: () => void): () => void {
  if (!isEmitter(client)) return () => {};
  const event = isClusterClient(client) ? 'node-ready' : 'ready';
  client.on(event, listener);
  return () => void client.off(event, listener);
}
