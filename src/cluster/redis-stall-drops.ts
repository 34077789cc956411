/**
 * A Redis connection dropped by a stall of our own process, told apart from a
 * Redis that stopped answering (a GC pause on a big heap, an app's synchronous
 * work: bench/RESULTS.md, "A stall of our own process").
 *
 * node-redis drops a socket that has been silent for socketTimeout
 * (silentSocketMs) with a SocketTimeoutError, which rejects every command in
 * flight. It is a Node socket timeout: after a stall longer than that, Node's
 * timers phase fires it before the poll phase reads the replies that arrived
 * meanwhile, so a healthy socket is dropped. The store cannot reach that
 * socket (node-redis keeps it private), but it can tell the two drops apart:
 *
 * - Redis that stopped answering: reads and writes both refresh the socket's
 *   timer, so a command still in flight when it fires went out silentSocketMs
 *   (4 command timeouts) earlier, and its deadline (redis-deadlines.ts) has
 *   already failed it: some list is overdue.
 * - A stall of ours: the deadlines count ticks, and no tick ran during the
 *   stall, so nothing is overdue yet although the socket "was silent".
 *
 * After a drop with nothing overdue, commands wait for the connection to be
 * ready again instead of failing offline, and those it rejected with the
 * SocketTimeoutError are sent again (redis-client.ts, wrap); all of it within
 * the commands' own deadlines, which keep counting. The wait ends at the next
 * 'ready' or at the reconnect's own failure (then they fail offline, as before).
 * The one real outage taken for a stall: an idle connection (nothing of ours in
 * flight) whose Redis went silent. Its commands then fail at their deadline or
 * at the reconnect's failure, instead of at once.
 */
import { isClusterClient } from './redis-shapes.js';

interface Emitter {
  on(event: string, listener: (first: unknown, second?: unknown) => void): unknown;
  off(event: string, listener: (first: unknown, second?: unknown) => void): unknown;
}

const isEmitter = (value: unknown): value is Emitter =>
  typeof (value as Partial<Emitter> | null)?.on === 'function' &&
  typeof (value as Partial<Emitter> | null)?.off === 'function';

/** node-redis's SocketTimeoutError (its class is not exported by `redis`). */
export const isSocketTimeout = (error: unknown): boolean =>
  error instanceof Error && error.constructor.name === 'SocketTimeoutError';

export interface StallDrops {
  /** After a drop only a stall of ours explains: settles when the connection is ready again, or its reconnect failed. */
  readonly resumed: Promise<void> | undefined;
  /** Removes its listeners and ends a wait (the connection is closing). */
  stop(): void;
}

/** Watches `client` (single, cluster or sentinel) for drops by socket timeout; `overdue` says whether any deadline list is. */
export function watchStallDrops(client: unknown, overdue: () => boolean): StallDrops {
  if (!isEmitter(client)) return { resumed: undefined, stop() {} };
  const cluster = isClusterClient(client);
  const errorEvent = cluster ? 'node-error' : 'error';
  const readyEvent = cluster ? 'node-ready' : 'ready';
  const reconnectingEvent = cluster ? 'node-reconnecting' : 'reconnecting';
  // A cluster's events name the node's connection (its clientInfo, one object per node).
  const connectionOf = (info: unknown) => (cluster ? info : client);
  // Connections reconnecting (not ready again yet): a socket timeout there is a handshake
  // that got no answer, as from a Redis still stopped, never a stall's drop.
  const reconnecting = new Set<unknown>();
  let resumed: Promise<void> | undefined;
  let resume: (() => void) | undefined;
  let drop: unknown;
  let listening = false;
  // 'ready' is listened to only while something waits for it: an app's own client keeps the
  // listeners it had (the store adds one 'ready' of its own, redis-reconnects.ts).
  const listen = (on: boolean) => {
    if (on === listening) return;
    listening = on;
    if (on) client.on(readyEvent, ready);
    else client.off(readyEvent, ready);
  };
  const settle = () => {
    const done = resume;
    resumed = resume = drop = undefined;
    listen(reconnecting.size > 0);
    done?.();
  };
  const ready = (info: unknown) => {
    reconnecting.delete(connectionOf(info));
    settle();
  };
  const reconnected = (info: unknown) => {
    reconnecting.add(connectionOf(info));
    listen(true);
  };
  const errored = (error: unknown, info?: unknown) => {
    // The same error again: node-redis also reports a keep-alive PING the drop rejected.
    if (error === drop) return;
    if (resumed !== undefined) return settle(); // the reconnect failed: stop waiting
    if (!isSocketTimeout(error) || reconnecting.has(connectionOf(info)) || overdue()) return;
    drop = error;
    resumed = new Promise<void>((resolve) => {
      resume = resolve;
    });
    listen(true);
  };
  client.on(errorEvent, errored);
  client.on(reconnectingEvent, reconnected);
  return {
    get resumed() {
      return resumed;
    },
    stop() {
      client.off(errorEvent, errored);
      client.off(reconnectingEvent, reconnected);
      reconnecting.clear();
      settle();
    },
  };
}
