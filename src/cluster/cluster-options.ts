/**
 * The `cluster` option (issue 12): validated with the other options, before
 * anything is allocated, and with no Redis client loaded (the store is
 * opened by the runtime, from `src/cluster/open-store.ts`).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import { guessName, sayGuess } from '../closest-name.js';
import { InvalidOptionError, SupervisorError } from '../errors.js';
import { integerIn, integerOption, MAX_DELAY_MS, refusedAs } from '../integer-option.js';
import { assertOptionalPeerInstalled, type ModuleResolver } from '../optional-peer.js';
import {
  isClusterClient,
  isClusterNodes,
  isSentinelClient,
  isSentinelNodes,
  isSingleClient,
  REDIS_FEATURE,
  type RedisTarget,
} from './redis-client.js';
import { checkRootNodes, checkSentinelNodes, redisUrlScheme, refusedRedisUrl } from './redis-store-input.js';
import type { SlotStore } from './slot-store.js';

export type {
  RedisClientLike,
  RedisClusterLike,
  RedisClusterNodes,
  RedisSentinelAuth,
  RedisSentinelLike,
  RedisSentinelNode,
  RedisSentinelNodes,
  RedisTarget,
} from './redis-client.js';

/** What happens to admissions while the slot store (Redis) does not answer. */
export type StoreUnavailablePolicy = 'local' | 'reject';

/**
 * Cluster mode: one per-user limit across processes, on a slot book in Redis.
 * Exactly one of `redis` and `store` (a union, so that `{}` or both is a type error,
 * as it is an InvalidOptionError at run time); the rest is {@link ClusterSettings}.
 */
export type ClusterOptions = ClusterSettings &
  (
    | {
        /**
         * Where the slot book lives (needs `npm install redis`): a `redis://` or
         * `rediss://` URL; your app's own connected node-redis client
         * (`createClient()`), or cluster client (`createCluster()`) for a Redis
         * Cluster; or `{ rootNodes: ['redis://…', …] }` for the store to create its
         * own cluster client (the first URL's credentials and TLS apply to every node).
         * For Redis Sentinel: your own sentinel client (`createSentinel()`), or
         * `{ name, sentinelRootNodes: [{ host, port }, …] }` for the store to create
         * its own, with optional `nodeClientOptions: { username, password }` for the
         * primary and replicas and `sentinelClientOptions: { username, password }`
         * for the sentinels (no TLS: for that, pass your own client).
         */
        redis: RedisTarget;
        /** Not with `redis`: exactly one of the two. */
        store?: undefined;
      }
    | {
        /**
         * A slot store of your own instead of `redis` (another engine, or a test
         * double); it keeps the rules of {@link SlotStore}.
         */
        store: SlotStore;
        /** Not with `store`: exactly one of the two. */
        redis?: undefined;
      }
  );

/** The fields of the `cluster` option other than `redis` and `store` (see {@link ClusterOptions}). */
export interface ClusterSettings {
  /**
   * This process's name in the book; unique per process. With a `store` of your own, the
   * store's `nodeId` is the name it books under: leave this out (it defaults to that), or give
   * the same.
   * @default `<hostname>:<pid>`; with a `store`, the store's `nodeId`
   */
  nodeId?: string | undefined;
  /** How long the node's lease lives without renewal (renewed every third of it). @default 15000 */
  leaseTtlMs?: number | undefined;
  /** How often the entries of dead nodes are removed from the book. @default leaseTtlMs */
  reaperIntervalMs?: number | undefined;
  /** Prefix of every key in Redis. @default 'wssup' */
  keyPrefix?: string | undefined;
  /**
   * How long one Redis command, or one call to a `store` of your own, may take
   * before it counts as a failure (and, three in a row, opens the breaker).
   * Nothing is queued while the store is away. A call past it fails within a
   * quarter of it more: one watchdog checks every `commandTimeoutMs / 4`, not a
   * timer per call. A store's own `start()` and `stop()` get at least 1 s.
   * At most a third of `leaseTtlMs` (the renewal period), so that one renewal
   * that hangs leaves the next time to land before the lease runs out.
   * @default 500 for Redis, 2000 for a `store` of your own; a third of `leaseTtlMs` when that is less
   */
  commandTimeoutMs?: number | undefined;
  /**
   * While Redis does not answer: `'local'` admits against this process's own
   * limit and books those connections when Redis is back (fail-open);
   * `'reject'` refuses new connections with HTTP 503 and Retry-After
   * (fail-closed). Existing connections are kept either way.
   * @default 'local'
   */
  onStoreUnavailable?: StoreUnavailablePolicy | undefined;
}

