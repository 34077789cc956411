/**
 * The `cluster` option (issue 12): each bad field is named (`cluster.<field>`)
 * with what is allowed, before anything is allocated and without loading a
 * Redis client; defaults fill in the rest; no `cluster`, no cluster mode.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { createClient, createCluster, createSentinel } from 'redis';
import { describe, expect, it, onTestFinished } from 'vitest';
import { resolveClusterOptions } from '../../src/cluster/cluster-options.js';
import { redactRedisUrl } from '../../src/cluster/redact-redis-url.js';
import { isClusterClient, isSentinelClient, isSingleClient } from '../../src/cluster/redis-client.js';
import { REDIS_URL, resolveStoreOptions } from '../../src/cluster/redis-store-input.js';
import {
  createSupervisor,
  InvalidOptionError,
  MissingPeerError,
  resolveOptions,
  type SupervisorOptions,
} from '../../src/index.js';
import { MemoryBook } from '../helpers/memory-slot-store.js';

const authenticate = () => 'user';
const url = 'redis://127.0.0.1:6379';

function thrownBy(cluster: unknown): InvalidOptionError {
  try {
    resolveOptions({ authenticate, cluster } as SupervisorOptions);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidOptionError);
    return error as InvalidOptionError;
  }
  throw new Error(`expected the cluster option ${JSON.stringify(cluster)} to be refused`);
}

/** A working store of the test double's, with some of its methods taken away. */
function storeMissing(...names: string[]): object {
  const store = new MemoryBook(() => 0).store('n', 1_000) as unknown as Record<string, unknown>;
  const methods: Record<string, unknown> = {};
  // Listed here, not imported from src: a method dropped from the runtime's check must fail a test.
  for (const name of [
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
  ]) {
    if (!names.includes(name)) methods[name] = (store[name] as () => unknown).bind(store);
  }
  return { nodeId: 'n', incarnation: 0, ...methods };
}

