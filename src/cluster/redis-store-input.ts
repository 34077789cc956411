/**
 * The checks of the Redis slot store's options and arguments: bad input gets
 * a typed error with a stable code before anything is sent or allocated.
 */
import { randomUUID } from 'node:crypto';
import type { InstanceClaim } from '../../machines/events.js';
import { INSTANCE_ALLOWED, isInstanceId } from '../client-instance.js';
import { type Clock, createCountingClock } from '../clock.js';
import { describeValue, InvalidOptionError, SupervisorError } from '../errors.js';
import { redactRedisUrl } from './redact-redis-url.js';
import {
  isClusterClient,
  isClusterNodes,
  isSentinelClient,
  isSentinelNodes,
  isSingleClient,
  type RedisTarget,
} from './redis-client.js';

/** Options of `createRedisSlotStore()`. */
export interface RedisSlotStoreOptions {
  /**
   * A Redis URL (`redis://host:port`), a connected node-redis client the app
   * owns (`createClient()`, or `createCluster()` for a Redis Cluster), or
   * `{ rootNodes: [url, …] }` for the store to create its own cluster client,
   * or a node-redis sentinel client (`createSentinel()`) or
   * `{ name, sentinelRootNodes: [{ host, port }, …] }` for Redis Sentinel.
   */
  redis: RedisTarget;
  /** This process's name in the cluster. @default a random UUID */
  nodeId?: string;
  /** How long a lease lasts without renewal; renew every third of it. @default 15000 */
  leaseTtlMs?: number;
  /** The prefix of every key and channel (no braces: they would break the hash tags). @default 'wssup' */
  keyPrefix?: string;
  /**
   * How long a command may take before it fails with WSSUP_STORE_UNAVAILABLE
   * (checked every quarter of it, rounded up to a whole ms: it fails within
   * 1.25 × this, plus up to 4 ms when it is not a multiple of 4). @default 500
   */
  commandTimeoutMs?: number;
  /**
   * The timer API of the store's command deadlines (one watchdog delay per
   * connection, not a timer per command): tests inject a simulated clock.
   * @default the real timers
   */
  clock?: Clock;
}

export type ResolvedStoreOptions = Required<RedisSlotStoreOptions>;

/** What `cluster.redis` as a string must be, as an InvalidOptionError's `allowed` says it. */
export const REDIS_URL =
  'a redis:// or rediss:// URL, with no path but a database number (/0) and no query or fragment (node-redis reads neither)';

const DEFAULTS = { leaseTtlMs: 15_000, keyPrefix: 'wssup', commandTimeoutMs: 500 } as const;

/** @throws {InvalidOptionError} WSSUP_INVALID_OPTION naming the option (as `cluster.<name>`). */
export function resolveStoreOptions(options: RedisSlotStoreOptions): ResolvedStoreOptions {
  const { redis } = options;
  // Root nodes first: a bad list is named as such, not as a bad client.
  if (typeof redis === 'object' && redis !== null && 'rootNodes' in redis) checkRootNodes(redis.rootNodes);
  if (typeof redis === 'object' && redis !== null && 'sentinelRootNodes' in redis) checkSentinelNodes(redis);
  if (
    typeof redis !== 'string' &&
    !isClusterClient(redis) &&
    !isSentinelClient(redis) &&
    !isSingleClient(redis) &&
    !isClusterNodes(redis) &&
    !isSentinelNodes(redis)
  ) {
    throw new InvalidOptionError(
      'cluster.redis',
      'a redis:// URL, a node-redis client, cluster client or sentinel client, { rootNodes: [url, …] }, or { name, sentinelRootNodes: [{ host, port }, …] }',
      redis,
    );
  }
  if (typeof redis === 'string' && redisUrlScheme(redis) === undefined) throw refusedRedisUrl(redis);
  const nodeId = options.nodeId ?? randomUUID();
  // No '|': a book entry is '|'-separated, and what follows its node id is the instance.
  if (typeof nodeId !== 'string' || nodeId === '' || nodeId.includes('|')) {
    throw new InvalidOptionError('cluster.nodeId', 'a non-empty string without |', nodeId);
  }
  const leaseTtlMs = options.leaseTtlMs ?? DEFAULTS.leaseTtlMs;
  checkInteger('cluster.leaseTtlMs', leaseTtlMs, 30, 86_400_000);
  const keyPrefix = options.keyPrefix ?? DEFAULTS.keyPrefix;
  if (typeof keyPrefix !== 'string' || keyPrefix === '' || /[{}]/.test(keyPrefix)) {
    throw new InvalidOptionError('cluster.keyPrefix', 'a non-empty string without { or }', keyPrefix);
  }
  const commandTimeoutMs = options.commandTimeoutMs ?? DEFAULTS.commandTimeoutMs;
  checkInteger('cluster.commandTimeoutMs', commandTimeoutMs, 1, 60_000);
  const clock = options.clock ?? createCountingClock();
  if (typeof clock?.setTimeout !== 'function' || typeof clock.clearTimeout !== 'function') {
    throw new InvalidOptionError('clock', 'an object with setTimeout and clearTimeout', clock);
  }
  return { redis, nodeId, leaseTtlMs, keyPrefix, commandTimeoutMs, clock };
}

