/**
 * The Redis connection of the slot store (issue 12): the node-redis client it
 * creates or borrows (a single Redis, or a Redis Cluster through node-redis's
 * cluster client), one `command()` with a short timeout that rejects with a
 * SlotStoreUnavailableError instead of hanging or queueing, EVALSHA with the
 * NOSCRIPT fallback, and the counters the tests and the bench read.
 *
 * Redis Cluster. Every command the store sends names the key (or sharded
 * channel) it is routed by at a fixed place (clusterRoutingKey, redis-senders.ts), and
 * every script's keys share one hash slot (redis-keys.ts), so the cluster
 * client sends each command to the one master that serves it. Nothing above
 * this file knows which kind of Redis it talks to.
 *
 * node-redis (`redis`) is an optional peer dependency: only cluster mode needs
 * it, so it is imported on first use (as elkjs is for SVG charts).
 */
import { type Clock, createCountingClock } from '../clock.js';
import { importOptionalPeer, type ModuleLoader } from '../optional-peer.js';
import { connectFailure } from './connect-failure.js';
import { redactRedisUrl } from './redact-redis-url.js';
import { commandLabel, Deadlines } from './redis-deadlines.js';
import { MasterDeadlines } from './redis-master-deadlines.js';
import { watchReconnects } from './redis-reconnects.js';
import type { Script } from './redis-scripts.js';
import { type Guard, type MasterCheck, ofCluster, ofSentinel, type Sender, single } from './redis-senders.js';
import {
  isClusterClient,
  isSentinelClient,
  type RedisClientLike,
  type RedisClusterLike,
  type RedisClusterNodes,
  type RedisSentinelAuth,
  type RedisSentinelLike,
  type RedisSentinelNodes,
  type RedisSentinelSubscriberLike,
  type RedisSubscriberLike,
} from './redis-shapes.js';
import { SlotStoreUnavailableError } from './slot-store.js';

export { clusterRoutingKey, type MasterCheck, maxmemoryPolicy } from './redis-senders.js';
export {
  isClusterClient,
  isClusterNodes,
  isSentinelClient,
  isSentinelNodes,
  isSingleClient,
  type RedisClientLike,
  type RedisClusterLike,
  type RedisClusterNodes,
  type RedisNodeLike,
  type RedisSentinelAuth,
  type RedisSentinelLike,
  type RedisSentinelNode,
  type RedisSentinelNodes,
  type RedisSentinelSubscriberLike,
  type RedisSubscriberLike,
  type RedisTarget,
} from './redis-shapes.js';

/** What needs `redis`, as a MissingPeerError names it. */
export const REDIS_FEATURE = 'Cluster mode (a Redis slot store)';

interface OwnedClient extends RedisClientLike, RedisSubscriberLike {}

interface OwnedCluster extends RedisClusterLike, RedisSubscriberLike {
  duplicate(overrides?: { minimizeConnections?: boolean }): RedisSubscriberLike;
}

interface OwnedSentinel extends RedisSentinelLike, Omit<RedisSentinelSubscriberLike, 'on'> {
  on(event: string, listener: (...args: never[]) => void): unknown;
}

interface RedisModule {
  createClient(options: object): OwnedClient;
  createCluster(options: object): OwnedCluster;
  createSentinel(options: object): OwnedSentinel;
}

export interface ConnectOptions {
  /** Per-command timeout in ms. */
  commandTimeoutMs: number;
  /** The timer API of the deadlines' watchdog (redis-deadlines.ts). @default the real timers */
  clock?: Clock;
}

/** How many commands and round trips each store method has cost. */
export interface StoreTraffic {
  /** Commands sent to Redis (a NOSCRIPT retry counts twice). */
  commands: number;
  /** Round trips, by store method: commands sent together count once. */
  roundTrips: Record<string, number>;
}