describe('cluster option', () => {
  it('is off without it', () => {
    expect(resolveOptions({ authenticate }).cluster).toBeUndefined();
  });

  it('fills in the defaults', () => {
    const { cluster } = resolveOptions({ authenticate, cluster: { redis: url } });
    expect(cluster).toMatchObject({
      redis: url,
      store: undefined,
      leaseTtlMs: 15_000,
      reaperIntervalMs: 15_000,
      keyPrefix: 'wssup',
      commandTimeoutMs: 500,
      onStoreUnavailable: 'local',
    });
    expect(cluster?.nodeId).toMatch(/^[A-Za-z0-9._-]+:\d+$/);
  });

  it('keeps the command timeout within a third of the lease, so that one slow renewal cannot lose it', () => {
    // A short lease brings the default timeout down with it.
    expect(resolveOptions({ authenticate, cluster: { redis: url, leaseTtlMs: 900 } }).cluster).toMatchObject({
      leaseTtlMs: 900,
      commandTimeoutMs: 300,
    });
    const at = { redis: url, leaseTtlMs: 900, commandTimeoutMs: 300 };
    expect(resolveOptions({ authenticate, cluster: at }).cluster?.commandTimeoutMs).toBe(300);
    const error = thrownBy({ ...at, commandTimeoutMs: 301 });
    expect(error).toMatchObject({ code: 'WSSUP_INVALID_OPTION', option: 'cluster.commandTimeoutMs' });
    expect(error.message).toMatch(/a third of cluster\.leaseTtlMs/);
  });

  it('gives a store of the app’s own a deadline of 2000 ms by default, within a third of the lease too', () => {
    const store = new MemoryBook(() => 0).store('n', 1_000);
    expect(resolveOptions({ authenticate, cluster: { store } }).cluster?.commandTimeoutMs).toBe(2_000);
    const short = { store, leaseTtlMs: 3_000 };
    expect(resolveOptions({ authenticate, cluster: short }).cluster?.commandTimeoutMs).toBe(1_000);
    const own = { store, commandTimeoutMs: 250 };
    expect(resolveOptions({ authenticate, cluster: own }).cluster?.commandTimeoutMs).toBe(250);
  });

  it('accepts the bounds the README gives, at their edges', () => {
    const cluster = {
      redis: url,
      nodeId: `${'n'.repeat(60)}.:_-`,
      keyPrefix: 'p'.repeat(64),
      leaseTtlMs: 2 ** 31 - 1,
      reaperIntervalMs: 100,
      commandTimeoutMs: 60_000,
    };
    expect(resolveOptions({ authenticate, cluster }).cluster).toMatchObject(cluster);
    expect(resolveOptions({ authenticate, cluster: { redis: url, leaseTtlMs: 300 } }).cluster).toMatchObject({
      leaseTtlMs: 300,
      commandTimeoutMs: 100,
      reaperIntervalMs: 300,
    });
    // A database number is the one path node-redis takes.
    for (const redis of [`${url}/0`, `${url}/15`, `${url}/`])
      expect(resolveOptions({ authenticate, cluster: { redis } }).cluster?.redis).toBe(redis);
  });

  /** An app's own client that is not open: refused, naming the fix. */
  const notOpen =
    /"cluster\.redis": expected an open client: await client\.connect\(\) before createSupervisor\(\)/;

  it('takes a Redis Cluster: root nodes, or node-redis clients of either kind, told apart by their shape', () => {
    const rootNodes = { rootNodes: [url, 'redis://127.0.0.1:6380'] };
    expect(resolveOptions({ authenticate, cluster: { redis: rootNodes } }).cluster?.redis).toBe(rootNodes);
    // Neither connects: node-redis connects on connect() only.
    const cluster = createCluster({ rootNodes: [{ url }] });
    const single = createClient({ url });
    expect(isClusterClient(cluster)).toBe(true);
    // Optional in RedisClusterLike (deprecated by node-redis): the per-master deadlines and shardOf need it.
    expect(typeof cluster.getSlotMaster).toBe('function');
    expect(isSingleClient(cluster)).toBe(false);
    expect(isClusterClient(single)).toBe(false);
    expect(isSingleClient(single)).toBe(true);
    // Taken as clients, and refused as clients that are not open (never connected).
    expect(() => resolveOptions({ authenticate, cluster: { redis: cluster } })).toThrow(notOpen);
    expect(() => resolveOptions({ authenticate, cluster: { redis: single } })).toThrow(notOpen);
    for (const client of [cluster, single]) {
      Object.defineProperty(client, 'isOpen', { value: true }); // as if connected
      expect(resolveOptions({ authenticate, cluster: { redis: client } }).cluster?.redis).toBe(client);
    }
  });

  it('takes Redis Sentinel: the sentinels’ addresses and name, or a node-redis sentinel client, told apart from a single client', () => {
    const sentinels = { name: 'mymaster', sentinelRootNodes: [{ host: '127.0.0.1', port: 26379 }] };
    expect(resolveOptions({ authenticate, cluster: { redis: sentinels } }).cluster?.redis).toBe(sentinels);
    // It does not connect: node-redis connects on connect() only.
    const sentinel = createSentinel(sentinels);
    expect(isSentinelClient(sentinel)).toBe(true);
    expect(isSingleClient(sentinel)).toBe(false);
    expect(isClusterClient(sentinel)).toBe(false);
    expect(isSentinelClient(createClient({ url }))).toBe(false);
    expect(isSentinelClient(createCluster({ rootNodes: [{ url }] }))).toBe(false);
    expect(() => resolveOptions({ authenticate, cluster: { redis: sentinel } })).toThrow(notOpen);
    Object.defineProperty(sentinel, 'isOpen', { value: true }); // as if connected
    expect(resolveOptions({ authenticate, cluster: { redis: sentinel } }).cluster?.redis).toBe(sentinel);
  });

  it('takes a slot store of the app’s own instead of redis', () => {
    const store = new MemoryBook(() => 0).store('n', 1_000);
    expect(resolveOptions({ authenticate, cluster: { store } }).cluster?.store).toBe(store);
  });

  it('names what a store of the app’s own lacks, so its author need not diff it against SlotStore', () => {
    expect(thrownBy({ store: storeMissing('readmit', 'view') }).message).toBe(
      'Invalid option "cluster.store": expected a SlotStore (start, admit, release, …), received an object without readmit(), view().',
    );
    const { nodeId: _, ...anonymous } = storeMissing() as Record<string, unknown>;
    expect(thrownBy({ store: anonymous }).message).toContain('received an object without nodeId (a string).');
  });

  it('takes the node id of a store of the app’s own, and refuses another one beside it', () => {
    const store = new MemoryBook(() => 0).store('web-1', 1_000);
    // Without cluster.nodeId, stats() and the reports name the store's node, not <hostname>:<pid>.
    expect(resolveOptions({ authenticate, cluster: { store } }).cluster?.nodeId).toBe('web-1');
    expect(resolveOptions({ authenticate, cluster: { store, nodeId: 'web-1' } }).cluster?.nodeId).toBe(
      'web-1',
    );
    const error = thrownBy({ store, nodeId: 'web-2' });
    expect(error.option).toBe('cluster.nodeId');
    expect(error.message).toBe(
      'Invalid option "cluster.nodeId": expected the cluster.store\'s own nodeId ("web-1"), or no cluster.nodeId (it defaults to the store\'s), received "web-2".',
    );
    expect(thrownBy({ store: new MemoryBook(() => 0).store('a b', 1_000) }).option).toBe('cluster.store');
  });

  it.each<[string, unknown, string]>([
    ['not an object', 'redis://x', 'cluster'],
    ['an unknown field', { redis: url, ttl: 5 }, 'cluster.ttl'],
    ['neither redis nor store', {}, 'cluster.redis'],
    ['both redis and store', { redis: url, store: new MemoryBook(() => 0).store('n', 1) }, 'cluster.store'],
    ['an http URL', { redis: 'http://127.0.0.1:6379' }, 'cluster.redis'],
    ['not a URL', { redis: 'localhost' }, 'cluster.redis'],
    // node-redis takes no path but a database number, and said so only when it connected.
    ['a URL with a path', { redis: 'redis://127.0.0.1:6379/cache' }, 'cluster.redis'],
    ['a URL with a fractional database', { redis: 'redis://127.0.0.1:6379/1.5' }, 'cluster.redis'],
    // node-redis reads no query nor fragment: `?db=2` (as redis-py and ioredis take it) left the
    // store in database 0, where another deployment's books under the same prefix are shared.
    ['a URL with a query (?db=2)', { redis: 'redis://127.0.0.1:6379?db=2' }, 'cluster.redis'],
    ['a URL with a database and a query', { redis: 'redis://127.0.0.1:6379/3?db=2' }, 'cluster.redis'],
    ['a URL with a fragment', { redis: 'redis://127.0.0.1:6379/3#2' }, 'cluster.redis'],
    // node-redis decodes the password, and threw URIError only when it connected.
    ['a password with a bad % escape', { redis: 'redis://:Pa%zzSx@127.0.0.1:6379' }, 'cluster.redis'],
    ['a user name with a bad % escape', { redis: 'redis://a%FF:pw@127.0.0.1:6379' }, 'cluster.redis'],
    [
      'a root node whose password has a bad % escape',
      { redis: { rootNodes: [url, 'redis://:50%@127.0.0.1:7001'] } },
      'cluster.redis.rootNodes',
    ],
    [
      'a root node with a query',
      { redis: { rootNodes: [url, 'redis://127.0.0.1:7001?password=x'] } },
      'cluster.redis.rootNodes',
    ],
    [
      'a root node with a path',
      { redis: { rootNodes: [url, 'redis://127.0.0.1:7001/x'] } },
      'cluster.redis.rootNodes',
    ],
    ['an object that is not a client', { redis: { host: 'x' } }, 'cluster.redis'],
    ['a store missing methods', { store: { admit() {} } }, 'cluster.store'],
    [
      'a store without readmit, orderEviction, userBook or view',
      { store: storeMissing('readmit', 'orderEviction', 'userBook', 'view') },
      'cluster.store',
    ],
    ['a store without readmit', { store: storeMissing('readmit') }, 'cluster.store'],
    [
      'a store with shardOf but no shards',
      { store: { ...storeMissing(), shardOf: () => 'a' } },
      'cluster.store',
    ],
    [
      'a store with shards but no shardOf',
      { store: { ...storeMissing(), shards: () => ['a'] } },
      'cluster.store',
    ],
    ['a node id with a brace', { redis: url, nodeId: 'a{b}' }, 'cluster.nodeId'],
    ['an empty node id', { redis: url, nodeId: '' }, 'cluster.nodeId'],
    ['a key prefix with a space', { redis: url, keyPrefix: 'a b' }, 'cluster.keyPrefix'],
    ['a lease below 300 ms', { redis: url, leaseTtlMs: 299 }, 'cluster.leaseTtlMs'],
    ['a fractional lease', { redis: url, leaseTtlMs: 1000.5 }, 'cluster.leaseTtlMs'],
    ['a reaper interval below 100 ms', { redis: url, reaperIntervalMs: 50 }, 'cluster.reaperIntervalMs'],
    ['a command timeout of 0', { redis: url, commandTimeoutMs: 0 }, 'cluster.commandTimeoutMs'],
    // The README's bounds: names of at most 64 characters, delays a timer can hold, a timeout of at most 60 s.
    ['a node id of 65 characters', { redis: url, nodeId: 'n'.repeat(65) }, 'cluster.nodeId'],
    ['a key prefix of 65 characters', { redis: url, keyPrefix: 'p'.repeat(65) }, 'cluster.keyPrefix'],
    ['a lease above 2^31 - 1 ms', { redis: url, leaseTtlMs: 2 ** 31 }, 'cluster.leaseTtlMs'],
    [
      'a reaper interval above 2^31 - 1 ms',
      { redis: url, reaperIntervalMs: 2 ** 31 },
      'cluster.reaperIntervalMs',
    ],
    [
      'a command timeout above 60 s, however long the lease',
      { redis: url, leaseTtlMs: 600_000, commandTimeoutMs: 60_001 },
      'cluster.commandTimeoutMs',
    ],
    ['an unknown policy', { redis: url, onStoreUnavailable: 'queue' }, 'cluster.onStoreUnavailable'],
    // null is a value, not an absent field: it must not become the default.
    ['a null node id', { redis: url, nodeId: null }, 'cluster.nodeId'],
    ['a null key prefix', { redis: url, keyPrefix: null }, 'cluster.keyPrefix'],
    ['a null lease', { redis: url, leaseTtlMs: null }, 'cluster.leaseTtlMs'],
    ['a null reaper interval', { redis: url, reaperIntervalMs: null }, 'cluster.reaperIntervalMs'],
    ['a null command timeout', { redis: url, commandTimeoutMs: null }, 'cluster.commandTimeoutMs'],
    ['a null policy', { redis: url, onStoreUnavailable: null }, 'cluster.onStoreUnavailable'],
    // Redis Cluster: root nodes, or a client of the app's own of either kind.
    ['no root nodes', { redis: { rootNodes: [] } }, 'cluster.redis.rootNodes'],
    ['root nodes that are not a list', { redis: { rootNodes: url } }, 'cluster.redis.rootNodes'],
    [
      'an http root node',
      { redis: { rootNodes: [url, 'http://127.0.0.1:7001'] } },
      'cluster.redis.rootNodes',
    ],
    ['a root node that is not a string', { redis: { rootNodes: [url, 7001] } }, 'cluster.redis.rootNodes'],
    [
      'root nodes of two schemes',
      { redis: { rootNodes: [url, 'rediss://127.0.0.1:7001'] } },
      'cluster.redis.rootNodes',
    ],
    [
      'root nodes with another field',
      { redis: { rootNodes: [url], password: 'x' } },
      'cluster.redis.password',
    ],
    ['a client without duplicate', { redis: { sendCommand: async () => 'OK' } }, 'cluster.redis'],
    [
      'half a cluster client (nodeClient and masters, no sendCommand)',
      { redis: { nodeClient: async () => ({}), masters: [], duplicate: () => ({}) } },
      'cluster.redis',
    ],
  ])('refuses %s, naming %s', (_, cluster, option) => {
    const error = thrownBy(cluster);
    expect(error.code).toBe('WSSUP_INVALID_OPTION');
    expect(error.option).toBe(option);
  });

  it.each<[string, string]>([
    ['leaseTtl', 'leaseTtlMs'],
    ['nodeID', 'nodeId'],
    ['onStoreUnavailible', 'onStoreUnavailable'],
    ['comandTimeoutMs', 'commandTimeoutMs'],
  ])('a misspelt field (%s) is named with the field it probably meant (%s)', (typo, meant) => {
    const error = thrownBy({ redis: url, [typo]: 1 });
    expect(error.option).toBe(`cluster.${typo}`);
    expect(error.allowed).toBe(`one of the known fields, here probably "${meant}"`);
  });

  it('a field close to none is answered with every field', () => {
    const error = thrownBy({ redis: url, colour: 1 });
    expect(error.option).toBe('cluster.colour');
    expect(error.allowed).toBe(
      'one of the known fields (redis, store, nodeId, leaseTtlMs, reaperIntervalMs, keyPrefix, commandTimeoutMs, onStoreUnavailable)',
    );
  });

  it('a URL under another name (url, host) is pointed at cluster.redis', () => {
    for (const key of ['url', 'host', 'redisUrl']) {
      expect(thrownBy({ [key]: url }).message, key).toContain('here probably "redis"');
    }
  });

  describe('without the redis package (an optional peer)', () => {
    const notInstalled = (specifier: string): string => {
      throw Object.assign(new Error(`Cannot find module '${specifier}'`), { code: 'MODULE_NOT_FOUND' });
    };

    it('a Redis URL is refused at once with WSSUP_MISSING_PEER, not found later when the store starts', () => {
      let error: unknown;
      try {
        resolveClusterOptions({ redis: url }, notInstalled);
      } catch (failure) {
        error = failure;
      }
      expect(error).toBeInstanceOf(MissingPeerError);
      expect(error).toMatchObject({ code: 'WSSUP_MISSING_PEER', peer: 'redis' });
      expect((error as Error).message).toContain('npm install redis');
    });

    it('a client of the app’s own or a store of its own needs nothing of ours', () => {
      const client = { sendCommand: async () => 'OK', duplicate: () => ({}) };
      expect(resolveClusterOptions({ redis: client }, notInstalled).redis).toBe(client);
      const cluster = { ...client, nodeClient: async () => client, masters: [] };
      expect(resolveClusterOptions({ redis: cluster }, notInstalled).redis).toBe(cluster);
      const store = new MemoryBook(() => 0).store('n', 1_000);
      expect(resolveClusterOptions({ store }, notInstalled).store).toBe(store);
    });

    it('root nodes of a Redis Cluster are refused at once with WSSUP_MISSING_PEER, as a URL is', () => {
      expect(() => resolveClusterOptions({ redis: { rootNodes: [url] } }, notInstalled)).toThrow(
        expect.objectContaining({ code: 'WSSUP_MISSING_PEER', peer: 'redis' }),
      );
      const sentinels = { name: 'mymaster', sentinelRootNodes: [{ host: '127.0.0.1', port: 26379 }] };
      expect(() => resolveClusterOptions({ redis: sentinels }, notInstalled)).toThrow(
        expect.objectContaining({ code: 'WSSUP_MISSING_PEER', peer: 'redis' }),
      );
    });

    it('the package is looked up, not loaded, and with it installed (a devDependency here) a URL is taken', () => {
      const looked: string[] = [];
      const resolve = (specifier: string) => {
        looked.push(specifier);
        return `/somewhere/${specifier}/index.js`;
      };
      expect(resolveClusterOptions({ redis: url }, resolve).redis).toBe(url);
      // Its package.json too, for its version (node-redis 4 is refused); a file it cannot read is no verdict.
      expect(looked).toEqual(['redis', 'redis/package.json']);
      expect(resolveOptions({ authenticate, cluster: { redis: url } }).cluster?.redis).toBe(url);
    });
  });
});

