/**
 * The Redis slot store on a real Redis Sentinel setup (a primary, one replica,
 * one sentinel: test/helpers/redis-sentinel.ts): the app's `createSentinel()`
 * client, and `{ sentinelRootNodes, name }` for the store to create its own.
 * After a failover the primary is at another port; node-redis's sentinel
 * client follows it, and the renew script's run_id check fences the node.
 */
import { createSentinel } from 'redis';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { resolveClusterOptions } from '../../src/cluster/cluster-options.js';
import type { RedisSentinelNodes } from '../../src/cluster/redis-client.js';
import { createRedisSlotStore } from '../../src/cluster/redis-store.js';
import { runProgram } from '../helpers/process.js';
import type { PrivateRedisSentinel } from '../helpers/redis-sentinel.js';
import { httpRefusal } from '../helpers/refusals.js';
import { connect, ioWait, startServer } from '../helpers/server.js';
import {
  eventually,
  freshPrefix,
  hasRedis,
  probeAdmissions,
  startStoreOn,
  usePrivateSentinel,
} from './store-fixture.js';

/** A connected `createSentinel()` client of the app's, destroyed after the test. */
async function appSentinel(setup: PrivateRedisSentinel) {
  const client = createSentinel({
    name: setup.name,
    sentinelRootNodes: [...setup.sentinelRootNodes],
    nodeClientOptions: { disableOfflineQueue: true },
  });
  client.on('error', () => {});
  onTestFinished(() => client.destroy());
  await client.connect();
  return client;
}

describe('Redis slot store options for Redis Sentinel', () => {
  it.each<[string, unknown, string]>([
    ['no sentinels', { name: 'mymaster', sentinelRootNodes: [] }, 'cluster.redis.sentinelRootNodes'],
    [
      'a URL as a sentinel',
      { name: 'mymaster', sentinelRootNodes: ['redis://127.0.0.1:26379'] },
      'cluster.redis.sentinelRootNodes',
    ],
    [
      'a port out of range',
      { name: 'mymaster', sentinelRootNodes: [{ host: 'h', port: 0 }] },
      'cluster.redis.sentinelRootNodes',
    ],
    ['no name', { sentinelRootNodes: [{ host: '127.0.0.1', port: 26379 }] }, 'cluster.redis.name'],
    [
      'an empty name',
      { name: '', sentinelRootNodes: [{ host: '127.0.0.1', port: 26379 }] },
      'cluster.redis.name',
    ],
  ])('refuses %s with WSSUP_INVALID_OPTION naming %s', (_, redis, option) => {
    expect(() => createRedisSlotStore({ redis: redis as RedisSentinelNodes })).toThrow(
      expect.objectContaining({ code: 'WSSUP_INVALID_OPTION', option }),
    );
    expect(() => resolveClusterOptions({ redis })).toThrow(
      expect.objectContaining({ code: 'WSSUP_INVALID_OPTION', option }),
    );
  });

  it('refuses an unknown key beside name and sentinelRootNodes (a typo, or credentials it would ignore)', () => {
    const redis = {
      name: 'mymaster',
      sentinelRootNodes: [{ host: '127.0.0.1', port: 26379 }],
      password: 'x',
    };
    expect(() => resolveClusterOptions({ redis })).toThrow(
      expect.objectContaining({ code: 'WSSUP_INVALID_OPTION', option: 'cluster.redis.password' }),
    );
  });

  it('takes nodeClientOptions and sentinelClientOptions of a username and a password', () => {
    const redis = {
      name: 'mymaster',
      sentinelRootNodes: [{ host: '127.0.0.1', port: 26379 }],
      nodeClientOptions: { username: 'app', password: 'p' },
      sentinelClientOptions: { password: 'q' },
    };
    expect(resolveClusterOptions({ redis }).redis).toEqual(redis);
    expect(() => createRedisSlotStore({ redis })).not.toThrow();
  });

  it.each<[string, unknown, string]>([
    ['a string', 'p', 'cluster.redis.nodeClientOptions'],
    ['null', null, 'cluster.redis.nodeClientOptions'],
    ['a password of a number', { password: 123_456 }, 'cluster.redis.nodeClientOptions.password'],
    ['an empty password', { password: '' }, 'cluster.redis.nodeClientOptions.password'],
    ['an empty username', { username: '', password: 'p' }, 'cluster.redis.nodeClientOptions.username'],
    ['a username of a number', { username: 7 }, 'cluster.redis.nodeClientOptions.username'],
    // Forwarded would be anything the store's settings depend on (the offline queue, timeouts).
    [
      'another client option',
      { disableOfflineQueue: false },
      'cluster.redis.nodeClientOptions.disableOfflineQueue',
    ],
    ['TLS', { socket: { tls: true } }, 'cluster.redis.nodeClientOptions.socket'],
  ])(
    'refuses nodeClientOptions as %s, and sentinelClientOptions alike, with WSSUP_INVALID_OPTION naming the field',
    (_, auth, option) => {
      for (const field of ['nodeClientOptions', 'sentinelClientOptions']) {
        const redis = {
          name: 'mymaster',
          sentinelRootNodes: [{ host: '127.0.0.1', port: 26379 }],
          [field]: auth,
        };
        const named = option.replace('nodeClientOptions', field);
        for (const check of [
          () => resolveClusterOptions({ redis }),
          () => createRedisSlotStore({ redis: redis as RedisSentinelNodes }),
        ]) {
          let thrown: unknown;
          try {
            check();
          } catch (error) {
            thrown = error;
          }
          expect(thrown).toMatchObject({ code: 'WSSUP_INVALID_OPTION', option: named });
          // A refused password is named by its type: the error ends up in logs.
          expect((thrown as Error).message).not.toContain('123456');
          expect(String((thrown as { received: unknown }).received)).not.toContain('123456');
        }
      }
    },
  );
});