export interface RedisConnection {
  /** The client whose duplicate() makes the pub/sub connection (a cluster client for a cluster). */
  readonly client: { duplicate(): RedisSubscriberLike };
  /** Whether the store created the client (and so closes it on stop). */
  readonly owned: boolean;
  /**
   * What the store connected to, as its connect errors name it (`Redis at redis://…`, the URL
   * without its password; a Sentinel primary's name and sentinels; a Redis Cluster's root
   * nodes). Undefined for the app's own client, whose target the store does not know.
   */
  readonly where: string | undefined;
  /** Sends one command. @throws {SlotStoreUnavailableError} on timeout, offline, or an error reply. */
  command(args: readonly string[]): Promise<unknown>;
  /** Runs a script by SHA; on NOSCRIPT (Redis restarted, SCRIPT FLUSH) runs it with EVAL, which caches it again. */
  run(script: Script, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown>;
  /**
   * Settles like `promise`, or fails with SlotStoreUnavailableError after `timeoutMs`
   * (default: the command timeout). Under the store-wide deadlines, not a master's.
   */
  watch<T>(promise: Promise<T>, what: string, timeoutMs?: number): Promise<T>;
  /** Loads scripts into Redis's script cache (SCRIPT LOAD, on every master of a cluster), so that the first EVALSHA of each finds it. */
  load(scripts: readonly Script[]): Promise<void>;
  /**
   * A Redis Cluster's masters, each asked its TIME and INFO server run_id on
   * its own connection (the renewal's clock and failover checks, see
   * redis-clock-offset.ts and redis-servers-seen.ts); undefined for a single
   * Redis, whose renew script does both. A master that does not answer in time
   * is left out, as is one whose earlier commands are still overdue. Also forgets
   * the deadlines of masters that left the topology (redis-master-deadlines.ts).
   */
  checkMasters(): Promise<readonly MasterCheck[]> | undefined;
  /**
   * The `host:port` of the Redis Cluster master serving `key`'s slot in the client's
   * current topology: the failure domain of the commands routed by `key`. Undefined on
   * a single Redis or through Sentinel (one domain), for a cluster client without
   * getSlotMaster, and while the slot's master is unknown.
   */
  shardOf(key: string): string | undefined;
  /** Whether shardOf may name a master at all (a Redis Cluster client with getSlotMaster): false spares its callers the key. */
  readonly sharded: boolean;
  /**
   * Whether this is a Redis Cluster (commands routed by their key's slot), with or without
   * getSlotMaster: a script's keys must then share one slot, so nothing may add a key of
   * another slot to it (the single-Redis server check, see redis-store.ts).
   */
  readonly cluster: boolean;
  /** Every master shardOf may name now (the client's current topology); undefined where shardOf always is. */
  shards(): readonly string[] | undefined;
  /** The deadline lists still running: '*' (store-wide), then each master's address; none once closed. For tests. */
  liveDeadlines(): readonly string[];
  /**
   * Calls `listener` each time a connection of the client is ready again (see
   * redis-reconnects.ts); returns its undo. Every connection made from now on counts.
   */
  onReconnect(listener: () => void): () => void;
  /** Counts one round trip for `method` (call once per batch of commands sent together). */
  roundTrip(method: string): void;
  traffic(): StoreTraffic;
  close(): Promise<void>;
}

/**
 * Creates a client for `url` with the store's settings, connects it, and wraps it.
 * @throws {MissingPeerError} WSSUP_MISSING_PEER when `redis` is not installed.
 * @throws {SlotStoreUnavailableError} WSSUP_STORE_UNAVAILABLE when Redis does not answer.
 */
export async function connectRedis(
  url: string,
  options: ConnectOptions,
  load?: ModuleLoader,
): Promise<RedisConnection> {
  const redis = await importOptionalPeer<RedisModule>('redis', 'redis', REDIS_FEATURE, load);
  const settings = nodeSettings(options.commandTimeoutMs);
  const client = redis.createClient({ url, ...settings.options });
  const plainUrl = /^redis:/i.test(url);
  const subscriberSource = { duplicate: () => clientSubscriber(client.duplicate()) };
  const where = `Redis at ${redactRedisUrl(url)}`;
  return open(singleOwned(client), where, plainUrl, settings, options, (deadlines, close) =>
    wrap(single(client), subscriberSource, client, true, deadlines, close, where),
  );
}

/**
 * The store's own single-Redis client as open() handles it, destroyed for good, as
 * clientSubscriber destroys its duplicate: node-redis 6.3 does not stop a client destroyed while
 * its connect (a reconnect after a dropped socket) is on its way. RedisSocket's destroy() finds
 * no socket to close yet; a TLS handshake still on its way then completes, and the connection
 * stays after stop(), holding the process open until it has been silent for silentSocketMs
 * (test/regressions/single-stop-during-command-reconnect.test.ts). So it is destroyed again
 * once that connect is there. Not an AbortSignal in its socket options: on Node 20 each socket
 * made with one leaves its 'abort' listener on the signal after it closed, so every reconnect
 * of a long-lived client would add one (and keep its dead socket).
 */
function singleOwned(client: OwnedClient) {
  const events = client as unknown as { on(event: string, listener: () => void): unknown };
  return {
    connect: () => client.connect(),
    destroy() {
      client.destroy();
      events.on('connect', () => {
        try {
          client.destroy();
        } catch {
          // Already closed: what it would report is of no interest after stop().
        }
      });
    },
    on: (event: 'error', listener: (error: unknown) => void) => client.on(event, listener),
  };
}

/**
 * Creates a cluster client from `rootNodes` with the store's settings on every
 * node's connection (node-redis's `defaults`: the root nodes' own options are
 * only used to discover the others), connects it, and wraps it. The first
 * URL's credentials and scheme (rediss: TLS) go to every node.
 * @throws {MissingPeerError} WSSUP_MISSING_PEER when `redis` is not installed.
 * @throws {SlotStoreUnavailableError} WSSUP_STORE_UNAVAILABLE when no root node answers.
 */
export async function connectRedisCluster(
  nodes: RedisClusterNodes,
  options: ConnectOptions,
  load?: ModuleLoader,
): Promise<RedisConnection> {
  const redis = await importOptionalPeer<RedisModule>('redis', 'redis', REDIS_FEATURE, load);
  const settings = nodeSettings(options.commandTimeoutMs);
  const first = new URL(nodes.rootNodes[0] as string);
  const cluster = redis.createCluster({
    rootNodes: nodes.rootNodes.map((url) => ({ url })),
    defaults: {
      ...settings.options,
      ...(first.username === '' ? {} : { username: decodeURIComponent(first.username) }),
      ...(first.password === '' ? {} : { password: decodeURIComponent(first.password) }),
      socket: { ...settings.options.socket, ...(first.protocol === 'rediss:' ? { tls: true } : {}) },
    },
    // Replicas may lag their master: every command, reads included, goes to
    // the master, as a decision must read what the last one wrote.
    useReplicas: false,
    // A master that went away (killed, cut off) is found replaced only by re-reading the
    // layout, which node-redis does once a node has been reconnecting for 5 s by default;
    // that master's users are refused all that while. A connect's own deadline is enough
    // to call it gone. Re-reading costs one CLUSTER SLOTS per period while it stays away;
    // a layout that has not changed yet changes nothing. (Unknown to node-redis before
    // this option existed: ignored there.) The pub/sub duplicate inherits it.
    topologyRefreshOnReconnectionAttemptStrategy: connectTimeoutMs(options.commandTimeoutMs),
  });
  const where = `the Redis Cluster at ${nodes.rootNodes.map(redactRedisUrl).join(', ')}`;
  // The pub/sub duplicate only needs its sharded subscription's connection (and one to
  // discover the slots): not one to every master, as the command client opens at connect.
  const subscriberSource = {
    duplicate: () => clusterSubscriber(cluster.duplicate({ minimizeConnections: true })),
  };
  return open(
    clusterOwned(cluster),
    where,
    first.protocol === 'redis:',
    settings,
    options,
    (deadlines, close) => wrap(ofCluster(cluster), subscriberSource, cluster, true, deadlines, close, where),
  );
}

/** The node-redis events of a cluster client's node clients (see clusterOwned). */
const NODE_LIFE = ['node-connect', 'node-ready', 'node-reconnecting', 'node-error'] as const;

/** A master of node-redis's cluster client: its connection, and its sharded pub/sub connection, once it made them. */
interface ClusterNode {
  client?: { destroy(): void };
  pubSub?: { client?: { destroy(): void } };
}

/** What clusterOwned needs of a node-redis cluster client (the store's own, or a duplicate of any). */
interface DestroyableCluster {
  readonly masters: readonly object[];
  connect(): Promise<unknown>;
  destroy(): void;
}

/**
 * The cluster client as open() handles it, destroyed for good. node-redis 6.3 leaves
 * connections open after its destroy() in two ways: a re-read of the layout in flight
 * (after a MOVED, or its topology refresh while a master is away) still creates and connects
 * a client for every master once its CLUSTER SLOTS is in; and a node client whose TCP
 * connect is still on its way is not stopped, and completes its handshake. Either stays open
 * after stop() (PINGs, reconnects). So the node clients it has when destroyed, and any a late
 * re-read makes, are destroyed again at each sign of life of one (connected, ready,
 * reconnecting, failing), when its socket is there to close
 * (test/regressions/cluster-stop-during-rediscover.test.ts).
 */
function clusterOwned(cluster: DestroyableCluster) {
  const events = cluster as unknown as {
    on(event: string, listener: (error: unknown) => void): unknown;
  };
  return {
    connect: () => cluster.connect(),
    destroy() {
      const clients = new Set<NonNullable<ClusterNode['client']>>();
      const collect = () => {
        for (const node of cluster.masters as readonly ClusterNode[]) {
          if (node.client !== undefined) clients.add(node.client);
          if (node.pubSub?.client !== undefined) clients.add(node.pubSub.client);
        }
      };
      collect();
      cluster.destroy();
      const again = () => {
        collect();
        for (const client of clients) {
          try {
            client.destroy();
          } catch {
            // Already closed: what it would report is of no interest after stop().
          }
        }
      };
      for (const event of NODE_LIFE) events.on(event, again);
    },
    on: (event: 'error', listener: (error: unknown) => void) => events.on(event, listener),
  };
}

/**
 * The store's pub/sub connection from a cluster client's duplicate() (a cluster client too, of
 * the store's own client or of the app's), destroyed as clusterOwned destroys one: its sharded
 * subscriber, reconnecting (a dropped socket) or connecting when stop() destroys it, would
 * otherwise complete its connect, subscribe again and stay
 * (test/regressions/cluster-stop-during-pubsub-reconnect.test.ts).
 */
function clusterSubscriber(duplicate: RedisSubscriberLike): RedisSubscriberLike {
  // A wrapper's duplicate (the shape asks no `masters` of it) is destroyed as it says.
  if (!Array.isArray((duplicate as Partial<DestroyableCluster>).masters)) {
    return destroyedBy(duplicate, () => duplicate.destroy());
  }
  const owned = clusterOwned(duplicate as unknown as DestroyableCluster);
  let destroyed = false;
  const sSubscribe = resubscribesHeard(duplicate, () => destroyed);
  return destroyedBy(
    duplicate,
    () => {
      destroyed = true;
      owned.destroy();
    },
    sSubscribe,
  );
}

/** A node client of node-redis's cluster client, as resubscribesHeard marks its '__MOVED'. */
interface MovedEmitter {
  prependListener(event: '__MOVED', listener: () => void): unknown;
  on(event: '__MOVED', listener: () => void): unknown;
}

/** What resubscribesHeard reaches of a node-redis cluster client. */
interface Resubscribing {
  sSubscribe(channel: string, listener: unknown, bufferMode?: boolean): Promise<unknown>;
  emit(event: string, ...args: unknown[]): boolean;
  on(event: 'node-connect', listener: () => void): unknown;
  _slots?: {
    rediscover?: (...args: unknown[]) => Promise<unknown>;
    nodeByAddress?: ReadonlyMap<string, { client?: MovedEmitter; pubSub?: { client?: MovedEmitter } }>;
  };
}

/**
 * The cluster duplicate, with what node-redis 6.3 leaves unawaited after a sharded channel
 * moved caught. When a sharded subscriber's resubscribe gets MOVED (it reconnected to a node
 * that no longer serves the slot) or a re-read of the layout drops a master, node-redis
 * re-reads the layout from an async event listener and then calls its own sSubscribe() without
 * awaiting it (cluster/cluster-slots.js, the '__MOVED' listener; cluster/index.js,
 * resubscribeAllPubSubListeners). Either can fail with no one to hear it: an unhandled
 * rejection, a crash by Node's default.
 * - The re-subscription: reported as a dropped channel ('sharded-channel-moved-error', what
 *   node-redis reports when its other re-subscription fails), which the store takes for a lost
 *   subscription and subscribes again at its renewals; after stop() (the SSUBSCRIBE: the socket
 *   closed, the client closed), nothing.
 * - The re-read: after stop() ("Cluster closed") dropped, whoever asked for it
 *   (test/regressions/cluster-stop-during-sharded-resubscribe.test.ts). While the store runs
 *   (every node unreachable or refusing CLUSTER SLOTS at that moment), only the '__MOVED'
 *   listener's is dropped; it is told apart as node-redis's listener calls rediscover()
 *   synchronously, between one listener of ours put before it and one after it. That listener
 *   then re-subscribes the listeners it took, on the layout it still has: that SSUBSCRIBE gets
 *   MOVED again, re-reads again (awaited: its failure is thrown, so the re-subscription fails
 *   with it and is reported as above), or succeeds if the nodes answer again. Rethrown, it left
 *   those listeners dropped for good, unreported (test/regressions/cluster-moved-reread-fails.test.ts).
 *   Every other caller awaits the re-read and handles its failure (a command's or an
 *   SSUBSCRIBE's MOVED in cluster/index.js, 'sharded-channel-moved', the topology refresh), and
 *   gets it: told that a failed re-read succeeded, a MOVED command would retry on the stale
 *   layout until "Too many Cluster redirections", hiding the cause.
 * The store's own sSubscribe() is as it was.
 */
function resubscribesHeard(
  duplicate: RedisSubscriberLike,
  destroyed: () => boolean,
): RedisSubscriberLike['sSubscribe'] {
  const client = duplicate as unknown as Resubscribing;
  const own = client.sSubscribe;
  client.sSubscribe = (channel, listener, bufferMode) => {
    const subscribed = own.call(client, channel, listener, bufferMode);
    subscribed.catch((error: unknown) => {
      if (!destroyed()) client.emit('sharded-channel-moved-error', error, channel);
    });
    return subscribed;
  };
  const slots = client._slots;
  const rediscover = slots?.rediscover;
  if (slots !== undefined && rediscover !== undefined) {
    // Set while a node client emits '__MOVED': its listener calls rediscover() synchronously.
    let fromMoved = false;
    slots.rediscover = (...args) => {
      const unawaited = fromMoved;
      fromMoved = false;
      return rediscover.apply(slots, args).catch((error: unknown) => {
        if (destroyed() || unawaited) return;
        throw error;
      });
    };
    // Each node client, once it connects (before it can get a MOVED): the listener put before
    // node-redis's marks its re-read, the one after it ends the mark (whatever it called).
    const marked = new WeakSet<MovedEmitter>();
    client.on('node-connect', () => {
      for (const node of slots.nodeByAddress?.values() ?? []) {
        for (const nodeClient of [node.client, node.pubSub?.client]) {
          if (nodeClient === undefined || marked.has(nodeClient)) continue;
          marked.add(nodeClient);
          nodeClient.prependListener('__MOVED', () => {
            fromMoved = true;
          });
          nodeClient.on('__MOVED', () => {
            fromMoved = false;
          });
        }
      }
    });
  }
  return (channel, listener) => own.call(client, channel, listener) as Promise<void>;
}

/**
 * The store's pub/sub connection from a single client's duplicate() (of the store's own client
 * or of the app's), destroyed for good: node-redis 6.3 does not stop a client destroyed while its
 * connect (a reconnect after a dropped socket) is on its way, which then completes, subscribes
 * again and stays. So it is destroyed again once that connect is there
 * (test/regressions/single-stop-during-pubsub-reconnect.test.ts).
 */
function clientSubscriber(duplicate: RedisSubscriberLike): RedisSubscriberLike {
  const events = duplicate as unknown as { on(event: string, listener: () => void): unknown };
  return destroyedBy(duplicate, () => {
    duplicate.destroy();
    events.on('connect', () => {
      try {
        duplicate.destroy();
      } catch {
        // Already closed: what it would report is of no interest after stop().
      }
    });
  });
}

/** The pub/sub connection as it is, but for how it is destroyed (and, on a cluster, its sSubscribe: resubscribesHeard). */
function destroyedBy(
  subscriber: RedisSubscriberLike,
  destroy: () => void,
  sSubscribe: RedisSubscriberLike['sSubscribe'] = (channel, listener) =>
    subscriber.sSubscribe(channel, listener),
): RedisSubscriberLike {
  return {
    connect: () => subscriber.connect(),
    sSubscribe,
    sUnsubscribe: (channel) => subscriber.sUnsubscribe(channel),
    on: (event: 'error' | 'sharded-channel-moved-error', listener: (error: Error, channel: string) => void) =>
      subscriber.on(event as 'sharded-channel-moved-error', listener),
    off: (event, listener) => subscriber.off(event, listener),
    close: () => subscriber.close(),
    destroy,
  };
}

/**
 * Creates a sentinel client for the primary the sentinels monitor as `name`,
 * with the store's settings on every connection it opens (to the primary, to
 * its pub/sub, and to the sentinels), connects it, and wraps it.
 * @throws {MissingPeerError} WSSUP_MISSING_PEER when `redis` is not installed.
 * @throws {SlotStoreUnavailableError} WSSUP_STORE_UNAVAILABLE when no sentinel names a primary that answers.
 */
export async function connectRedisSentinel(
  nodes: RedisSentinelNodes,
  options: ConnectOptions,
  load?: ModuleLoader,
): Promise<RedisConnection> {
  const redis = await importOptionalPeer<RedisModule>('redis', 'redis', REDIS_FEATURE, load);
  const settings = nodeSettings(options.commandTimeoutMs);
  const sentinel = redis.createSentinel({
    name: nodes.name,
    sentinelRootNodes: nodes.sentinelRootNodes.map(({ host, port }) => ({ host, port })),
    nodeClientOptions: { ...labelled(settings, 'the primary'), ...credentials(nodes.nodeClientOptions) },
    sentinelClientOptions: {
      ...labelled(settings, 'a sentinel'),
      ...credentials(nodes.sentinelClientOptions),
    },
  });
  const where = `the primary "${nodes.name}" of the Redis Sentinels at ${nodes.sentinelRootNodes
    .map(({ host, port }) => `${host}:${port}`)
    .join(', ')}`;
  // The store owns this client, so its pub/sub is the client's own (node-redis's
  // pub/sub connection to the primary, opened at the first SSUBSCRIBE): a
  // duplicate would open another sentinel connection and an idle command
  // connection to the primary too. It ends with the client, in close().
  const subscriberSource = {
    duplicate: (): RedisSubscriberLike => ({
      connect: async () => {},
      sSubscribe: (channel, listener) => sentinel.sSubscribe(channel, listener),
      sUnsubscribe: (channel) => sentinel.sUnsubscribe(channel),
      on: (event, listener) => sentinel.on(event, listener),
      off: (event, listener) => sentinel.off(event, listener),
      close: async () => {},
      destroy: () => {},
    }),
  };
  return open(sentinelOwned(sentinel, settings), where, false, settings, options, (deadlines, close) =>
    wrap(ofSentinel(sentinel), subscriberSource, sentinel, true, deadlines, close, where),
  );
}

/**
 * `settings.options` whose failed connection before the first connect is recorded as
 * `<label>: <reason>`: a sentinel client's connections go to the sentinels and to the primary,
 * each with credentials of their own, and "WRONGPASS" alone would not say whose were refused.
 */
function labelled(settings: NodeSettings, label: string): NodeSettings['options'] {
  const { reconnectStrategy } = settings.options.socket;
  return {
    ...settings.options,
    socket: {
      ...settings.options.socket,
      reconnectStrategy: (retries: number, cause: Error) => {
        const next = reconnectStrategy(retries, cause);
        if (!settings.connected) settings.lastFailure = failureOf(label, cause);
        return next;
      },
    },
  };
}

/** `cause` as `<label>: <its message>`, with its code (connectFailure reads both). */
function failureOf(label: string, cause: unknown): Error {
  const failure = new Error(`${label}: ${cause instanceof Error ? cause.message : String(cause)}`);
  return Object.assign(failure, { code: (cause as { code?: unknown } | null | undefined)?.code });
}

/** The username and password of `auth` that were given (checked by checkSentinelNodes), and nothing else. */
function credentials(auth: RedisSentinelAuth | undefined): RedisSentinelAuth {
  return {
    ...(auth?.username === undefined ? {} : { username: auth.username }),
    ...(auth?.password === undefined ? {} : { password: auth.password }),
  };
}

/**
 * The sentinel client as open() handles it: its destroy() returns a promise, whose failure is
 * of no interest at shutdown. Until it is connected, what it emits as 'error' is about a
 * sentinel (node-redis 6.3 asks one for the layout on a connection of its own, and emits why
 * it failed: WRONGPASS, ECONNREFUSED), so open() is told so: the sentinels' credentials are
 * not the primary's (see labelled).
 */
function sentinelOwned(sentinel: OwnedSentinel, settings: NodeSettings) {
  return {
    connect: () => sentinel.connect(),
    destroy: () => void Promise.resolve(sentinel.destroy()).catch(() => {}),
    on: (event: 'error', listener: (error: unknown) => void) =>
      sentinel.on(event, (error: unknown) =>
        listener(settings.connected ? error : failureOf('a sentinel', error)),
      ),
  };
}

/**
 * The store's pub/sub connection from a sentinel client's duplicate() (a
 * sentinel client of its own): SSUBSCRIBE goes to the primary, and after a
 * failover node-redis subscribes again on the promoted one.
 */
function sentinelSubscriber(duplicate: RedisSentinelSubscriberLike): RedisSubscriberLike {
  return {
    connect: () => duplicate.connect(),
    sSubscribe: (channel, listener) => duplicate.sSubscribe(channel, listener),
    sUnsubscribe: (channel) => duplicate.sUnsubscribe(channel),
    // Both events go through: a sentinel client emits no 'sharded-channel-moved-error'.
    on: (event: 'error' | 'sharded-channel-moved-error', listener: (error: Error, channel: string) => void) =>
      duplicate.on(event as 'error', listener as (error: Error) => void),
    off: (event, listener) => duplicate.off(event, listener),
    close: () => duplicate.close(),
    destroy: () => void Promise.resolve(duplicate.destroy()).catch(() => {}),
  };
}

interface NodeSettings {
  /** Whether the first connect succeeded: until then a failed connect ends the attempts. */
  connected: boolean;
  /**
   * Until then, the last error the client emitted (a cluster's failed connect says why only
   * there) or, on a sentinel client, the last of its connections that failed (see labelled):
   * node-redis retries a failed connection to the primary (WRONGPASS) a second later,
   * emitting nothing, so open()'s deadline would otherwise give no reason.
   */
  lastFailure?: unknown;
  readonly options: {
    disableOfflineQueue: true;
    pingInterval: number;
    socket: {
      socketTimeout: number;
      connectTimeout: number;
      reconnectStrategy: (retries: number, cause: Error) => number | Error;
    };
  };
}

/** The options of every connection the store opens: one Redis's, or each node's of a cluster. */
function nodeSettings(commandTimeoutMs: number): NodeSettings {
  const settings: NodeSettings = {
    connected: false,
    options: {
      // No offline queue: while the connection is down a command fails at once
      // (SlotStoreUnavailableError) and the outage policy decides; nothing
      // queued runs minutes later on a stale decision.
      disableOfflineQueue: true,
      // A connection whose commands are overdue sends nothing more (see wrap),
      // and node-redis's PING waits for its reply before the next: so a Redis
      // that stopped answering leaves the socket silent, and socketTimeout drops
      // it (rejecting what is pending) and reconnects, instead of waiting for
      // TCP to give up (minutes). The PING keeps a healthy idle socket from timing out.
      pingInterval: silentSocketMs(commandTimeoutMs) / 2,
      socket: {
        socketTimeout: silentSocketMs(commandTimeoutMs),
        connectTimeout: connectTimeoutMs(commandTimeoutMs),
        // The first connect fails at once (returning the cause ends the
        // attempts); once connected, keep reconnecting in the background, at
        // most once a second.
        reconnectStrategy: (retries: number, cause: Error) =>
          settings.connected ? Math.min(50 * 2 ** retries, 1_000) : cause,
      },
    },
  };
  return settings;
}

/** Connects a client the store created, and wraps it; destroyed if it does not connect. */
async function open(
  client: {
    connect(): Promise<unknown>;
    destroy(): void;
    on(event: 'error', listener: (error: unknown) => void): unknown;
  },
  where: string,
  /** Whether `where` was given as a `redis://` URL (no TLS): see connectFailure's hint. */
  plainUrl: boolean,
  settings: NodeSettings,
  options: ConnectOptions,
  wrapIt: (deadlines: MasterDeadlines, close: () => Promise<void>) => RedisConnection,
): Promise<RedisConnection> {
  // node-redis emits 'error' on every failed reconnect (a cluster client, also
  // on a failed discovery); without a listener it would crash the process. The
  // store reports outages through rejected commands. Until connected, the last
  // one is kept (settings.lastFailure): a cluster's failed connect says why only there.
  client.on('error', (error) => {
    if (!settings.connected) settings.lastFailure = error;
  });
  const deadlines = deadlinesOf(options);
  try {
    await deadlines.storeWide.watch(client.connect(), 'connect', connectTimeoutMs(options.commandTimeoutMs));
    settings.connected = true;
  } catch (error) {
    client.destroy(); // the 'error' listener stays: see close below
    deadlines.stop();
    // The reason in the message too (WRONGPASS, NOAUTH, ECONNREFUSED, an untrusted
    // certificate): an app that logs `${code}: ${message}` could not tell a wrong
    // password from a Redis that is down (connect-failure.ts).
    throw new SlotStoreUnavailableError(
      `could not connect to ${where}: ${connectFailure(error, settings.lastFailure, plainUrl)}`,
      {
        cause: error,
      },
    );
  }
  return wrapIt(deadlines, async () => {
    // destroy, not close: close waits for the replies of timed-out commands,
    // which a stopped Redis never sends. The store awaited its own commands.
    // The 'error' listener stays on the dead client: destroy() rejects a
    // keep-alive PING still in flight, and node-redis reports that as an
    // 'error' event a microtask later; with no listener left it would be an
    // unhandled rejection (a crash, by Node's default) at shutdown.
    client.destroy();
  });
}

/**
 * How long opening a connection may take: a command's timeout, but at least a
 * second. Opening one (TCP, TLS, the client's handshake) takes round trips a
 * command does not, so it gets this for every connection the store opens.
 */
export const connectTimeoutMs = (commandTimeoutMs: number) => Math.max(commandTimeoutMs, 1_000);

/** How long a socket may stay silent before it is dropped: 4 command timeouts, at least 1 s. */
export const silentSocketMs = (commandTimeoutMs: number) => Math.max(4 * commandTimeoutMs, 1_000);

/**
 * The store-wide deadlines, and (on a cluster) each master's, made as commands go to it;
 * all on one clock, so the default clock is one timer queue for all of them.
 */
function deadlinesOf(options: ConnectOptions): MasterDeadlines {
  const clock = options.clock ?? createCountingClock();
  const create = () => new Deadlines(options.commandTimeoutMs, clock);
  return new MasterDeadlines(create(), create);
}

/** Wraps a client (single, cluster or sentinel) the app created; the store never closes it. */
export function borrowRedis(
  client: RedisClientLike | RedisClusterLike | RedisSentinelLike,
  options: ConnectOptions,
): RedisConnection {
  if (isSentinelClient(client)) {
    return wrap(
      ofSentinel(client),
      { duplicate: () => sentinelSubscriber(client.duplicate()) },
      client,
      false,
      deadlinesOf(options),
      async () => {},
    );
  }
  return wrap(
    isClusterClient(client) ? ofCluster(client) : single(client),
    isClusterClient(client)
      ? { duplicate: () => clusterSubscriber(client.duplicate()) }
      : { duplicate: () => clientSubscriber(client.duplicate()) },
    client,
    false,
    deadlinesOf(options),
    async () => {},
  );
}

function wrap(
  sender: Sender,
  client: { duplicate(): RedisSubscriberLike },
  /** The node-redis client whose reconnects onReconnect reports (the cluster client itself, for a cluster). */
  emitter: unknown,
  owned: boolean,
  /** The store-wide deadlines, and on a cluster each master's (see redis-master-deadlines.ts). */
  deadlines: MasterDeadlines,
  close: () => Promise<void>,
  /** What the store connected to, for messages (no password); undefined for the app's own client. */
  where?: string,
): RedisConnection {
  let commands = 0;
  const roundTrips: Record<string, number> = {};
  // node-redis's own timeout only covers the wait to be written: once a
  // command is on the socket, a Redis that stopped answering (SIGSTOP, a
  // dropped link) would hold it forever. So each command gets a deadline
  // here (Deadlines), and while any command is overdue the connection is
  // known to be stuck: new commands fail at once instead of piling up behind
  // it (no queue), until Redis answers the overdue ones (it is back) or the
  // socket closes (they are rejected). On a cluster, "the connection" is the
  // master's the command is routed to: each master has its own list, so one
  // stuck master holds back only its own commands.
  const storeWide = deadlines.storeWide;
  const { routingKey, masterOf } = sender;
  // `script`: the store's script the command runs (EVALSHA, EVAL), which its error names.
  const send = (args: readonly string[], script?: Script): Promise<unknown> => {
    const name = args[0] ?? '';
    let key: string | undefined;
    let list = storeWide;
    if (routingKey !== undefined) {
      try {
        key = routingKey(args);
      } catch (error) {
        return Promise.reject(error);
      }
      if (masterOf !== undefined) list = deadlines.of(masterOf(key));
    }
    if (list.overdue > 0) return Promise.reject(stuck(name, list, script));
    commands += 1;
    let sent: Promise<unknown>;
    try {
      sent = sender.send(args as string[], key);
    } catch (error) {
      return Promise.reject(error);
    }
    return list.watch(sent, name, undefined, script);
  };
  const command = (args: readonly string[]): Promise<unknown> => send(args);
  // What goes to one master's own connection (SCRIPT LOAD, the renewal's checks).
  const guard: Guard = (address, what, send) => {
    const list = deadlines.of(address);
    if (list.overdue > 0) return Promise.reject(stuck(what, list));
    let sent: ReturnType<typeof send>;
    try {
      sent = send();
    } catch (error) {
      return Promise.reject(error);
    }
    return list.watch(sent, what);
  };
  return {
    client,
    owned,
    command,
    run(script, keys, args) {
      // One array, filled in place: this runs for every admission and release
      // (bench/RESULTS.md: what each admission allocates drives the GC pauses).
      const line = scriptCall('EVALSHA', script.sha, keys, args);
      return send(line, script).then(undefined, (error: unknown) => {
        if (!isNoScript(error)) throw error;
        return send(scriptCall('EVAL', script.body, keys, args), script);
      });
    },
    async load(list) {
      await Promise.all(
        list.map(async (script) => {
          commands += await sender.load(script.body, guard);
        }),
      );
    },
    watch: (promise, what, timeoutMs) => storeWide.watch(promise, what, timeoutMs),
    checkMasters() {
      // Not async: on a single Redis the renewal must not wait a microtask more (see #renew).
      if (sender.checkMasters === undefined) return undefined;
      // At each renewal: the masters of the current topology keep their lists; the others'
      // are stopped once nothing of theirs is in flight (a failover's old master).
      const masters = new Set<string>();
      const checks = sender.checkMasters((address, what, send) => {
        if (address !== undefined) masters.add(address);
        return guard(address, what, () => {
          commands += 2;
          return send();
        });
      });
      deadlines.prune(masters);
      return Promise.allSettled(checks).then((settled) =>
        settled.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : [])),
      );
    },
    where,
    shardOf: (key) => masterOf?.(key),
    sharded: masterOf !== undefined,
    cluster: routingKey !== undefined,
    shards: () => sender.masters?.(),
    liveDeadlines: () => deadlines.live(),
    onReconnect: (listener) => watchReconnects(emitter, listener),
    roundTrip(method) {
      roundTrips[method] = (roundTrips[method] ?? 0) + 1;
    },
    traffic: () => ({ commands, roundTrips: { ...roundTrips } }),
    async close() {
      await close();
      deadlines.stop();
    },
  };
}

