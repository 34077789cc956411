/**
 * A Redis Cluster whose masters fail apart: one master that stops answering
 * (SIGSTOP) refuses only the commands routed to it, as each master's commands
 * have deadlines of their own (src/cluster/redis-master-deadlines.ts); the
 * users on the other masters and the lease renewal are answered all along.
 * And `shardOf(userId)`, the failure domain the runtime keeps a circuit
 * breaker for: the `host:port` of the master of the user's book, by the
 * client's topology, also after a failover.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createCluster } from 'redis';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { type CountingClock, createCountingClock } from '../../src/clock.js';
import { borrowRedis, connectRedisCluster } from '../../src/cluster/redis-client.js';
import { createKeyLayout } from '../../src/cluster/redis-keys.js';
import {
  type ClusterMaster,
  type ClusterReplica,
  type PrivateRedisCluster,
  startRedisCluster,
} from '../helpers/redis-cluster.js';
import { httpRefusal } from '../helpers/refusals.js';
import { closed, connect, ioWait, startServer } from '../helpers/server.js';
import { keyOffMasters } from './cluster-failover-fixture.js';
import { formedAhead } from './formed-ahead.js';
import {
  appClusterClient,
  eventually,
  freshPrefix,
  hasRedis,
  startStoreOn,
  usePrivateCluster,
  usePrivateRedis,
  withoutSlotMaster,
} from './store-fixture.js';

const address = (port: number) => `127.0.0.1:${port}`;

/** The first user (user0, user1, …) whose book's master is on `port`. */
async function userOn(cluster: PrivateRedisCluster, keyPrefix: string, port: number): Promise<string> {
  const keys = createKeyLayout(keyPrefix);
  for (let i = 0; i < 200; i++) {
    if ((await cluster.masterOf(keys.user(`user${i}`))).port === port) return `user${i}`;
  }
  throw new Error(`no user on the master on port ${port}`);
}

/**
 * The clusters of the last describe blocks' tests, each of its own: formed while the tests before
 * them run (formed-ahead.ts), as a cluster takes seconds to form, mostly waiting on its gossip.
 * 'plain': three masters; 'failover': and a replica of the master of a user's book (not the
 * registry's master).
 */
type Kind = 'plain' | 'failover';
interface Formed {
  cluster: PrivateRedisCluster;
  keys: ReturnType<typeof createKeyLayout>;
  /** With 'failover': the user, the master of its book and that master's replica. */
  book?: { ann: string; master: ClusterMaster; replica: ClusterReplica };
}

async function form(kind: Kind): Promise<Formed> {
  const cluster = await startRedisCluster();
  try {
    const keys = createKeyLayout(freshPrefix());
    if (kind === 'plain') return { cluster, keys };
    const registry = await cluster.masterOf(keys.registry.leases);
    const { index, master } = await keyOffMasters(cluster, (i) => keys.user(`user${i}`), [registry.port]);
    const replica = await cluster.addReplica(master.port);
    return { cluster, keys, book: { ann: `user${index}`, master, replica } };
  } catch (error) {
    await cluster.stop();
    throw error;
  }
}

const formed = formedAhead<Kind, Formed>({
  plan: ['plain', 'failover'],
  make: form,
  stop: (f) => f.cluster.stop(),
});

