/**
 * What the Redis slot store may be given as `redis` (issue 12), and how each
 * shape is told apart: a URL, a node-redis client, a node-redis cluster
 * client, or root nodes of a Redis Cluster. Only types and checks: nothing
 * here loads node-redis.
 */

/**
 * The part of a node-redis v5/v6 client (`createClient()` from `redis`) the
 * store uses. Pass your own connected client as `redis` to share it; the store
 * then never closes it, and makes its pub/sub connection with `duplicate()`.
 * Create it with `disableOfflineQueue: true`, or commands issued while it
 * reconnects wait for the command timeout instead of failing at once.
 */
export interface RedisClientLike {
  sendCommand(args: readonly string[], options?: { timeout?: number }): Promise<unknown>;
  duplicate(): RedisSubscriberLike;
}

/**
 * The part of a node-redis v5/v6 cluster client (`createCluster()` from `redis`)
 * the store uses. Told apart from a single client by `nodeClient` and
 * `masters`, which only the cluster client has (its `sendCommand` takes the
 * routing key first: another signature). Create it with
 * `defaults: { disableOfflineQueue: true }`, for the reason given above.
 */
export interface RedisClusterLike {
  sendCommand(
    firstKey: string | undefined,
    isReadonly: boolean | undefined,
    args: string[],
    options?: { timeout?: number },
  ): Promise<unknown>;
  /** The masters of the last topology the client discovered. */
  readonly masters: readonly object[];
  /** A master's own connection (for SCRIPT LOAD on each, and the renewal's checks). */
  nodeClient(node: object): Promise<RedisNodeLike>;
  duplicate(): RedisSubscriberLike;
}

/** One node's connection inside a cluster client. */
export interface RedisNodeLike {
  sendCommand(args: string[], options?: { timeout?: number }): Promise<unknown>;
}

/** Root nodes of a Redis Cluster, for the store to create its own cluster client. */
export interface RedisClusterNodes {
  /** `redis://` or `rediss://` URLs of some of the cluster's nodes; the rest are discovered. */
  rootNodes: readonly string[];
}

/** What the store may be given as `redis`. */
export type RedisTarget = string | RedisClientLike | RedisClusterLike | RedisClusterNodes;

/**
 * Whether `value` is a node-redis cluster client: it has `nodeClient` and a
 * `masters` list, which a single client has not. Checked before the single
 * client's shape, as both have `sendCommand` and `duplicate`.
 */
export function isClusterClient(value: unknown): value is RedisClusterLike {
  const client = value as Partial<RedisClusterLike> | null;
  return (
    typeof client === 'object' &&
    client !== null &&
    typeof client.nodeClient === 'function' &&
    typeof client.sendCommand === 'function' &&
    typeof client.duplicate === 'function' &&
    Array.isArray(client.masters)
  );
}

/** Whether `value` is a single node-redis client (and not a cluster client). */
export function isSingleClient(value: unknown): value is RedisClientLike {
  const client = value as Partial<RedisClientLike> | null;
  return (
    typeof client === 'object' &&
    client !== null &&
    !isClusterClient(value) &&
    typeof client.sendCommand === 'function' &&
    typeof client.duplicate === 'function'
  );
}

/** Whether `value` is `{ rootNodes: [url, …] }` (URLs checked by the caller). */
export function isClusterNodes(value: unknown): value is RedisClusterNodes {
  const nodes = value as Partial<RedisClusterNodes> | null;
  return (
    typeof nodes === 'object' &&
    nodes !== null &&
    Array.isArray(nodes.rootNodes) &&
    nodes.rootNodes.length > 0 &&
    nodes.rootNodes.every((url) => typeof url === 'string')
  );
}

/** The pub/sub connection: a duplicate of the main client, owned by the store. */
export interface RedisSubscriberLike {
  connect(): Promise<unknown>;
  sSubscribe(channel: string, listener: (message: string) => void): Promise<void>;
  /** Not called by the store (destroy() ends the subscription); part of the shape both client kinds share. */
  sUnsubscribe(channel: string): Promise<void>;
  on(event: 'error', listener: (error: Error) => void): unknown;
  off(event: 'error', listener: (error: Error) => void): unknown;
  close(): Promise<void>;
  destroy(): void;
}