/** The `cluster` option with every default applied (see {@link ClusterOptions} for each field). */
export interface ResolvedClusterOptions {
  /** Where the slot book lives, as given; undefined with a `store` of your own. */
  redis: RedisTarget | undefined;
  /** The slot store of your own, as given; undefined with `redis`. */
  store: SlotStore | undefined;
  /** This process's name in the book (default `<hostname>:<pid>`, or a `store`'s own `nodeId`). */
  nodeId: string;
  /** How long the lease lives without renewal, in ms (default 15000; renewed every third of it). */
  leaseTtlMs: number;
  /** How often dead nodes' entries are removed from the book, in ms (default `leaseTtlMs`). */
  reaperIntervalMs: number;
  /** Prefix of every key in Redis (default 'wssup'). */
  keyPrefix: string;
  /** How long one store call may take before it counts as a failure, in ms (default 500 for Redis, 2000 for a store of one's own; at most a third of `leaseTtlMs`). */
  commandTimeoutMs: number;
  /** What admissions do while the store does not answer (default 'local'). */
  onStoreUnavailable: StoreUnavailablePolicy;
}

const known = new Set([
  'redis',
  'store',
  'nodeId',
  'leaseTtlMs',
  'reaperIntervalMs',
  'keyPrefix',
  'commandTimeoutMs',
  'onStoreUnavailable',
]);
/** The fields of `{ name, sentinelRootNodes }`, the store's own sentinel client. */
const SENTINEL_FIELDS = new Set(['name', 'sentinelRootNodes', 'nodeClientOptions', 'sentinelClientOptions']);
/** Key-safe names: no braces (they would change the Redis Cluster hash tag) and no spaces. */
const NAME = /^[A-Za-z0-9._:-]{1,64}$/;
/** The default deadline of a Redis command: one round trip to an in-memory server. */
const REDIS_COMMAND_TIMEOUT_MS = 500;
/**
 * The default deadline of a call to a `cluster.store` of the app's own (store-deadlines.ts).
 * Such a store is built on a database (Postgres, DynamoDB): an admission there is a
 * transaction of several round trips that may wait for a pooled connection and for the
 * user's row lock behind other admissions, and a p99 of some hundreds of ms under load is
 * a healthy database, which a 500 ms deadline would count as an outage (and, three in a
 * row, open the breaker). 2 s keeps a hung call's cost bounded (an upgrade waits no longer
 * than a slow handshake) and leaves a hung renewal, at the default lease of 15 s, the
 * 5 s renewal period before the next one.
 */
const STORE_COMMAND_TIMEOUT_MS = 2_000;

/**
 * `<hostname>:<pid>`, what a node id cannot hold replaced with `-`. A hostname too long for
 * the 64 characters of a node id keeps its start and gets a hash of the whole instead of the
 * rest: pods of one Kubernetes Deployment (names up to 63 characters, told apart at their
 * end, often all PID 1) would otherwise all share one node id.
 */
function defaultNodeId(host: string, pid: number): string {
  const safe = host.replace(/[^A-Za-z0-9._-]/g, '-');
  const room = 64 - `:${pid}`.length;
  if (safe.length <= room) return `${safe}:${pid}`;
  const hash = createHash('sha256').update(host).digest('hex').slice(0, 10);
  return `${safe.slice(0, room - hash.length - 1)}-${hash}:${pid}`;
}

const isFunction = (v: unknown) => typeof v === 'function';

