/**
 * What the Redis slot store may be given as `redis` (issue 12), and how each
 * shape is told apart: a URL, a node-redis client, a node-redis cluster
 * client, root nodes of a Redis Cluster, a node-redis sentinel client, or the
 * sentinels of a Redis Sentinel setup. Only types and checks: nothing
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
  /**
   * Sends one command (`['EVALSHA', …]`) and resolves with Redis's reply. The store passes
   * `{ timeout: 0 }`: it bounds each command itself, by `commandTimeoutMs`.
   */
  sendCommand(args: readonly string[], options?: { timeout?: number }): Promise<unknown>;
  /** A new, unconnected client of the same options: the store's pub/sub connection, which it connects and destroys. */
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
  /**
   * Sends one command to the master of `firstKey`'s slot (the store passes `isReadonly`
   * false, and `{ timeout: 0 }`: it bounds each command itself) and resolves with the reply.
   */
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
  /**
   * The master serving hash slot `slot` in the last topology (node-redis has it; it throws
   * while that slot is unknown). Optional: without it, one master that stops answering
   * holds back the commands to all (their deadlines are one list), and `shardOf` is undefined.
   */
  getSlotMaster?(slot: number): { readonly address?: string } | undefined;
  /** A new, unconnected cluster client of the same options: the store's sharded pub/sub, which it connects and destroys. */
  duplicate(): RedisSubscriberLike;
}

/** One node's connection inside a cluster client. */
export interface RedisNodeLike {
  /** Sends one command to this node alone (SCRIPT LOAD, TIME, INFO) and resolves with its reply. */
  sendCommand(args: string[], options?: { timeout?: number }): Promise<unknown>;
}

/** Root nodes of a Redis Cluster, for the store to create its own cluster client. */
export interface RedisClusterNodes {
  /** `redis://` or `rediss://` URLs of some of the cluster's nodes; the rest are discovered. */
  rootNodes: readonly string[];
}

/**
 * The part of a node-redis v5/v6 sentinel client (`createSentinel()` from
 * `redis`) the store uses. Told apart from a single client by
 * `getMasterNode` and `getReplicaNodes`, which only the sentinel client has
 * (its `sendCommand` takes `isReadonly` first: another signature). Every
 * command goes to the primary (`isReadonly` false). Create it with
 * `nodeClientOptions: { disableOfflineQueue: true }`, as for a single client.
 */
export interface RedisSentinelLike {
  /**
   * Sends one command to the primary (the store passes `isReadonly` false, and
   * `{ timeout: 0 }`: it bounds each command itself) and resolves with the reply.
   */
  sendCommand(
    isReadonly: boolean | undefined,
    args: string[],
    options?: { timeout?: number },
  ): Promise<unknown>;
  /** The primary it sends to now (undefined until connected). */
  getMasterNode(): { host: string; port: number } | undefined;
  /** Never called: having it (with `getMasterNode`) is what tells a sentinel client apart. */
  getReplicaNodes(): unknown;
  /** False before connect() and after close(): its commands would fail on a missing connection. */
  readonly isOpen?: boolean;
  /** A new sentinel client of the same options: the store's pub/sub connection. */
  duplicate(): RedisSentinelSubscriberLike;
}

/** The pub/sub connection made by a sentinel client's duplicate(): its destroy() returns a promise. */
export interface RedisSentinelSubscriberLike extends Omit<RedisSubscriberLike, 'destroy'> {
  /** Drops the connection at once, as {@link RedisSubscriberLike.destroy} does; the store does not wait for the promise. */
  destroy(): Promise<void> | void;
}

/** One sentinel's address, as node-redis's `createSentinel({ sentinelRootNodes })` takes it. */
export interface RedisSentinelNode {
  /** The sentinel's host name or IP address. */
  host: string;
  /** The sentinel's port (Redis Sentinel's default is 26379). */
  port: number;
}

/**
 * The credentials of one kind of connection of the store's own sentinel client: an ACL user
 * and its password (node-redis sends `AUTH username password`), or a password alone (for
 * `requirepass`, the `default` user). What node-redis's `nodeClientOptions` and
 * `sentinelClientOptions` take of them; nothing else is forwarded.
 */