/**
 * The refusal of `cluster.redis` as a string redisUrlScheme refused: what a URL must be, and the
 * URL without its secrets. Where the user name or password does not decode (a `%` not written
 * `%25`), the message says so: "expected a redis:// URL …, received "redis://:***@h"" gave no
 * reason, and the `%` is hidden in it. Only then: a URL without a password is told nothing of one.
 */
export function refusedRedisUrl(redis: string): InvalidOptionError {
  const shown = redactRedisUrl(redis);
  const why = userInfoUndecodable(redis)
    ? `${describeValue(shown)}, whose user name or password does not decode (write % as %25)`
    : describeValue(shown);
  return new InvalidOptionError('cluster.redis', REDIS_URL, shown, why);
}

/** A redis:// or rediss:// URL that parses, whose user name or password decodeURIComponent refuses. */
function userInfoUndecodable(value: string): boolean {
  if (!/^rediss?:\/\//.test(value) || !URL.canParse(value)) return false;
  const { username, password } = new URL(value);
  try {
    decodeURIComponent(username);
    decodeURIComponent(password);
    return false;
  } catch {
    return true;
  }
}

/** A refused `rootNodes` as `received`: each URL in it without its password. */
function hidden(rootNodes: unknown): unknown {
  if (typeof rootNodes === 'string') return redactRedisUrl(rootNodes);
  if (!Array.isArray(rootNodes)) return rootNodes;
  return rootNodes.map((url: unknown) => (typeof url === 'string' ? redactRedisUrl(url) : url));
}

/**
 * @throws {InvalidOptionError} WSSUP_INVALID_OPTION `cluster.redis.rootNodes` unless every
 * root node is a redis:// or rediss:// URL, all of one scheme (the first one's
 * TLS and credentials apply to every node of the cluster).
 */
export function checkRootNodes(rootNodes: unknown): void {
  const urls = Array.isArray(rootNodes) ? (rootNodes as unknown[]) : [];
  const schemes = new Set(urls.map((url) => (typeof url === 'string' ? redisUrlScheme(url) : undefined)));
  if (urls.length === 0 || schemes.has(undefined) || schemes.size !== 1) {
    throw new InvalidOptionError(
      'cluster.redis.rootNodes',
      'a non-empty array of redis:// or rediss:// URLs, all of one scheme, each with no path but a database number (/0) and no query or fragment',
      hidden(rootNodes),
    );
  }
}

/**
 * @throws {InvalidOptionError} WSSUP_INVALID_OPTION `cluster.redis.name` unless the
 * monitored name is a non-empty string, or `cluster.redis.sentinelRootNodes` unless
 * they are a non-empty array of `{ host, port }` (a host name, a port from 1 to 65535),
 * or `cluster.redis.nodeClientOptions` / `sentinelClientOptions` (or one of their fields)
 * unless each is absent or `{ username?, password? }` of non-empty strings.
 */
export function checkSentinelNodes(redis: object): void {
  const { name, sentinelRootNodes } = redis as { name?: unknown; sentinelRootNodes?: unknown };
  const nodes = Array.isArray(sentinelRootNodes) ? (sentinelRootNodes as unknown[]) : [];
  if (nodes.length === 0 || !nodes.every(isHostAndPort)) {
    throw new InvalidOptionError(
      'cluster.redis.sentinelRootNodes',
      'a non-empty array of { host, port } (a port from 1 to 65535)',
      sentinelRootNodes,
    );
  }
  if (typeof name !== 'string' || name === '') {
    throw new InvalidOptionError(
      'cluster.redis.name',
      'the name the sentinels monitor the primary under (a non-empty string)',
      name,
    );
  }
  for (const field of ['nodeClientOptions', 'sentinelClientOptions'] as const) {
    checkSentinelAuth(`cluster.redis.${field}`, (redis as Record<string, unknown>)[field]);
  }
}

/**
 * @throws {InvalidOptionError} WSSUP_INVALID_OPTION naming `option` (or `option.<key>`) unless
 * `auth` is undefined or an object of an optional `username` and `password`, non-empty strings.
 * A refused password is shown by its type alone, never its value: the error ends up in logs.
 */
function checkSentinelAuth(option: string, auth: unknown): void {
  if (auth === undefined) return;
  if (typeof auth !== 'object' || auth === null || Array.isArray(auth)) {
    throw new InvalidOptionError(option, '{ username?, password? }', auth);
  }
  const extra = Object.keys(auth).find((key) => key !== 'username' && key !== 'password');
  if (extra !== undefined) {
    throw new InvalidOptionError(
      `${option}.${extra}`,
      'only username and password (for other client options, pass your own createSentinel() client)',
      extra,
    );
  }
  const { username, password } = auth as { username?: unknown; password?: unknown };
  if (username !== undefined && (typeof username !== 'string' || username === '')) {
    throw new InvalidOptionError(`${option}.username`, 'a non-empty string', username);
  }
  if (password !== undefined && (typeof password !== 'string' || password === '')) {
    const kind = password === '' ? 'an empty string' : describeType(password);
    throw new InvalidOptionError(`${option}.password`, 'a non-empty string', kind, kind);
  }
}

/** What a value is, without the value: `a number`, `null`, `an object`. */
function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  const type = typeof value;
  return `${/^[aeiou]/.test(type) ? 'an' : 'a'} ${type}`;
}