/**
 * An installed `redis` below the peer range's floor, 6.3.0 (npm lets it in with
 * --legacy-peer-deps), is refused here, as ws 7 is at import. node-redis 4 connects and books,
 * then fails at shutdown (its clients have no destroy()), leaving the process's lease and slots
 * to expire. Before 6.3.0, a failed start says "The client is closed" instead of why, a Redis
 * Cluster master's reconnect is never announced (so the lease is not renewed at once after
 * it), and a client stopped mid-reconnect leaves connections open. The version is read from
 * the package.json of the `redis` the store would import; an app's own client is told by its
 * shape only, as node-redis 4's clients have disconnect() and no destroy() (a wrapper of the
 * app's with neither is taken): its version cannot be read.
 * @throws {SupervisorError} WSSUP_UNSUPPORTED_PEER
 */
function assertRedisVersion(version: string | undefined): void {
  const [, major = NaN, minor = NaN] = (/^(\d+)\.(\d+)\./.exec(version ?? '') ?? []).map(Number);
  if (version === undefined || major > 6 || (major === 6 && minor >= 3)) return;
  throw new SupervisorError(
    'WSSUP_UNSUPPORTED_PEER',
    `cluster mode needs redis (node-redis) ^6.3.0, its peer dependency, but found redis ${version}: ` +
      'run npm install redis@6',
  );
}

function isNodeRedis4(client: object): boolean {
  const methods = client as { destroy?: unknown; disconnect?: unknown };
  return typeof methods.destroy !== 'function' && typeof methods.disconnect === 'function';
}