describe.runIf(hasRedis)('on a private Redis Sentinel setup (primary, replica, sentinel)', () => {
  const sentinel = usePrivateSentinel();
  const sentinels = () => ({
    name: sentinel.current.name,
    sentinelRootNodes: [...sentinel.current.sentinelRootNodes],
  });

  it('the app’s createSentinel() client: admit, refuse at the limit, release, on the primary', async () => {
    const keyPrefix = freshPrefix();
    const client = await appSentinel(sentinel.current);
    const a = await startStoreOn({ redis: client, keyPrefix, nodeId: 'a' });
    const b = await startStoreOn({ redis: client, keyPrefix, nodeId: 'b' });
    expect(await a.store.admit('ann', 'a1', 2, 2)).toEqual({ admitted: true, evict: [], live: 1 });
    expect(await b.store.admit('ann', 'b1', 2, 2)).toEqual({ admitted: true, evict: [], live: 2 });
    expect(await b.store.admit('ann', 'b2', 2, 2)).toEqual({
      admitted: false,
      reason: 'user-limit',
      live: 2,
    });
    await a.store.release('ann', 'a1');
    expect(await b.store.admit('ann', 'b2', 2, 2)).toEqual({ admitted: true, evict: [], live: 2 });
    // The book is on the primary the sentinel names.
    const primary = await sentinel.current.primaryPort();
    expect(await sentinel.current.command(primary, 'HLEN', `${keyPrefix}:{u:ann}:slots`)).toBe(2);
    // One failure domain (docs/cluster-store.md, "Redis Cluster": shardOf and shards are
    // undefined through Sentinel, where the store answers or fails as one).
    expect(a.store.shardOf('ann')).toBeUndefined();
    expect(a.store.shards()).toBeUndefined();
  });

  it('the store’s own sentinel client ({ name, sentinelRootNodes }): one limit across two nodes, and an eviction order over sharded pub/sub', async () => {
    const keyPrefix = freshPrefix();
    const a = await startStoreOn({ redis: sentinels(), keyPrefix, nodeId: 'a' });
    const b = await startStoreOn({ redis: sentinels(), keyPrefix, nodeId: 'b' });
    expect(await a.store.admit('ann', 'a1', 3, 2)).toEqual({ admitted: true, evict: [], live: 1 });
    await a.store.setIdle('ann', 'a1', Date.now() - 1_000);
    // At evictAt (2) the idle one on node a is named for eviction.
    const order = { connectionId: 'a1', nodeId: 'a', incarnation: a.store.incarnation };
    expect(await b.store.admit('ann', 'b1', 3, 2)).toMatchObject({ admitted: true, evict: [order] });
    await b.store.orderEviction(order);
    await eventually(() => a.orders.length === 1);
    expect(a.orders).toEqual([order]);
    expect(b.orders).toEqual([]);
    // One failure domain, as with the app's client.
    expect(b.store.shardOf('ann')).toBeUndefined();
    expect(b.store.shards()).toBeUndefined();
  });

  it('a name the sentinels do not monitor: start fails with WSSUP_STORE_UNAVAILABLE, and tries again later', async () => {
    const store = createRedisSlotStore({
      redis: { name: 'not-monitored', sentinelRootNodes: [...sentinel.current.sentinelRootNodes] },
      keyPrefix: freshPrefix(),
      commandTimeoutMs: 300,
    });
    onTestFinished(() => store.stop());
    const started = Date.now();
    await expect(store.start({ evictionOrdered() {}, incarnationChanged() {} })).rejects.toMatchObject({
      code: 'WSSUP_STORE_UNAVAILABLE',
    });
    // The connect timeout (1 s), not node-redis's 16 rediscoveries a second apart.
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('the app’s sentinel client, not connected yet: start fails with WSSUP_STORE_UNAVAILABLE, and works once it is', async () => {
    const client = createSentinel({
      name: sentinel.current.name,
      sentinelRootNodes: [...sentinel.current.sentinelRootNodes],
      nodeClientOptions: { disableOfflineQueue: true },
    });
    client.on('error', () => {});
    onTestFinished(() => client.destroy());
    const store = createRedisSlotStore({ redis: client, keyPrefix: freshPrefix(), commandTimeoutMs: 300 });
    onTestFinished(() => store.stop());
    const events = { evictionOrdered() {}, incarnationChanged() {} };
    const refused = await store.start(events).catch((error: unknown) => error);
    expect(refused).toMatchObject({ code: 'WSSUP_STORE_UNAVAILABLE' });
    expect(String((refused as Error).cause)).toMatch(/sentinel client is closed/);
    await client.connect();
    await store.start(events);
    expect(await store.admit('ann', 'a1', 1, 1)).toMatchObject({ admitted: true });
  });

  it('stopped, the store leaves no connection of its own on the primary; the app’s client stays open', async () => {
    const primary = await sentinel.current.primaryPort();
    const names = async () => clientNames(await sentinel.current.command(primary, 'CLIENT', 'LIST'));
    const before = await names();
    const own = createRedisSlotStore({ redis: sentinels(), keyPrefix: freshPrefix(), commandTimeoutMs: 300 });
    await own.start({ evictionOrdered() {}, incarnationChanged() {} });
    // Two connections to the primary: commands, and the order channel's SSUBSCRIBE.
    expect((await names()).length - before.length).toBe(2);
    await own.stop();
    await eventually(async () => (await names()).length === before.length);

    const client = await appSentinel(sentinel.current);
    const withApp = await names();
    const borrowing = createRedisSlotStore({
      redis: client,
      keyPrefix: freshPrefix(),
      commandTimeoutMs: 300,
    });
    const readyListeners = client.listenerCount('ready');
    await borrowing.start({ evictionOrdered() {}, incarnationChanged() {} });
    expect(client.listenerCount('ready')).toBe(readyListeners + 1); // reconnects, told as `reconnected`
    await borrowing.stop();
    expect(client.listenerCount('ready')).toBe(readyListeners);
    await eventually(async () => (await names()).length === withApp.length);
    expect(await client.sendCommand(false, ['PING'])).toBe('PONG');
  });

  it('two supervisors on it, and the reference server with --redis-sentinel: one limit across them, refusals are 429', async () => {
    const keyPrefix = freshPrefix();
    const startNode = async (nodeId: string) => {
      const t = await startServer({
        cluster: {
          redis: sentinels(),
          nodeId,
          keyPrefix,
          commandTimeoutMs: 300,
          onStoreUnavailable: 'reject',
        },
      });
      await vi.waitFor(() => expect(t.supervisor.stats().cluster?.leaseHeld).toBe(true), ioWait);
      return t;
    };
    const a = await startNode('a');
    const b = await startNode('b');
    for (let i = 0; i < 5; i++) await connect((i % 2 === 0 ? a : b).url('ann'));
    for (const node of [a, b]) expect((await httpRefusal(node.url('ann'))).status).toBe(429);
    const primary = await sentinel.current.primaryPort();
    expect(await sentinel.current.command(primary, 'HLEN', `${keyPrefix}:{u:ann}:slots`)).toBe(5);

    const [root] = sentinel.current.sentinelRootNodes;
    const program = runProgram('dist/examples/reference-server/main.js', [
      '--preset',
      'test',
      '--redis-sentinel',
      `${sentinel.current.name}@${root?.host}:${root?.port}`,
      '--node-id',
      'ref-1',
    ]);
    const [, url] = (await program.waitFor(/listening on (ws:\/\/\S+)/)) as RegExpMatchArray;
    const ws = await connect(`${url}/?user=bob`);
    await vi.waitFor(
      async () => expect(await sentinel.current.command(primary, 'HLEN', 'wssup:{u:bob}:slots')).toBe(1),
      ioWait,
    );
    ws.close();
    await vi.waitFor(
      async () => expect(await sentinel.current.command(primary, 'HLEN', 'wssup:{u:bob}:slots')).toBe(0),
      ioWait,
    );
    program.child.kill('SIGTERM');
    expect(await program.exited).toBe(0);
  });

  // Last: it kills the primary, and the replica it promotes has no replica of its own.
  it('kill -9 the primary: the sentinel promotes the replica at another port; the node is fenced (failover), books again what it holds, and admits on the new primary', async () => {
    const keyPrefix = freshPrefix();
    const store = createRedisSlotStore({ redis: sentinels(), keyPrefix, nodeId: 'a', commandTimeoutMs: 300 });
    onTestFinished(() => store.stop());
    const other = await startStoreOn({ redis: sentinels(), keyPrefix, nodeId: 'b' });
    const changes: Array<{ incarnation: number; previous: number; cause: string | undefined }> = [];
    const orders: unknown[] = [];
    let reconnects = 0;
    await store.start({
      evictionOrdered: (order) => orders.push(order),
      incarnationChanged: (incarnation, previous, cause) => changes.push({ incarnation, previous, cause }),
      reconnected: () => {
        reconnects += 1;
      },
    });
    const first = store.incarnation;
    expect(await store.admit('ann', 'a1', 3, 3)).toMatchObject({ admitted: true });
    expect(await store.renew()).toBe('renewed');
    const oldPrimary = await sentinel.current.primaryPort();
    // And a supervisor with a live socket, whose runtime renews every 300 ms.
    const server = await startServer({
      cluster: { redis: sentinels(), nodeId: 's', keyPrefix, leaseTtlMs: 900, commandTimeoutMs: 300 },
    });
    await vi.waitFor(() => expect(server.supervisor.stats().cluster?.leaseHeld).toBe(true), ioWait);
    await connect(server.url('sue'));
    const serverIncarnation = server.supervisor.stats().cluster?.incarnation;
    expect(await sentinel.current.command(oldPrimary, 'HLEN', `${keyPrefix}:{u:sue}:slots`)).toBe(1);

    // Meanwhile, admissions go on: none may hang (no queue), each fails with
    // WSSUP_STORE_UNAVAILABLE (the outage policy's business) or is answered.
    const probe = probeAdmissions(store);
    expect(reconnects).toBe(0); // not for the first connect
    const newPrimary = await sentinel.current.failover();
    expect(newPrimary).not.toBe(oldPrimary);
    // The sentinel client's 'ready' on the new primary: the runtime would renew at once.
    await eventually(() => reconnects > 0, 15_000);
    // node-redis follows the sentinels to the new primary in the background; the
    // renew script there reads another run_id: a failover, fenced. (Until then this store's
    // admissions there may be refused: once the supervisor has renewed there, the server key
    // names the new primary, and this store's last renewal saw the old one.)
    await eventually(async () => (await store.renew().catch(() => 'failed')) === 'lost', 15_000);
    expect(store.incarnation).toBeGreaterThan(first);
    expect(changes).toEqual([{ incarnation: store.incarnation, previous: first, cause: 'failover' }]);
    await eventually(() => probe.outcomes.at(-1)?.code === 'admitted', 10_000);
    await probe.stop();
    expect(new Set(probe.outcomes.map((outcome) => outcome.code))).toEqual(
      new Set(['WSSUP_STORE_UNAVAILABLE', 'admitted']),
    );
    // The deadline is 300 ms (375 with the watchdog's quarter); a hang would last the whole failover.
    expect(Math.max(...probe.outcomes.map((outcome) => outcome.ms))).toBeLessThan(1_000);
    expect(
      await store.readmit(
        [{ userId: 'ann', connectionId: 'a1', admittedAt: Date.now(), idleSince: undefined }],
        3,
      ),
    ).toEqual([]);
    expect(await store.admit('ann', 'a2', 3, 3)).toMatchObject({ admitted: true, live: 2 });
    expect(await sentinel.current.command(newPrimary, 'HLEN', `${keyPrefix}:{u:ann}:slots`)).toBe(2);
    expect(await store.renew()).toBe('renewed');
    expect(changes).toHaveLength(1);

    // The supervisor's runtime fenced itself and booked its socket again on the new primary, on its own.
    await vi.waitFor(
      async () => {
        const incarnation = server.supervisor.stats().cluster?.incarnation;
        expect(incarnation).not.toBe(serverIncarnation);
        // One entry (`<incarnation>|…`), under the new incarnation: not the replicated old one.
        const entries = await sentinel.current.command(newPrimary, 'HVALS', `${keyPrefix}:{u:sue}:slots`);
        expect(entries).toEqual([expect.stringMatching(new RegExp(`^${incarnation}\\|`))]);
        expect(server.supervisor.stats().cluster).toMatchObject({ leaseHeld: true, unsynced: 0 });
      },
      { timeout: 15_000, interval: 50 },
    );

    // The other node follows too, and its eviction orders reach this one's new subscription.
    await eventually(async () => (await other.store.renew().catch(() => 'failed')) !== 'failed', 15_000);
    const order = { connectionId: 'a1', nodeId: 'a', incarnation: store.incarnation };
    await eventually(async () => {
      await other.store.orderEviction(order).catch(() => {});
      return orders.length > 0;
    }, 10_000);
    expect(orders[0]).toEqual(order);
  }, 45_000);
});

/** The client names (or addresses) in CLIENT LIST's text, but this helper's own connection. */
function clientNames(list: unknown): string[] {
  return String(list)
    .split('\n')
    .filter((line) => line.includes('addr=') && !/ cmd=client\|list /.test(line));
}
