/**
 * The app's own node-redis client (`cluster.redis`), closed for good under the store. node-redis
 * closes a client whose `reconnectStrategy` gave up (`isOpen` turns false, it emits
 * 'terminated', and every command fails with "The client is closed"): its default strategy
 * does so after one socket timeout, i.e. a Redis that stalled longer than `socketTimeout`
 * (new-user trial). The app may close it too, before shutdown(). The store never reopens a
 * client it was given, so this is no outage that ends by itself: the runtime refuses
 * admissions whatever `onStoreUnavailable` says (admitting on the local limit would break the
 * per-user limit across the cluster for good, with nothing in Redis to reconcile) and reads
 * as unready, until the app connects the client again and a renewal answers.
 */
import { InvalidOptionError, SupervisorError } from '../errors.js';
import { isClusterNodes, isSentinelNodes, isSingleClient, type RedisTarget } from './redis-shapes.js';

/** Whether `redis` is a client of the app's (not a URL nor nodes) that says it is closed. */
export function appClientClosed(redis: RedisTarget): boolean {
  if (typeof redis !== 'object' || redis === null || isClusterNodes(redis) || isSentinelNodes(redis))
    return false;
  return (redis as { isOpen?: unknown }).isOpen === false;
}

/** The store's start or renewal failed because the app's client is closed (`cause`: how the call failed). */
export function clientClosedError(cause: unknown): SupervisorError {
  return new SupervisorError(
    'WSSUP_STORE_CLIENT_CLOSED',
    'slot store: the Redis client given as cluster.redis is closed for good (node-redis closes a client ' +
      'whose reconnectStrategy gave up, and its default one gives up after a socket timeout: Redis ' +
      'silent for longer than socket.socketTimeout), and the store never reopens a client it was given: ' +
      'this process books nothing and refuses every admission (503 store-unavailable, stats().admission ' +
      'not admitting) until the client is connected again (await client.connect()). Create it with a ' +
      'socket.reconnectStrategy that reconnects after any drop, e.g. (retries) => Math.min(50 * 2 ** retries, 1_000) ' +
      '(docs/cluster-store.md, "Your own client"), or pass a redis:// URL and let the store own its client',
    { cause },
  );
}

/** Whether a store call failed because the app's client is closed (clientClosedError). */
export const isClientClosedError = (error: unknown): boolean =>
  error instanceof SupervisorError && error.code === 'WSSUP_STORE_CLIENT_CLOSED';

/**
 * The warning for an app's single client created with a `socket.socketTimeout` and no
 * `socket.reconnectStrategy` (read from node-redis's `client.options`, which keeps the socket
 * options as given): node-redis's default strategy closes it for good at its first socket
 * timeout. Undefined for anything else (a URL, nodes, a cluster or sentinel client, whose
 * options are not read, or a client without `options`).
 */
export function reconnectsMissing(redis: RedisTarget | undefined): InvalidOptionError | undefined {
  if (redis === undefined || !isSingleClient(redis)) return undefined;
  const socket = (
    redis as { options?: { socket?: { socketTimeout?: unknown; reconnectStrategy?: unknown } } }
  ).options?.socket;
  const timeout = socket?.socketTimeout;
  if (typeof timeout !== 'number' || !(timeout > 0) || socket?.reconnectStrategy !== undefined)
    return undefined;
  return new InvalidOptionError(
    'cluster.redis',
    "a client that reconnects after a socket timeout: node-redis's default reconnectStrategy does not, so one " +
      `stall of Redis longer than its socket.socketTimeout (${timeout} ms) closes it for good ` +
      '(WSSUP_STORE_CLIENT_CLOSED, every admission refused until it is connected again); give it ' +
      'socket.reconnectStrategy, e.g. (retries) => Math.min(50 * 2 ** retries, 1_000) (docs/cluster-store.md, "Your own client")',
    redis,
    'a client with socket.socketTimeout and no socket.reconnectStrategy',
  );
}