function isHostAndPort(value: unknown): boolean {
  const node = value as { host?: unknown; port?: unknown } | null;
  return (
    typeof node === 'object' &&
    node !== null &&
    typeof node.host === 'string' &&
    node.host !== '' &&
    typeof node.port === 'number' &&
    Number.isInteger(node.port) &&
    node.port >= 1 &&
    node.port <= 65_535
  );
}

/**
 * The scheme of a Redis URL node-redis can connect to (`redis:` or `rediss:`), or undefined:
 * written with its `//` (`redis:/host:6379` parses, with no host), and a path that is at most a
 * database number (`/0`). node-redis refuses any other path only when it connects
 * ("Invalid pathname"), so `redis://host:6379/cache` would pass the option check and fail
 * at start: refused here, with the option named, instead. A query or a fragment it ignores
 * without a word: `?db=2`, as redis-py and ioredis take it, left the store in database 0, sharing
 * the books of whatever other deployment used that database and prefix. Refused too.
 */
export function redisUrlScheme(value: string): 'redis:' | 'rediss:' | undefined {
  if (!/^rediss?:\/\//.test(value)) return undefined;
  try {
    const url = new URL(value);
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') return undefined;
    if (url.search !== '' || url.hash !== '') return undefined;
    // node-redis decodes the user name and password, and threw URIError only when it
    // connected: a `%` not written `%25` is refused here, with the rest of the URL's shape.
    decodeURIComponent(url.username);
    decodeURIComponent(url.password);
    return /^\/?\d*$/.test(url.pathname) ? url.protocol : undefined;
  } catch {
    return undefined;
  }
}

function checkInteger(option: string, value: unknown, min: number, max: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidOptionError(option, `an integer from ${min} to ${max}`, value);
  }
}

