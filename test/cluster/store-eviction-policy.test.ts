/**
 * A Redis that may evict the store's keys (its `maxmemory-policy` is not `noeviction`) is
 * told to the operator: once per server, at start and for each server met since (a restart,
 * a failover; each master of a Redis Cluster), through the store's `evictionPolicy` event,
 * which the supervisor reports to onError as WSSUP_STORE_EVICTION_POLICY and the reference
 * server prints on stderr. A server that denies INFO is not asked (nothing told, no error,
 * no denied command more in its ACL LOG). All on private redis-servers. First, why: under
 * allkeys-lru and memory pressure a user's book is evicted, and the limit stops holding.
 *
 * The policy is read beside the renewal, not awaited by it; the single-Redis read and the
 * next renewal share one connection, whose replies come in order: once a later renewal is
 * answered, the read's answer has been handled.
 */
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import type { RedisTarget } from '../../src/cluster/redis-client.js';
import { createRedisSlotStore, type RedisSlotStore } from '../../src/cluster/redis-store.js';
import { type PrivateRedis, startRedisServer } from '../helpers/redis-server.js';
import { ioWait, startServer } from '../helpers/server.js';
import { startNode } from './cluster-nodes.js';
import {
  eventually,
  freshPrefix,
  hasRedis,
  renewOnce,
  startStore,
  usePrivateCluster,
  usePrivateSentinel,
} from './store-fixture.js';

interface Told {
  policy: string;
  server: string;
}

/** A store on `redis` that records what it tells evictionPolicy; stopped after the test. */
async function recordingStore(redis: RedisTarget): Promise<{ store: RedisSlotStore; told: Told[] }> {
  const store = createRedisSlotStore({
    redis,
    nodeId: 'n1',
    keyPrefix: freshPrefix(),
    commandTimeoutMs: 300,
  });
  onTestFinished(() => store.stop());
  const told: Told[] = [];
  await store.start({
    evictionOrdered: () => {},
    incarnationChanged: () => {},
    evictionPolicy: (policy, server) => told.push({ policy, server }),
  });
  return { store, told };
}

/** A private redis-server with `policy`; stopped after the test. */
async function redisWith(policy: string): Promise<PrivateRedis> {
  const redis = await startRedisServer();
  onTestFinished(() => redis.stop());
  expect(await redis.command('CONFIG', 'SET', 'maxmemory-policy', policy)).toBe('OK');
  return redis;
}

const runIdOf = async (command: (...args: string[]) => Promise<unknown>) =>
  /run_id:([0-9a-f]+)/.exec(String(await command('INFO', 'server')))?.[1];