export interface RedisSentinelAuth {
  /** The ACL user; without it, node-redis authenticates as the `default` user. */
  username?: string;
  /** The user's password (`requirepass` for the `default` user). */
  password?: string;
}

/** The sentinels of a Redis Sentinel setup, for the store to create its own sentinel client. */
export interface RedisSentinelNodes {
  /** The name the sentinels monitor the primary under (`sentinel monitor <name> …`). */
  name: string;
  /** Some of the sentinels; the others are discovered. */
  sentinelRootNodes: readonly RedisSentinelNode[];
  /** The credentials for the primary and replicas (the store's commands and its pub/sub). @default none */
  nodeClientOptions?: RedisSentinelAuth;
  /** The credentials for the sentinels (discovery and their events). @default none */
  sentinelClientOptions?: RedisSentinelAuth;
}

/** What the store may be given as `redis`. */
export type RedisTarget =
  | string
  | RedisClientLike
  | RedisClusterLike
  | RedisClusterNodes
  | RedisSentinelLike
  | RedisSentinelNodes;

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

/**
 * Whether `value` is a node-redis sentinel client: it has `getMasterNode` and
 * `getReplicaNodes`, which neither a single nor a cluster client has. Checked
 * before the single client's shape, as both have `sendCommand` and `duplicate`.
 */
export function isSentinelClient(value: unknown): value is RedisSentinelLike {
  const client = value as Partial<RedisSentinelLike> | null;
  return (
    typeof client === 'object' &&
    client !== null &&
    typeof client.getMasterNode === 'function' &&
    typeof client.getReplicaNodes === 'function' &&
    typeof client.sendCommand === 'function' &&
    typeof client.duplicate === 'function'
  );
}

/** Whether `value` is a single node-redis client (and not a cluster or sentinel client). */
export function isSingleClient(value: unknown): value is RedisClientLike {
  const client = value as Partial<RedisClientLike> | null;
  return (
    typeof client === 'object' &&
    client !== null &&
    !isClusterClient(value) &&
    !isSentinelClient(value) &&
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

/**
 * Whether `value` is `{ name, sentinelRootNodes: [{ host, port }, …] }` (the
 * name and addresses checked by the caller).
 */
export function isSentinelNodes(value: unknown): value is RedisSentinelNodes {
  const nodes = value as Partial<RedisSentinelNodes> | null;
  return (
    typeof nodes === 'object' &&
    nodes !== null &&
    typeof nodes.name === 'string' &&
    Array.isArray(nodes.sentinelRootNodes) &&
    nodes.sentinelRootNodes.length > 0
  );
}

/** The pub/sub connection: a duplicate of the main client, owned by the store. */
export interface RedisSubscriberLike {
  /** Opens the connection: the store calls it once, right after duplicate(), bounded by its connect timeout. */
  connect(): Promise<unknown>;
  /** SSUBSCRIBE to `channel` (this node's orders); `listener` gets each message as a string. */
  sSubscribe(channel: string, listener: (message: string) => void): Promise<void>;
  /** Not called by the store (destroy() ends the subscription); part of the shape both client kinds share. */
  sUnsubscribe(channel: string): Promise<void>;
  on(event: 'error', listener: (error: Error) => void): unknown;
  /**
   * A cluster client only: after a slot move, subscribing again on the slot's new master
   * failed, and the channel's listeners were dropped (node-redis's own re-subscription).
   */
  on(event: 'sharded-channel-moved-error', listener: (error: Error, channel: string) => void): unknown;
  /** Removes an 'error' listener added with on(). */
  off(event: 'error', listener: (error: Error) => void): unknown;
  /** Closes once the replies in flight are in (node-redis's close()); the store ends its pub/sub with destroy(). */
  close(): Promise<void>;
  /**
   * Drops the connection at once, which ends its subscription: how the store ends its pub/sub at
   * stop() (an UNSUBSCRIBE could wait forever on a Redis that does not answer).
   */
  destroy(): void;
}