/** @throws {SupervisorError} WSSUP_INVALID_ARGUMENT unless `value` is a non-empty string. */
export function checkId(name: string, value: unknown): void {
  if (typeof value !== 'string' || value === '') {
    throw new SupervisorError('WSSUP_INVALID_ARGUMENT', `${name} must be a non-empty string`);
  }
}

/** @throws {SupervisorError} WSSUP_INVALID_ARGUMENT unless `value` is an integer of at least `min`. */
export function checkCount(name: string, value: unknown, min: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new SupervisorError('WSSUP_INVALID_ARGUMENT', `${name} must be an integer of at least ${min}`);
  }
}

/** @throws {SupervisorError} WSSUP_INVALID_ARGUMENT for a limit or eviction point out of range. */
export function checkLimits(limit: unknown, evictAt: unknown): void {
  checkCount('limit', limit, 1);
  // 0 is a T of its own (evictionThreshold 0: every idle entry goes), not "none".
  checkCount('evictAt', evictAt, 0);
  if ((evictAt as number) > (limit as number)) {
    throw new SupervisorError(
      'WSSUP_INVALID_ARGUMENT',
      `evictAt (${evictAt}) must be at most limit (${limit})`,
    );
  }
}

/**
 * Epoch ms as the scripts store them: plain digits. A negative time would
 * carry a sign and a huge one an exponent, and neither would decode again.
 */
const isEpochMs = (value: unknown): value is number =>
  typeof value === 'number' && Number.isFinite(value) && value >= 0 && value <= Number.MAX_SAFE_INTEGER;

/** @throws {SupervisorError} WSSUP_INVALID_ARGUMENT unless `value` is epoch ms (0 to 2^53 − 1). */
export function checkEpochMs(name: string, value: unknown): void {
  if (!isEpochMs(value)) {
    throw new SupervisorError('WSSUP_INVALID_ARGUMENT', `${name} must be epoch ms, got ${String(value)}`);
  }
}

/**
 * An admission's or a held connection's client instance, as the book stores it
 * (`<id>.<attemptAt>`), or '' for none.
 * @throws {SupervisorError} WSSUP_INVALID_ARGUMENT unless undefined or `{ id, attemptAt }`, the id
 * as the `wssup-instance` parameter's and `attemptAt` whole epoch ms.
 */
export function instanceArg(instance: InstanceClaim | undefined): string {
  if (instance === undefined) return '';
  const { id, attemptAt } = (instance ?? {}) as Partial<InstanceClaim>;
  if (!isInstanceId(id)) {
    throw new SupervisorError('WSSUP_INVALID_ARGUMENT', `instance.id must be ${INSTANCE_ALLOWED}`);
  }
  if (!isEpochMs(attemptAt) || !Number.isInteger(attemptAt)) {
    throw new SupervisorError(
      'WSSUP_INVALID_ARGUMENT',
      `instance.attemptAt must be whole epoch ms, got ${String(attemptAt)}`,
    );
  }
  return `${id}.${attemptAt}`;
}

/** @throws {SupervisorError} WSSUP_INVALID_ARGUMENT unless epoch ms or undefined. */
export function checkIdleSince(value: unknown): void {
  if (value !== undefined && !isEpochMs(value)) {
    throw new SupervisorError(
      'WSSUP_INVALID_ARGUMENT',
      `idleSince must be epoch ms or undefined, got ${String(value)}`,
    );
  }
}