describe.runIf(hasRedis)('a Redis whose maxmemory-policy may evict the store’s keys', () => {
  it('volatile-lru: told once, at start, with the policy and the server (its URL without the password, its run_id); not again at later renewals', async () => {
    const redis = await redisWith('volatile-lru');
    await redis.command('ACL', 'SETUSER', 'app', 'on', '>s3cret-pw', '~*', '&*', '+@all');
    const { store, told } = await recordingStore(`redis://app:s3cret-pw@127.0.0.1:${redis.port}`);
    expect(await store.renew()).toBe('renewed');
    const runId = await runIdOf(redis.command);
    expect(told).toEqual([
      {
        policy: 'volatile-lru',
        server: `Redis at redis://app:***@127.0.0.1:${redis.port} (run_id ${runId})`,
      },
    ]);
    for (let i = 0; i < 3; i++) expect(await store.renew()).toBe('renewed');
    expect(told).toHaveLength(1);
    expect(JSON.stringify(told)).not.toContain('s3cret-pw');
  });

  it('noeviction: nothing told', async () => {
    const redis = await redisWith('noeviction');
    const { store, told } = await recordingStore(redis.url);
    for (let i = 0; i < 2; i++) expect(await store.renew()).toBe('renewed');
    expect(told).toEqual([]);
  });

  it('another server behind the same address (a restart: another run_id) with allkeys-lru is told too, once', async () => {
    const redis = await redisWith('volatile-lru');
    const { store, told } = await recordingStore(redis.url);
    expect(await store.renew()).toBe('renewed');
    expect(told.map((t) => t.policy)).toEqual(['volatile-lru']);
    const first = await runIdOf(redis.command);
    await redis.restart();
    expect(await redis.command('CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru')).toBe('OK');
    const second = await runIdOf(redis.command);
    expect(second).not.toBe(first);
    expect(await renewOnce(store)).toBe('lost'); // empty: its lease is gone
    expect(await store.renew()).toBe('renewed');
    expect(told).toEqual([
      { policy: 'volatile-lru', server: `Redis at ${redis.url} (run_id ${first})` },
      { policy: 'allkeys-lru', server: `Redis at ${redis.url} (run_id ${second})` },
    ]);
  });

  it('a server that denies INFO to the store (ACL without +info): nothing told, nothing fails, and its ACL LOG holds only the renew script’s denied INFO', async () => {
    const redis = await redisWith('volatile-lru');
    await redis.command('ACL', 'SETUSER', 'noinfo', 'on', '>secret', '~*', '&*', '+@all', '-info');
    await redis.command('ACL', 'LOG', 'RESET');
    const { store, told } = await recordingStore(`redis://noinfo:secret@127.0.0.1:${redis.port}`);
    const first = store.incarnation;
    for (let i = 0; i < 3; i++) expect(await store.renew()).toBe('renewed');
    expect(store.incarnation).toBe(first);
    expect(told).toEqual([]);
    const log = (await redis.command('ACL', 'LOG')) as string[][];
    const contexts = log.map(
      (entry) => `${entry[entry.indexOf('context') + 1]} ${entry[entry.indexOf('object') + 1]}`,
    );
    expect(contexts).toEqual(['lua info']);
  });

  it('the supervisor reports it to onError once, as WSSUP_STORE_EVICTION_POLICY, saying what to do', async () => {
    const redis = await redisWith('allkeys-lru');
    const keyPrefix = freshPrefix();
    const t = await startServer({
      cluster: { redis: redis.url, nodeId: 'evict-a', keyPrefix, leaseTtlMs: 1_500, commandTimeoutMs: 300 },
    });
    await t.supervisor.ready({ signal: AbortSignal.timeout(10_000) });
    const incarnation = t.supervisor.stats().cluster?.incarnation;
    const expiry = async () =>
      Number(await redis.command('ZSCORE', `${keyPrefix}:{nodes}:leases`, String(incarnation)));
    await vi.waitFor(() => expect(t.errors).toHaveLength(1), ioWait);
    // A few renewals more (one every 500 ms): told no more.
    const first = await expiry();
    await vi.waitFor(async () => expect(await expiry()).toBeGreaterThan(first + 1_000), ioWait);
    expect(t.errors).toHaveLength(1);
    expect(t.errors[0]?.code).toBe('WSSUP_STORE_EVICTION_POLICY');
    expect(t.errors[0]?.message).toMatch(
      new RegExp(
        `^slot store: Redis at redis://127\\.0\\.0\\.1:${redis.port} \\(run_id [0-9a-f]+\\) has maxmemory-policy allkeys-lru, which may evict users' books .*: set maxmemory-policy noeviction on it`,
      ),
    );
  });

  it('the reference server prints it once on stderr, without the password', async () => {
    const redis = await redisWith('volatile-lfu');
    await redis.command('ACL', 'SETUSER', 'app', 'on', '>s3cret-pw', '~*', '&*', '+@all');
    const node = await startNode({ url: `redis://app:s3cret-pw@127.0.0.1:${redis.port}` }, 'evict-ref');
    await node.program.waitFor(/warning WSSUP_STORE_EVICTION_POLICY/);
    // Renewals more (one every 500 ms with the nodes' 1,500 ms lease, each pushing the lease): still one line.
    // The lease of the incarnation the node holds when asked: on a loaded machine a renewal late past
    // the 1,500 ms lease gives it a new one between two reads (a clean-clone CI run saw that once).
    const expiry = async () => {
      const incarnation = (await node.stats()).cluster?.incarnation;
      return Number(await redis.command('ZSCORE', 'wssup:{nodes}:leases', String(incarnation)));
    };
    let first = 0;
    await vi.waitFor(async () => {
      first = await expiry();
      expect(first).toBeGreaterThan(0);
    }, ioWait);
    await vi.waitFor(async () => expect(await expiry()).toBeGreaterThan(first + 1_000), ioWait);
    const lines = node.program
      .errorOutput()
      .split('\n')
      .filter((line) => line.includes('WSSUP_STORE_EVICTION_POLICY'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(
        `^warning WSSUP_STORE_EVICTION_POLICY: slot store: Redis at redis://app:\\*\\*\\*@127\\.0\\.0\\.1:${redis.port} \\(run_id [0-9a-f]+\\) has maxmemory-policy volatile-lfu, which may evict the reaper's indexes`,
      ),
    );
    expect(node.program.output()).not.toContain('s3cret-pw');
    // A reference server's process start and a few renewals: on a loaded machine, past the default 20 s.
  }, 60_000);
});

describe.runIf(hasRedis)('why: allkeys-lru under memory pressure (the harm the warning is for)', () => {
  it('the book of a user at the limit is evicted: another node admits the user again from zero, and the first node, its lease gone, is refused its own connections', async () => {
    const redis = await redisWith('noeviction');
    const keyPrefix = freshPrefix();
    const a = await startStore(redis, { keyPrefix, nodeId: 'a', leaseTtlMs: 30_000 });
    const b = await startStore(redis, { keyPrefix, nodeId: 'b', leaseTtlMs: 30_000 });
    for (const id of ['a1', 'a2', 'a3'])
      expect(await a.store.admit('ann', id, 3, 3)).toMatchObject({ admitted: true });
    expect(await b.store.admit('ann', 'b0', 3, 3)).toMatchObject({ admitted: false, live: 3 });
    // 2 MB above what Redis uses now, then newer keys until the store's are gone (the oldest go
    // first). Redis's LRU is approximate: its clock ticks once a second (keys touched in the same
    // second look equally old), and it evicts the oldest of a sample of keys. So: a tick past the
    // store's writes, the largest sample, and filler until both the book and the lease registry
    // are evicted, within a bound (a few hundred writes are enough; the bound only stops a loop).
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const used = Number(/used_memory:(\d+)/.exec(String(await redis.command('INFO', 'memory')))?.[1]);
    await redis.command('CONFIG', 'SET', 'maxmemory-samples', '64');
    await redis.command('CONFIG', 'SET', 'maxmemory', String(used + 2 * 1024 * 1024));
    await redis.command('CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru');
    const value = 'x'.repeat(10_000);
    const storeKeys = [`${keyPrefix}:{u:ann}:slots`, `${keyPrefix}:{nodes}:leases`];
    for (let i = 0; i < 4_000 && Number(await redis.command('EXISTS', ...storeKeys)) > 0; i += 100) {
      for (let j = i; j < i + 100; j++) await redis.command('SET', `filler:${j}`, value);
    }
    expect(await redis.command('EXISTS', `${keyPrefix}:{u:ann}:slots`)).toBe(0);
    // b's next renewal, then three admissions of ann: all admitted, 6 live against a limit of 3.
    await renewOnce(b.store);
    for (const id of ['b1', 'b2', 'b3'])
      expect(await b.store.admit('ann', id, 3, 3)).toMatchObject({ admitted: true });
    // a's next renewal takes a new incarnation; its re-admission of what it holds is refused.
    expect(await renewOnce(a.store)).toBe('lost');
    const held = ['a1', 'a2', 'a3'].map((connectionId) => ({
      userId: 'ann',
      connectionId,
      admittedAt: 1_000,
      idleSince: undefined,
    }));
    expect(await a.store.readmit(held, 3)).toEqual(['a1', 'a2', 'a3']);
  });
});

describe.runIf(hasRedis)('a Redis Cluster master whose maxmemory-policy may evict the store’s keys', () => {
  const cluster = usePrivateCluster();

  it('told once for that master, by its address, and for no other', async () => {
    const c = cluster.current;
    const [, evicting] = c.masters;
    if (evicting === undefined) throw new Error('the cluster has fewer than two masters');
    expect(await c.command(evicting.port, 'CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lfu')).toBe('OK');
    onTestFinished(async () => {
      await c.command(evicting.port, 'CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
    });
    const { store, told } = await recordingStore({ rootNodes: [...c.urls] });
    for (let i = 0; i < 3; i++) expect(await store.renew()).toBe('renewed');
    const runId = await runIdOf((...args) => c.command(evicting.port, ...args));
    expect(told).toEqual([{ policy: 'allkeys-lfu', server: `127.0.0.1:${evicting.port} (run_id ${runId})` }]);
  });
});

describe.runIf(hasRedis)('a Redis Sentinel primary whose maxmemory-policy may evict the store’s keys', () => {
  const sentinel = usePrivateSentinel();

  it('told once for the primary, by its name and sentinels; the replica promoted by a failover is told too', async () => {
    const s = sentinel.current;
    const primary = await s.primaryPort();
    expect(await s.command(primary, 'CONFIG', 'SET', 'maxmemory-policy', 'volatile-ttl')).toBe('OK');
    const { store, told } = await recordingStore({
      name: s.name,
      sentinelRootNodes: [...s.sentinelRootNodes],
    });
    for (let i = 0; i < 2; i++) expect(await store.renew()).toBe('renewed');
    const where = `the primary "${s.name}" of the Redis Sentinels at ${s.sentinelRootNodes
      .map(({ host, port }) => `${host}:${port}`)
      .join(', ')}`;
    const first = await runIdOf((...args) => s.command(primary, ...args));
    expect(told).toEqual([{ policy: 'volatile-ttl', server: `${where} (run_id ${first})` }]);
    const promoted = await s.failover();
    expect(await s.command(promoted, 'CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru')).toBe('OK');
    const second = await runIdOf((...args) => s.command(promoted, ...args));
    await eventually(async () => (await store.renew().catch(() => undefined)) === 'renewed', 20_000);
    expect(await store.renew()).toBe('renewed');
    expect(told).toEqual([
      { policy: 'volatile-ttl', server: `${where} (run_id ${first})` },
      { policy: 'allkeys-lru', server: `${where} (run_id ${second})` },
    ]);
  }, 60_000);
});