/** `[verb, script, numkeys, ...keys, ...args]`, the args as strings. */
function scriptCall(
  verb: string,
  script: string,
  keys: readonly string[],
  args: readonly (string | number)[],
): string[] {
  const line = new Array<string>(3 + keys.length + args.length);
  line[0] = verb;
  line[1] = script;
  line[2] = String(keys.length);
  for (let i = 0; i < keys.length; i++) line[3 + i] = keys[i] as string;
  for (let i = 0; i < args.length; i++) line[3 + keys.length + i] = String(args[i]);
  return line;
}

const stuck = (what: string, deadlines: Deadlines, script?: Script) =>
  new SlotStoreUnavailableError(
    `Redis ${commandLabel(what, script)}: ${deadlines.overdue} earlier command(s) still unanswered`,
    { script: script?.name },
  );

const isNoScript = (error: unknown) =>
  error instanceof SlotStoreUnavailableError && /^NOSCRIPT/.test(messageOf(error.cause));

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** The NOPERM reply a command got (an ACL that denies the channel or key), if that is why it failed. */
export function permissionDenied(error: unknown): string | undefined {
  if (!(error instanceof SlotStoreUnavailableError)) return undefined;
  const reply = messageOf(error.cause);
  return /^NOPERM/.test(reply) ? reply : undefined;
}