/**
 * A Redis URL carries its password (`redis://user:password@host`), and option errors end up
 * in logs: the store's own messages show a URL as `redis://user:***@host`, and so must the
 * refusal of a bad one, in its message and in the `received` the reference server prints
 * (`error: --redis: expected …, got …`). Found by passing both `redis` and `store`: the
 * message named the store as received and showed the URL, password and all.
 */
describe('cluster option errors never show a password', () => {
  const password = 'hunter2';
  it.each<[string, unknown, string]>([
    ['a URL of another scheme', { redis: `http://bob:${password}@10.0.0.1:6379` }, 'cluster.redis'],
    ['a URL with one slash', { redis: `redis:/bob:${password}@10.0.0.1:6379` }, 'cluster.redis'],
    ['a URL without its user name', { redis: `rediss//:${password}@10.0.0.1:6379` }, 'cluster.redis'],
    [
      'both redis and store',
      { redis: `redis://bob:${password}@10.0.0.1:6379`, store: new MemoryBook(() => 0).store('n', 1) },
      'cluster.store',
    ],
    [
      'root nodes given as one string',
      { redis: { rootNodes: `redis://bob:${password}@10.0.0.1:7000` } },
      'cluster.redis.rootNodes',
    ],
    [
      'root nodes of two schemes',
      { redis: { rootNodes: [`rediss://bob:${password}@10.0.0.1:7000`, 'redis://10.0.0.2:7000'] } },
      'cluster.redis.rootNodes',
    ],
    // As redis-py and go-redis take a password; node-redis reads no query.
    [
      'a password in the query of another scheme',
      { redis: `http://10.0.0.1:6379?password=${password}` },
      'cluster.redis',
    ],
    [
      'a password in the query of a URL with one slash',
      { redis: `redis:/10.0.0.1:6379/0?password=${password}` },
      'cluster.redis',
    ],
    [
      'a password in the query of a root node of another scheme',
      { redis: { rootNodes: [`http://10.0.0.1:7000?password=${password}`] } },
      'cluster.redis.rootNodes',
    ],
    ['a password after an unencoded #', { redis: `http://bob:12#${password}` }, 'cluster.redis'],
    ['a password in the query', { redis: `redis://10.0.0.1:6379?password=${password}` }, 'cluster.redis'],
    ['a password with a bad % escape', { redis: `redis://:${password}%zz@10.0.0.1:6379` }, 'cluster.redis'],
    [
      'a password in the query of a root node',
      { redis: { rootNodes: [`redis://10.0.0.1:7000?password=${password}`] } },
      'cluster.redis.rootNodes',
    ],
    [
      'a password after an unencoded # in a redis:// URL',
      { redis: `redis://localhost:6390#${password}@10.0.0.1:6379` },
      'cluster.redis',
    ],
    // A common slip for `redis://:password@host`: the password where a user name goes.
    [
      'a password as the user name, another scheme',
      { redis: `http://${password}@10.0.0.1:6379` },
      'cluster.redis',
    ],
    [
      'a password as the user name, one slash',
      { redis: `redis:/${password}@10.0.0.1:6379` },
      'cluster.redis',
    ],
    [
      'a password as the user name of a root node',
      { redis: { rootNodes: [`rediss://${password}@10.0.0.1:7000`, 'redis://10.0.0.2:7000'] } },
      'cluster.redis.rootNodes',
    ],
    // A `\` ends an http:// host but is part of a redis:// password (WHATWG URL: redis: is no
    // special scheme), and node-redis takes it: `redis://app:Pa55\word@h` showed `app:Pa55/***`.
    ['a \\ in the password', { redis: `redis://u:${password}\\x@10.0.0.1:6379/x` }, 'cluster.redis'],
    ['a \\ in the user name', { redis: `redis://u\\x:${password}@10.0.0.1:6379/x` }, 'cluster.redis'],
    [
      'a \\ in a user info without a colon',
      { redis: `rediss://${password}\\x@10.0.0.1:6379?x` },
      'cluster.redis',
    ],
    [
      'a \\ in the password of a root node',
      { redis: { rootNodes: [`rediss://u:${password}\\x@10.0.0.1:7000`, 'redis://10.0.0.2:7000'] } },
      'cluster.redis.rootNodes',
    ],
    // A password with an `@` and then a `/`, `?` or `#` (not written %40, %2F, %3F, %23): what
    // reads as the host was part of the password, and was shown.
    [
      'an @ then a ? in the password',
      { redis: `rediss://default:Pa@${password}?x1@redis.example.com:6380` },
      'cluster.redis',
    ],
    ['an @ then a / in the password', { redis: `redis://u:ab@${password}/ef@h:6379` }, 'cluster.redis'],
    // Not a URL: the last `@` was taken for the end of the user info, even in a query.
    ['an @ in the query of a bad port', { redis: `redis://h:99999?password=p@${password}` }, 'cluster.redis'],
    ['an @ in the query of a bad URL', { redis: `redis://h:6379x/0?auth=u@${password}` }, 'cluster.redis'],
    [
      'a user info and an @ in the query of a bad URL',
      { redis: `redis://${password}@h:6379x/0?x@y` },
      'cluster.redis',
    ],
    // A password with no host after it.
    ['a password and no host', { redis: `redis://:${password}` }, 'cluster.redis'],
    ['a user name, a password and no host', { redis: `redis://app:${password}` }, 'cluster.redis'],
  ])('%s', (_name, cluster, option) => {
    const error = thrownBy(cluster);
    expect(error.option).toBe(option);
    expect(error.message).not.toContain(password);
    expect(String(error.received)).not.toContain(password);
    expect(`${error.message} ${String(error.received)}`).not.toMatch(/hunter/);
  });

  it('says "both" when redis and store are both given', () => {
    const error = thrownBy({ redis: url, store: new MemoryBook(() => 0).store('n', 1) });
    expect(error.message).toBe(
      'Invalid option "cluster.store": expected exactly one of cluster.redis (a URL or a node-redis client) and cluster.store, received both.',
    );
  });

  it('keeps the rest of a bad URL, the user name included, so that the mistake can be seen', () => {
    const error = thrownBy({ redis: `http://bob:${password}@10.0.0.1:6379` });
    // A string can only have meant a URL: the message says what a URL must be, not every client shape.
    expect(error.message).toBe(
      'Invalid option "cluster.redis": expected a redis:// or rediss:// URL, with no path but a database number (/0) and no query or fragment (node-redis reads neither), received "http://bob:***@10.0.0.1:6379".',
    );
    expect(error.received).toBe('http://bob:***@10.0.0.1:6379');
    const { received } = thrownBy({
      redis: { rootNodes: [`rediss://:${password}@h:7000`, 'redis://h2:7000'] },
    });
    expect(received).toEqual(['rediss://:***@h:7000', 'redis://h2:7000']);
    expect(thrownBy({ redis: `http://10.0.0.1:6379/0?password=${password}#x` }).received).toBe(
      'http://10.0.0.1:6379/0?***',
    );
  });

  // A password of digits then a `/`, `#` or `?` (not written %2F, %23, %3F) reads as a host and
  // its port: `redis://app:1234/7@h` is host app, port 1234, and the refusal showed the digits.
  it.each([
    ['redis://app:1234/7@h:6379', 'redis://app:***@h:6379'],
    ['redis://app:1234#7@h:6379', 'redis://app:***'], // after a #: may be a password (below)
    ['redis://app:1234?7@h:6379', 'redis://app:***'],
    ['redis://app:1234/0@h', 'redis://app:***@h'],
    ['redis://:1234/7@h', 'redis://:***'], // no host: not a URL, only the scheme and user name shown
    ['redis://[::1]:1234/7@h', 'redis://***@h'],
  ])('hides the "port" of %s: an @ follows, so it may be the start of a password', (given, shown) => {
    const error = thrownBy({ redis: given });
    expect(error.received).toBe(shown);
    expect(error.message).not.toContain('1234');
    expect(thrownBy({ redis: { rootNodes: [given] } }).received).toEqual([shown]);
  });

  it.each([
    // An @ after a ? or #: what follows may be a password (`?password=p@ssw0rd`), not shown as
    // a host, even where a host was meant (a password holding @ and then ?).
    ['rediss://default:Pa@ssW0rd?x1@redis.example.com:6380', 'rediss://default:***'],
    ['redis://h:6379/0?password=p@ssw0rd', 'redis://h:***'],
    ['redis://h:7000/?password=p@ssw0rd', 'redis://h:***'],
    ['rediss://h:6380/0#p@ssw0rd', 'rediss://h:***'],
    ['redis://default@h?password=p@ssw0rd', 'redis://***'],
    ['redis://u:p@h/0#@secret', 'redis://u:***'],
    ['redis://app:1234/7?x@h', 'redis://app:***'],
    ['redis://u:ab@Xq7cd/ef@h:6379', 'redis://u:***@h:6379'],
    ['redis://u:ab@cd/ef@[::1]:7000/3', 'redis://u:***@[::1]:7000/3'],
    ['redis://Pa@ss/x@h', 'redis://***@h'],
    ['redis://u:p@h?password=x#@y:1/db', 'redis://u:***'], // what follows the last @ is no host
    ['redis://h:99999?password=p@ssw0rd', 'redis://h:***'],
    ['redis://h:6379x/0?auth=u@S3cretpw', 'redis://h:***'],
    ['redis://S3cret@h:6379x/0?x@y', 'redis://***'],
    ['redis://:S3cret', 'redis://:***'],
    ['redis://app:S3cret', 'redis://app:***'],
    ['redis://a/b:S3cret@h:99999', 'redis://***@h:99999'],
  ])(
    'shows %s as %s: all before the last @ a password but the user name, or only the scheme and user name of what does not parse',
    (given, shown) => {
      expect(redactRedisUrl(given)).toBe(shown);
    },
  );

  // `redis://h:6379/0?password=p@ssw0rd` was refused as `redis://h:***@ssw0rd`: the text after
  // the last @ read as a host, though the URL's host is h and that text ends the password.
  it.each([
    'redis://h:6379/0?password=p@ssw0rd',
    'rediss://h:6380/0#p@ssw0rd',
    'redis://default@h?password=p@ssw0rd',
  ])('shows no part of the password of %s, after a ? or # and an @, as a host', (given) => {
    const error = thrownBy({ redis: given });
    expect(error.message).not.toMatch(/ssw0rd|p@/);
    expect(error.received).not.toMatch(/ssw0rd|p@/);
    const rootNodes = [given.replace(':6379/0', ':7000/'), 'redis://h2:7000'];
    const { received } = thrownBy({ redis: { rootNodes } });
    expect(JSON.stringify(received)).not.toMatch(/ssw0rd|p@/);
  });

  // Deterministic (a fixed seed). A password is made of characters the rest of its URL lacks
  // (upper case and punctuation; schemes, users and hosts are lower case), so one of them shown
  // is a leak, however short: checking for the whole password passed with redactors that showed
  // a part of it. `@`, `/`, `?`, `#`, `:`, `\`, `[`, `]` and `%` are not escaped as they should
  // be, and the password is in the user info, in a query (`?password=`) or in a fragment, with a
  // user or none, after a host that parses or one that does not.
  it('never shows a character of a password, and keeps the host and port of a URL that parses', () => {
    const secret = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZ', ..."@/?#:\\[]%. !$&'()+,;=~-_", 'É', '€', '\t'];
    fc.assert(
      fc.property(
        fc.constantFrom('redis://', 'rediss://', 'redis+sentinel://', 'redis:', 'http://'),
        fc.constantFrom('', 'app', 'default', 'u-1'),
        fc.string({ unit: fc.constantFrom(...secret), minLength: 1, maxLength: 16 }),
        fc.constantFrom('h', 'redis.example.com', '10.0.0.1', '[::1]', 'h1:7000,h2', ''),
        fc.constantFrom('', ':6379', ':99999', ':'),
        fc.constantFrom('', '/0', '/7', '/', '?x=1', '#f', '/0?db=1'),
        fc.constantFrom('user info', 'query', 'fragment'),
        (scheme, user, password, host, port, tail, form) => {
          const withPassword = (p: string) =>
            form === 'user info'
              ? `${scheme}${user}:${p}@${host}${port}${tail}`
              : `${scheme}${user === '' ? '' : `${user}@`}${host}${port}${form === 'query' ? `/0?password=${p}` : `${tail}#${p}`}`;
          const given = withPassword(password);
          const rest = withPassword('');
          const shown = redactRedisUrl(given);
          expect([...shown].filter((c) => password.includes(c) && !rest.includes(c))).toEqual([]);
          // All up to the last @ is hidden (but the user name) when it may be a password: the
          // host is shown where the password holds no ? or # and nothing follows but a database.
          const oneHost = scheme.endsWith('//') && host !== '' && !host.includes(',');
          const hasHost = oneHost && URL.canParse(given);
          if (form === 'user info' && hasHost && !/[?#]/.test(password + tail)) {
            expect(shown).toContain(`@${host}${port}${tail}`);
          }
        },
      ),
      { seed: 20261206, numRuns: 5000 },
    );
  });

  it('shows a \\ in a redis:// user name and a password hidden whole, the host as node-redis reads it', () => {
    // Not refused (node-redis connects with it): as "could not connect to Redis at …" and the
    // reference server's startup line show it.
    expect(redactRedisUrl('redis://app:Pa55\\word@127.0.0.1:6391')).toBe('redis://app:***@127.0.0.1:6391');
    expect(redactRedisUrl('rediss://u:sek\\ret@h/0')).toBe('rediss://u:***@h/0');
    expect(redactRedisUrl('redis://a\\b:sek\\ret@h:1')).toBe('redis://a\\b:***@h:1');
    // An http:// host ends at a `\`, as WHATWG URL reads it: the rest is the path.
    expect(redactRedisUrl('http://h\\x')).toBe('http://h/***');
  });

  // `redis://:50%@h` was refused as any bad URL is: no reason given, and the `%` hidden with the
  // password. The reason is given only when decoding failed (a hint in the generic wording told
  // URLs without a password about passwords).
  it.each([
    ['redis://:50%@h', 'redis://:***@h'],
    ['rediss://app:50%zz@h:6380/0', 'rediss://app:***@h:6380/0'],
    ['redis://50%:p@h', 'redis://50%:***@h'],
  ])('says why %s is refused: its user name or password does not decode', (given, shown) => {
    const said = `Invalid option "cluster.redis": expected ${REDIS_URL}, received "${shown}", whose user name or password does not decode (write % as %25).`;
    const error = thrownBy({ redis: given });
    expect(error.message).toBe(said);
    expect(error.received).toBe(shown);
    expect(() => resolveStoreOptions({ redis: given })).toThrow(said);
  });

  it.each(['redis://h:6379/x', 'redis://app:pw@h?db=1', 'http://h:6379', 'redis://:5%25@h/x'])(
    'keeps the generic refusal of %s, whose user info decodes',
    (given) => {
      const error = thrownBy({ redis: given });
      expect(error.message).toBe(
        `Invalid option "cluster.redis": expected ${REDIS_URL}, received ${JSON.stringify(error.received)}.`,
      );
      expect(() => resolveStoreOptions({ redis: given })).toThrow(error.message);
    },
  );

  it('hides a user info without a colon whole: it is more often a password than a user name', () => {
    expect(thrownBy({ redis: `http://${password}@10.0.0.1:6379` }).received).toBe('http://***@10.0.0.1:6379');
    expect(
      thrownBy({ redis: { rootNodes: [`rediss://${password}@h:7000`, 'redis://h2:7000'] } }).received,
    ).toEqual(['rediss://***@h:7000', 'redis://h2:7000']);
  });

  it('refuses a URL without its // at once, as the store would when it opens (it parses, with no host)', () => {
    expect(thrownBy({ redis: 'redis:/10.0.0.1:6379' }).option).toBe('cluster.redis');
    expect(thrownBy({ redis: 'redis:10.0.0.1:6379' }).option).toBe('cluster.redis');
  });
});

/**
 * node-redis 4 (the `redis` many apps still have; npm installs ws-supervisor beside it only
 * with --legacy-peer-deps): run from the packed package against a private Redis, the store
 * connected and booked, then every shutdown() failed (`subscriber.destroy is not a
 * function`), leaving the process's lease and slots to expire. It is refused up front, with
 * the version found and what to run, as ws 7 is: an installed `redis` by its package.json,
 * an app's own client by node-redis 4's shape (disconnect(), no destroy()).
 */
describe('node-redis older than 6.3.0 (the floor of its peer range)', () => {
  /** A resolver that finds a `redis` package of `version` in a directory of its own. */
  function installed(version: string) {
    const dir = mkdtempSync(join(tmpdir(), 'wssup-redis-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    mkdirSync(join(dir, 'node_modules', 'redis'), { recursive: true });
    writeFileSync(
      join(dir, 'node_modules', 'redis', 'package.json'),
      JSON.stringify({ name: 'redis', version }),
    );
    writeFileSync(join(dir, 'node_modules', 'redis', 'index.js'), '');
    return createRequire(join(dir, 'app.js')).resolve;
  }

  it.each(['6.2.1', '6.0.0', '5.8.2', '4.7.1', '3.1.2'])(
    'redis %s installed: a URL is refused with WSSUP_UNSUPPORTED_PEER naming it',
    (version) => {
      expect(() => resolveClusterOptions({ redis: url }, installed(version))).toThrow(
        expect.objectContaining({
          code: 'WSSUP_UNSUPPORTED_PEER',
          message: `cluster mode needs redis (node-redis) ^6.3.0, its peer dependency, but found redis ${version}: run npm install redis@6`,
        }),
      );
      expect(() => resolveClusterOptions({ redis: { rootNodes: [url] } }, installed(version))).toThrow(
        expect.objectContaining({ code: 'WSSUP_UNSUPPORTED_PEER' }),
      );
    },
  );

  it.each(['6.3.0', '6.4.0', '7.0.0'])('redis %s installed: a URL is taken', (version) => {
    expect(resolveClusterOptions({ redis: url }, installed(version)).redis).toBe(url);
  });

  it("an app's own node-redis 4 client (disconnect(), no destroy()) is refused; a wrapper with neither is taken", () => {
    const v4 = {
      sendCommand: async () => 'OK',
      duplicate: () => ({}),
      disconnect: async () => {},
      quit: async () => {},
    };
    expect(() => resolveClusterOptions({ redis: v4 })).toThrow(
      expect.objectContaining({
        code: 'WSSUP_UNSUPPORTED_PEER',
        message: expect.stringContaining('npm install redis@6'),
      }),
    );
    const v4Cluster = { ...v4, nodeClient: async () => v4, masters: [] };
    expect(() => resolveClusterOptions({ redis: v4Cluster })).toThrow(
      expect.objectContaining({ code: 'WSSUP_UNSUPPORTED_PEER' }),
    );
    // node-redis 5 and 6 have both; createSupervisor() goes through the same check.
    const v6 = { ...v4, destroy: () => {}, close: async () => {} };
    expect(resolveClusterOptions({ redis: v6 }).redis).toBe(v6);
    expect(() => createSupervisor({ authenticate, cluster: { redis: v4 as never } })).toThrow(
      expect.objectContaining({ code: 'WSSUP_UNSUPPORTED_PEER' }),
    );
  });
});