/** The version in the package.json of the installed `peer`, or undefined when it cannot be read. */
function installedVersion(peer: string, resolve: ModuleResolver): string | undefined {
  try {
    const { version } = JSON.parse(readFileSync(resolve(`${peer}/package.json`), 'utf8')) as {
      version?: unknown;
    };
    return typeof version === 'string' ? version : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Every method of SlotStore: the runtime calls each of them (readmit after
 * every outage, orderEviction at the eviction point, userBook and view for
 * the cluster-wide stats), so a store without one would fail long after startup.
 */
const storeMethods = [
  'start',
  'admit',
  'release',
  'setIdle',
  'orderEviction',
  'readmit',
  'renew',
  'reap',
  'userBook',
  'view',
  'stop',
] as const satisfies readonly (keyof SlotStore)[];

const isStore = (v: unknown): v is SlotStore => typeof v === 'object' && v !== null && lacks(v).length === 0;

/**
 * What an app's store lacks of the contract, for the message: "a SlotStore (start, admit, …)"
 * alone left its author to diff their class against the interface by hand.
 */
function lacks(store: object): string[] {
  const fields = store as Record<string, unknown>;
  const missing: string[] = storeMethods
    .filter((name) => !isFunction(fields[name]))
    .map((name) => `${name}()`);
  if (typeof fields.nodeId !== 'string') missing.unshift('nodeId (a string)');
  return missing;
}

/**
 * Where a Redis address goes under other libraries' names (ioredis, Socket.IO's
 * adapter, a `.env`): a newcomer's first guess, too far from `redis` to be a typo.
 */
const ADDRESS_NAMES = new Set(['url', 'uri', 'host', 'redisurl', 'redisuri', 'client', 'connection']);

/**
 * What the message about an unknown field says is allowed, as createSupervisor() says it
 * (option-habits.ts): a sure guess alone, one that may be wrong with the list after it,
 * and the list when none is close.
 */
function allowedField(key: string): string {
  if (ADDRESS_NAMES.has(key.toLowerCase())) return 'one of the known fields, here probably "redis"';
  const list = `(${[...known].join(', ')})`;
  const guess = guessName(key, known);
  if (guess === undefined) return `one of the known fields ${list}`;
  const probably = `one of the known fields, here probably ${sayGuess(guess.names)}`;
  return guess.sure ? probably : `${probably} ${list}`;
}

/**
 * Checks `cluster` and fills in its defaults.
 * @param resolve How the `redis` package is looked up (tests replace it).
 * @throws {InvalidOptionError} WSSUP_INVALID_OPTION, naming the first bad field (e.g. `cluster.redis`).
 * @throws {MissingPeerError} WSSUP_MISSING_PEER for a Redis URL when the `redis` package is not installed.
 */
export function resolveClusterOptions(cluster: unknown, resolve?: ModuleResolver): ResolvedClusterOptions {
  if (typeof cluster !== 'object' || cluster === null || Array.isArray(cluster)) {
    throw new InvalidOptionError('cluster', 'an object such as { redis: "redis://…" }', cluster);
  }
  const options = cluster as ClusterOptions;
  for (const key of Object.keys(options)) {
    if (!known.has(key)) {
      throw new InvalidOptionError(`cluster.${key}`, allowedField(key), key);
    }
  }
  const { redis, store } = options;
  if ((redis === undefined) === (store === undefined)) {
    const allowed = 'exactly one of cluster.redis (a URL or a node-redis client) and cluster.store';
    if (redis === undefined) throw new InvalidOptionError('cluster.redis', allowed, undefined);
    // Both given: say so, rather than show the redis URL (and its password) as the store received.
    throw new InvalidOptionError('cluster.store', allowed, store, 'both');
  }
  if (typeof redis === 'object' && redis !== null && 'rootNodes' in redis) {
    checkRootNodes((redis as { rootNodes: unknown }).rootNodes);
    const extra = Object.keys(redis).find((key) => key !== 'rootNodes');
    if (extra !== undefined) throw new InvalidOptionError(`cluster.redis.${extra}`, 'only rootNodes', extra);
  }
  if (typeof redis === 'object' && redis !== null && 'sentinelRootNodes' in redis) {
    checkSentinelNodes(redis);
    const extra = Object.keys(redis).find((key) => !SENTINEL_FIELDS.has(key));
    if (extra !== undefined)
      throw new InvalidOptionError(
        `cluster.redis.${extra}`,
        'only name, sentinelRootNodes, nodeClientOptions and sentinelClientOptions',
        extra,
      );
  }
  if (redis !== undefined) {
    const ok =
      typeof redis === 'string'
        ? redisUrlScheme(redis) !== undefined
        : isClusterClient(redis) ||
          isSentinelClient(redis) ||
          isSingleClient(redis) ||
          isClusterNodes(redis) ||
          isSentinelNodes(redis);
    if (!ok) {
      // A string can only have meant a URL: say just that (the reference server's --redis too).
      if (typeof redis === 'string') throw refusedRedisUrl(redis);
      throw new InvalidOptionError(
        'cluster.redis',
        'a redis:// or rediss:// URL, a node-redis client (sendCommand, duplicate), cluster client (also nodeClient, masters) or sentinel client (also getMasterNode, getReplicaNodes), { rootNodes: [url, …] }, or { name, sentinelRootNodes: [{ host, port }, …] }',
        redis,
      );
    }
  }
  // An app's own client must be open: the store never connects it (docs/cluster.md's recipe connects
  // first), and one never connected, or closed already, only failed every retry of the lease
  // with "The client is closed", forever. Reconnecting (open, not ready) is an outage: taken.
  if (
    typeof redis === 'object' &&
    redis !== null &&
    (isSingleClient(redis) || isClusterClient(redis) || isSentinelClient(redis)) &&
    (redis as { isOpen?: unknown }).isOpen === false
  ) {
    throw new InvalidOptionError(
      'cluster.redis',
      'an open client: await client.connect() before createSupervisor(), and close it only after shutdown()',
      redis,
      'a client that is not open (never connected, or closed)',
    );
  }
  if (store !== undefined && !isStore(store)) {
    const missing = typeof store === 'object' && store !== null ? lacks(store) : [];
    throw new InvalidOptionError(
      'cluster.store',
      'a SlotStore (start, admit, release, …)',
      store,
      missing.length === 0 ? undefined : `an object without ${missing.join(', ')}`,
    );
  }
  // The breakers per failure domain need both: shardOf to pick one, shards to forget the
  // domains a failover replaced and to tell when every one is away (readiness under 'reject').
  if (store !== undefined && isFunction(store.shardOf) !== isFunction(store.shards)) {
    throw new InvalidOptionError(
      'cluster.store',
      'a SlotStore with both shardOf and shards (its failure domains), or neither',
      store,
    );
  }
  // `=== undefined`, not `??`, here and below: a null is a bad value to refuse, as for every other option.
  // With a store of the app's own, its nodeId is the name in the book: the runtime routes eviction
  // orders by it, while stats(), the dashboard and the duplicate-node report read this option. A
  // default of <hostname>:<pid> beside a store named otherwise showed one name and booked another.
  const nodeId =
    options.nodeId !== undefined ? options.nodeId : (store?.nodeId ?? defaultNodeId(hostname(), process.pid));
  if (typeof nodeId !== 'string' || !NAME.test(nodeId)) {
    const option = options.nodeId === undefined && store !== undefined ? 'cluster.store' : 'cluster.nodeId';
    const allowed = '1 to 64 characters of A-Z a-z 0-9 . _ : -';
    throw new InvalidOptionError(
      option,
      option === 'cluster.store' ? `a nodeId of ${allowed}` : allowed,
      nodeId,
    );
  }
  if (store !== undefined && nodeId !== store.nodeId) {
    throw new InvalidOptionError(
      'cluster.nodeId',
      `the cluster.store's own nodeId ("${store.nodeId}"), or no cluster.nodeId (it defaults to the store's)`,
      nodeId,
    );
  }
  const keyPrefix = options.keyPrefix === undefined ? 'wssup' : options.keyPrefix;
  if (typeof keyPrefix !== 'string' || !NAME.test(keyPrefix)) {
    throw new InvalidOptionError('cluster.keyPrefix', '1 to 64 characters of A-Z a-z 0-9 . _ : -', keyPrefix);
  }
  // Below 300 ms a lease would need renewing every 100 ms: a busy event loop would lose it.
  const leaseTtlMs = integerOption('cluster.leaseTtlMs', options.leaseTtlMs, 15_000, 300, MAX_DELAY_MS);
  const reaperIntervalMs = integerOption(
    'cluster.reaperIntervalMs',
    options.reaperIntervalMs,
    leaseTtlMs,
    100,
    MAX_DELAY_MS,
  );
  // The lease is renewed every third of its TTL: a renewal that hangs for a whole
  // command timeout must leave the next one time to land before the lease runs out,
  // or one slow answer would cost this node its lease (and all its slots).
  const maxCommandTimeoutMs = Math.min(60_000, Math.floor(leaseTtlMs / 3));
  // A store of the app's own gets a longer default: see STORE_COMMAND_TIMEOUT_MS.
  const defaultTimeoutMs = store === undefined ? REDIS_COMMAND_TIMEOUT_MS : STORE_COMMAND_TIMEOUT_MS;
  const commandTimeoutMs =
    options.commandTimeoutMs === undefined
      ? Math.min(defaultTimeoutMs, maxCommandTimeoutMs)
      : options.commandTimeoutMs;
  if (!integerIn(1, maxCommandTimeoutMs)(commandTimeoutMs)) {
    throw new InvalidOptionError(
      'cluster.commandTimeoutMs',
      `an integer from 1 to ${maxCommandTimeoutMs} (at most 60000, and a third of cluster.leaseTtlMs)`,
      commandTimeoutMs,
      refusedAs('cluster.commandTimeoutMs', commandTimeoutMs, 1, maxCommandTimeoutMs),
    );
  }
  const policy = options.onStoreUnavailable === undefined ? 'local' : options.onStoreUnavailable;
  if (policy !== 'local' && policy !== 'reject') {
    throw new InvalidOptionError('cluster.onStoreUnavailable', "'local' or 'reject'", policy);
  }
  // A URL makes the store import `redis` when it starts, after createSupervisor() has
  // returned: missing, it must fail here, not once to onError while admissions go on
  // against this process's limit alone. An app's own client needs no import of ours.
  if (typeof redis === 'string' || isClusterNodes(redis) || isSentinelNodes(redis)) {
    assertOptionalPeerInstalled('redis', REDIS_FEATURE, resolve);
    assertRedisVersion(installedVersion('redis', resolve ?? createRequire(import.meta.url).resolve));
  } else if (redis !== undefined && isNodeRedis4(redis)) {
    assertRedisVersion('4 or older (a client with disconnect() and no destroy())');
  }
  return {
    redis,
    store,
    nodeId,
    leaseTtlMs,
    reaperIntervalMs,
    keyPrefix,
    commandTimeoutMs,
    onStoreUnavailable: policy,
  };
}
