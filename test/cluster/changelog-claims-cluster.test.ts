/**
 * CHANGELOG claims of "### Redis Cluster" and "### Redis Sentinel" that no other test
 * proves:
 *
 * - `{ rootNodes }`: "the store's connection settings on every node through node-redis's
 *   `defaults` ...; the first URL's credentials and TLS for every node" (the credentials
 *   are proven on a real cluster by doc-claims-cluster-credentials.test.ts; TLS here, on
 *   what the store gives node-redis, as test/unit/cluster-client-settings-doc.test.ts does).
 * - `{ name, sentinelRootNodes }`: "with the store's settings on every connection
 *   (`nodeClientOptions` and `sentinelClientOptions`: no offline queue, socket timeout,
 *   PING interval, reconnection), which subscribes its order channel on its own pub/sub
 *   connection (2 connections to the primary, 1 to a sentinel)": the settings as given to
 *   node-redis, and the connections counted on a real sentinel and primary.
 */
import * as redis from 'redis';
import { describe, expect, it } from 'vitest';
import { connectRedisCluster, connectRedisSentinel } from '../../src/cluster/redis-client.js';
import { createRedisSlotStore } from '../../src/cluster/redis-store.js';
import { eventually, freshPrefix, hasRedis, usePrivateSentinel } from './store-fixture.js';

/** The settings the store gives each connection it opens, as far as the CHANGELOG names them. */
interface Settings {
  disableOfflineQueue?: boolean;
  pingInterval?: number;
  username?: string;
  password?: string;
  socket?: { socketTimeout?: number; reconnectStrategy?: unknown; tls?: boolean };
}

describe('CHANGELOG: the clients the store creates itself', () => {
  it('{ rootNodes } with rediss://: TLS, the first URL’s credentials and the store’s settings for every node', async () => {
    let captured: { defaults?: Settings } | undefined;
    const load = async () => ({
      ...redis,
      createCluster: (options: Parameters<typeof redis.createCluster>[0]) => {
        captured = options as typeof captured;
        return redis.createCluster(options);
      },
    });
    // Nothing listens on port 1: the connect fails at once, after the factory was called.
    const rootNodes = ['rediss://app:s%40cret@127.0.0.1:1', 'rediss://127.0.0.1:2'];
    await expect(connectRedisCluster({ rootNodes }, { commandTimeoutMs: 500 }, load)).rejects.toMatchObject({
      code: 'WSSUP_STORE_UNAVAILABLE',
    });
    expect(captured?.defaults).toMatchObject({
      username: 'app',
      password: 's@cret',
      disableOfflineQueue: true,
      pingInterval: 1_000,
      socket: { tls: true, socketTimeout: 2_000, reconnectStrategy: expect.any(Function) },
    });
  });

  it('{ rootNodes } with redis://: no TLS, no credentials', async () => {
    let captured: { defaults?: Settings } | undefined;
    const load = async () => ({
      ...redis,
      createCluster: (options: Parameters<typeof redis.createCluster>[0]) => {
        captured = options as typeof captured;
        return redis.createCluster(options);
      },
    });
    await expect(
      connectRedisCluster({ rootNodes: ['redis://127.0.0.1:1'] }, { commandTimeoutMs: 500 }, load),
    ).rejects.toMatchObject({ code: 'WSSUP_STORE_UNAVAILABLE' });
    expect(captured?.defaults).not.toHaveProperty('username');
    expect(captured?.defaults).not.toHaveProperty('password');
    expect(captured?.defaults?.socket).not.toHaveProperty('tls');
  });

  it('{ name, sentinelRootNodes }: the store’s settings on the primary’s connections and on the sentinels’', async () => {
    let captured: { nodeClientOptions?: Settings; sentinelClientOptions?: Settings } | undefined;
    const load = async () => ({
      ...redis,
      createSentinel: (options: Parameters<typeof redis.createSentinel>[0]) => {
        captured = options as typeof captured;
        return redis.createSentinel(options);
      },
    });
    const nodes = { name: 'mymaster', sentinelRootNodes: [{ host: '127.0.0.1', port: 1 }] };
    await expect(connectRedisSentinel(nodes, { commandTimeoutMs: 500 }, load)).rejects.toMatchObject({
      code: 'WSSUP_STORE_UNAVAILABLE',
    });
    const settings = {
      disableOfflineQueue: true,
      pingInterval: 1_000,
      socket: { socketTimeout: 2_000, reconnectStrategy: expect.any(Function) },
    };
    expect(captured?.nodeClientOptions).toMatchObject(settings);
    expect(captured?.sentinelClientOptions).toMatchObject(settings);
  });
});

describe.runIf(hasRedis)(
  'CHANGELOG: the store’s own sentinel client, on a private Redis Sentinel setup',
  () => {
    const sentinel = usePrivateSentinel();

    /** The clients connected to the server on `port`, but the CLIENT LIST asking. */
    const clientsOf = async (port: number) =>
      String(await sentinel.current.command(port, 'CLIENT', 'LIST'))
        .split('\n')
        .filter((line) => line.includes('addr=') && !/ cmd=client\|list /.test(line)).length;

    it('2 connections to the primary (commands, and the order channel’s pub/sub), 1 to a sentinel; none after stop()', async () => {
      const primary = await sentinel.current.primaryPort();
      const [root] = sentinel.current.sentinelRootNodes;
      const sentinelPort = root?.port as number;
      const before = { primary: await clientsOf(primary), sentinel: await clientsOf(sentinelPort) };
      const store = createRedisSlotStore({
        redis: { name: sentinel.current.name, sentinelRootNodes: [...sentinel.current.sentinelRootNodes] },
        keyPrefix: freshPrefix(),
        commandTimeoutMs: 300,
      });
      await store.start({ evictionOrdered() {}, incarnationChanged() {} });
      try {
        // The order channel is subscribed during start(): both connections are there now.
        expect(await store.admit('ann', 'a1', 2, 2)).toMatchObject({ admitted: true });
        expect((await clientsOf(primary)) - before.primary).toBe(2);
        expect((await clientsOf(sentinelPort)) - before.sentinel).toBe(1);
      } finally {
        await store.stop();
      }
      await eventually(async () => (await clientsOf(primary)) === before.primary);
      await eventually(async () => (await clientsOf(sentinelPort)) === before.sentinel);
    });
  },
);