describe.runIf(hasRedis)('one master of a private 3-master Redis Cluster stops answering', () => {
  const cluster = usePrivateCluster();

  it('its users fail (at once or by the deadline); the others and the lease renewal are answered all along; its users again after it resumes', async () => {
    const keyPrefix = freshPrefix();
    const keys = createKeyLayout(keyPrefix);
    const a = await startStoreOn({
      redis: { rootNodes: [...cluster.current.urls] },
      keyPrefix,
      nodeId: 'a',
      commandTimeoutMs: 200,
    });
    // Not the registry's master: the renewals must be answered.
    const registry = (await cluster.current.masterOf(keys.registry.leases)).port;
    const stuck = cluster.current.masters.find((m) => m.port !== registry);
    if (stuck === undefined) throw new Error('no master but the registry’s');
    const others = cluster.current.masters.filter((m) => m !== stuck);
    const ann = await userOn(cluster.current, keyPrefix, stuck.port);
    const bobs = await Promise.all(others.map((m) => userOn(cluster.current, keyPrefix, m.port)));

    cluster.current.pause(stuck.port);
    onTestFinished(() => cluster.current.resume(stuck.port));
    await expect(a.store.admit(ann, 'a0', 100, 100)).rejects.toMatchObject({
      code: 'WSSUP_STORE_UNAVAILABLE',
    });
    // ann's command is overdue now. Past the moment its silent socket is dropped (4
    // command timeouts, at least 1 s) and its reconnects fail: every answer for the
    // others is an admission, every one for ann a refusal, and the renewals renew.
    const until = Date.now() + 1_500;
    for (let i = 1; Date.now() < until; i++) {
      for (const bob of bobs) {
        expect(await a.store.admit(bob, `b${i}`, 100, 100)).toMatchObject({ admitted: true });
      }
      await expect(a.store.admit(ann, `a${i}`, 100, 100)).rejects.toMatchObject({
        code: 'WSSUP_STORE_UNAVAILABLE',
      });
      if (i % 3 === 0) expect(await a.store.renew()).toBe('renewed');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    cluster.current.resume(stuck.port);
    await eventually(
      async () => (await a.store.admit(ann, 'a-back', 100, 100).catch(() => undefined))?.admitted === true,
      5_000,
    );
    expect(await a.store.renew()).toBe('renewed');
  });

  it("through a supervisor ('reject'): the stuck master's users are refused (503) and only its breaker opens; the others' upgrades open all along", async () => {
    const keyPrefix = freshPrefix();
    const keys = createKeyLayout(keyPrefix);
    const t = await startServer({
      cluster: {
        redis: { rootNodes: [...cluster.current.urls] },
        nodeId: 'a',
        keyPrefix,
        leaseTtlMs: 3_000,
        commandTimeoutMs: 200,
        onStoreUnavailable: 'reject',
      },
    });
    await vi.waitFor(() => expect(t.supervisor.stats().cluster?.leaseHeld).toBe(true), ioWait);
    const registry = (await cluster.current.masterOf(keys.registry.leases)).port;
    const stuck = cluster.current.masters.find((m) => m.port !== registry);
    if (stuck === undefined) throw new Error('no master but the registry’s');
    const ann = await userOn(cluster.current, keyPrefix, stuck.port);
    const bob = await userOn(cluster.current, keyPrefix, registry);

    cluster.current.pause(stuck.port);
    onTestFinished(() => cluster.current.resume(stuck.port));
    // Past the socket's drop (1 s) and the breaker's opening (3 failures).
    const until = Date.now() + 1_500;
    while (Date.now() < until) {
      expect((await httpRefusal(t.url(ann))).status).toBe(503);
      const ws = await connect(t.url(bob));
      ws.close();
      await closed(ws);
    }
    expect(t.supervisor.stats().cluster).toMatchObject({
      breaker: 'closed',
      unavailableShards: [address(stuck.port)],
    });
    expect(t.supervisor.stats().admission).toEqual({ admitting: true, reason: null });
    t.errors.splice(0); // the stuck master's WSSUP_STORE_UNAVAILABLE reports

    cluster.current.resume(stuck.port);
    await vi.waitFor(async () => {
      const ws = await connect(t.url(ann));
      ws.close();
    }, ioWait);
    await vi.waitFor(() => expect(t.supervisor.stats().cluster?.unavailableShards).toEqual([]), ioWait);
  });

  it('through a supervisor: its reaper failing on the stuck master (a dead node’s user there) does not cost the node its lease', async () => {
    const keyPrefix = freshPrefix();
    const keys = createKeyLayout(keyPrefix);
    const registry = (await cluster.current.masterOf(keys.registry.leases)).port;
    const stuck = cluster.current.masters.find((m) => m.port !== registry);
    if (stuck === undefined) throw new Error('no master but the registry’s');
    const ann = await userOn(cluster.current, keyPrefix, stuck.port);
    // A node that dies with ann booked: its lease is ended below, once the master is stuck.
    const dead = await startStoreOn({
      redis: { rootNodes: [...cluster.current.urls] },
      keyPrefix,
      nodeId: 'dead',
    });
    expect(await dead.store.admit(ann, 'd-1', 3, 3)).toMatchObject({ admitted: true });
    const t = await startServer({
      cluster: {
        redis: { rootNodes: [...cluster.current.urls] },
        nodeId: 'a',
        keyPrefix,
        leaseTtlMs: 3_000,
        // A reaper more frequent than the renewals (every second here).
        reaperIntervalMs: 100,
        commandTimeoutMs: 200,
      },
    });
    await vi.waitFor(() => expect(t.supervisor.stats().cluster?.leaseHeld).toBe(true), ioWait);

    cluster.current.pause(stuck.port);
    onTestFinished(() => cluster.current.resume(stuck.port));
    await cluster.current.command(
      registry,
      'ZADD',
      keys.registry.leases,
      'XX',
      '1',
      String(dead.store.incarnation),
    );
    // Longer than the lease (3 s): every pass of the reaper fails at ann's book. The renewals,
    // on the registry's master, are answered all along: the lease must stay held.
    const until = Date.now() + 4_000;
    while (Date.now() < until) {
      expect(t.supervisor.stats().cluster).toMatchObject({ leaseHeld: true, breaker: 'closed' });
      await sleep(20);
    }
    expect(t.errors.some((error) => error.code === 'WSSUP_STORE_UNAVAILABLE')).toBe(true);
    // Back, the master's dead entry is reaped by a later pass.
    cluster.current.resume(stuck.port);
    await vi.waitFor(
      async () => expect(await cluster.current.command(stuck.port, 'EXISTS', keys.user(ann))).toBe(0),
      { timeout: 10_000, interval: 100 },
    );
    t.errors.splice(0); // the reaper's WSSUP_STORE_UNAVAILABLE reports
  });

  it('shardOf names the master of the user’s book (host:port), with the store’s own client and the app’s', async () => {
    const keyPrefix = freshPrefix();
    const users = await Promise.all(
      cluster.current.masters.map((m) => userOn(cluster.current, keyPrefix, m.port)),
    );
    const own = await startStoreOn({
      redis: { rootNodes: [...cluster.current.urls] },
      keyPrefix,
      nodeId: 'a',
    });
    const app = createCluster({
      rootNodes: [{ url: cluster.current.urls[0] as string }],
      defaults: { disableOfflineQueue: true },
    });
    app.on('error', () => {});
    await app.connect();
    onTestFinished(() => app.destroy());
    const borrowed = await startStoreOn({ redis: app, keyPrefix, nodeId: 'b' });
    const keys = createKeyLayout(keyPrefix);
    const expected = await Promise.all(
      users.map(async (user) => address((await cluster.current.masterOf(keys.user(user))).port)),
    );
    for (const { store } of [own, borrowed]) {
      const shards = users.map((user) => store.shardOf(user));
      expect(shards).toEqual(expected);
      expect(new Set(shards).size).toBe(3);
      expect([...(store.shards() ?? [])].sort()).toEqual([...expected].sort());
      // Another user on the first one's master: the same shard.
      const [first] = cluster.current.masters;
      const another = await (async () => {
        for (let i = 0; i < 400; i++) {
          const user = `other${i}`;
          if ((await cluster.current.masterOf(keys.user(user))).port === first?.port) return user;
        }
        throw new Error('no other user on the first master');
      })();
      expect(store.shardOf(another)).toBe(store.shardOf(users[0] as string));
    }
  });

  it('its connection keeps one deadline list per master it sent to, and none once closed', async () => {
    const keys = createKeyLayout(freshPrefix());
    const users = await Promise.all(
      cluster.current.masters.map((m) => userOn(cluster.current, keys.prefix, m.port)),
    );
    const clock: CountingClock = createCountingClock();
    const connection = await connectRedisCluster(
      { rootNodes: [...cluster.current.urls] },
      { commandTimeoutMs: 200, clock },
    );
    let closed = false;
    onTestFinished(async () => {
      if (!closed) await connection.close();
    });
    expect(connection.liveDeadlines()).toEqual(['*']);
    await Promise.all(users.map((user) => connection.command(['HVALS', keys.user(user)])));
    const masters = cluster.current.masters.map((m) => address(m.port));
    expect([...connection.liveDeadlines()].sort()).toEqual(['*', ...masters].sort());
    expect(users.map((user) => connection.shardOf(keys.user(user)))).toEqual(masters);

    // One stuck: its command overdue, the others answered at once, then all closed.
    const [stuck] = cluster.current.masters;
    if (stuck === undefined) throw new Error('no master');
    cluster.current.pause(stuck.port);
    onTestFinished(() => cluster.current.resume(stuck.port));
    await expect(connection.command(['HVALS', keys.user(users[0] as string)])).rejects.toMatchObject({
      code: 'WSSUP_STORE_UNAVAILABLE',
    });
    for (const user of users.slice(1))
      expect(await connection.command(['HVALS', keys.user(user)])).toEqual([]);
    await connection.close();
    closed = true;
    expect(connection.liveDeadlines()).toEqual([]);
    expect(clock.pending).toBe(0);
    await expect(connection.command(['HVALS', keys.user(users[1] as string)])).rejects.toMatchObject({
      code: 'WSSUP_STORE_UNAVAILABLE',
    });
  });
});

describe.runIf(hasRedis)('a cluster client without getSlotMaster (optional in RedisClusterLike)', () => {
  it('keeps one store-wide deadline list, as before per-master ones, and names no shard', async () => {
    const { cluster, keys } = await formed('plain');
    const client = withoutSlotMaster(await appClusterClient([cluster.urls[0] as string]));
    const connection = borrowRedis(client, { commandTimeoutMs: 300 });
    onTestFinished(() => connection.close());
    const key = keys.user('ann');
    expect(await connection.command(['HVALS', key])).toEqual([]);
    expect(await connection.checkMasters()).toHaveLength(3);
    expect(connection.shardOf(key)).toBeUndefined();
    expect(connection.shards()).toBeUndefined();
    expect(connection.liveDeadlines()).toEqual(['*']);
  });
});

describe.runIf(hasRedis)('shardOf on a single Redis', () => {
  const redis = usePrivateRedis();

  it('is undefined: the store answers or fails as one', async () => {
    const a = await startStoreOn({ redis: redis.current.url, keyPrefix: freshPrefix(), nodeId: 'a' });
    expect(a.store.shardOf('ann')).toBeUndefined();
    expect(a.store.shards()).toBeUndefined();
  });
});

describe.runIf(hasRedis)('shardOf through a failover', () => {
  it('names the promoted replica once the client has learned the new topology; the old master’s deadlines are pruned at the next check', async () => {
    const { cluster, keys, book: formedBook } = await formed('failover');
    const { ann, replica, ...book } = formedBook as NonNullable<typeof formedBook>;
    const a = await startStoreOn({
      redis: { rootNodes: [...cluster.urls] },
      keyPrefix: keys.prefix,
      nodeId: 'a',
    });
    expect(a.store.shardOf(ann)).toBe(address(book.master.port));
    const connection = await connectRedisCluster({ rootNodes: [...cluster.urls] }, { commandTimeoutMs: 300 });
    onTestFinished(() => connection.close());
    await connection.command(['HVALS', keys.user(ann)]);
    expect(connection.liveDeadlines()).toContain(address(book.master.port));

    await cluster.failover(replica.port, 'TAKEOVER');
    // Commands to ann's slot meet MOVED, and the client reads the new layout.
    await eventually(async () => {
      await a.store.admit(ann, `a${Date.now()}`, 100, 100).catch(() => undefined);
      return a.store.shardOf(ann) === address(replica.port);
    }, 12_000);
    await eventually(async () => {
      await connection.command(['HVALS', keys.user(ann)]).catch(() => undefined);
      return connection.shardOf(keys.user(ann)) === address(replica.port);
    }, 12_000);
    expect(a.store.shards()).toContain(address(replica.port));
    expect(a.store.shards()).not.toContain(address(book.master.port));
    await connection.checkMasters();
    expect(connection.liveDeadlines()).toContain(address(replica.port));
    expect(connection.liveDeadlines()).not.toContain(address(book.master.port));
  });
});
