/**
 * The Redis slot store on a real Redis Cluster (three masters, no replicas):
 * the store's own cluster client (`{ rootNodes }`) and the app's
 * (`createCluster()`), for users whose books live on masters other than the
 * registry's, as node-redis routes each command by its key. The rules are the
 * ones store.test.ts and store-lease.test.ts check on a single Redis; here
 * they must hold with one lifecycle's commands spread over two masters.
 */
import { createCluster } from 'redis';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import { clusterRoutingKey, type RedisClusterLike } from '../../src/cluster/redis-client.js';
import { scripts } from '../../src/cluster/redis-scripts.js';
import { createRedisSlotStore } from '../../src/cluster/redis-store.js';
import { runProgram } from '../helpers/process.js';
import type { PrivateRedisCluster } from '../helpers/redis-cluster.js';
import { freePort } from '../helpers/redis-server.js';
import { httpRefusal } from '../helpers/refusals.js';
import { closed, connect, ioWait, startServer, type TestServer } from '../helpers/server.js';
import { eventually, freshPrefix, hasRedis, startStoreOn, usePrivateCluster } from './store-fixture.js';

/**
 * Two user ids whose books live on two different masters, neither the registry's
 * (asked of the cluster, CLUSTER KEYSLOT then CLUSTER NODES, not assumed).
 */
async function usersApart(cluster: PrivateRedisCluster, keyPrefix: string): Promise<[string, string]> {
  const registry = (await cluster.masterOf(`${keyPrefix}:{nodes}:leases`)).port;
  const found = new Map<number, string>();
  for (let i = 0; found.size < 2 && i < 200; i++) {
    const port = (await cluster.masterOf(`${keyPrefix}:{u:user${i}}:slots`)).port;
    if (port !== registry && !found.has(port)) found.set(port, `user${i}`);
  }
  const users = [...found.values()];
  if (users.length < 2) throw new Error('no two users on two masters other than the registry’s');
  return users as [string, string];
}

describe('Redis slot store options for a Redis Cluster', () => {
  it.each<[string, unknown, string]>([
    ['no root nodes', { rootNodes: [] }, 'cluster.redis.rootNodes'],
    ['an http root node', { rootNodes: ['http://127.0.0.1:7000'] }, 'cluster.redis.rootNodes'],
    ['root nodes of two schemes', { rootNodes: ['redis://a:1', 'rediss://b:2'] }, 'cluster.redis.rootNodes'],
    ['a client without duplicate', { sendCommand: async () => 'OK' }, 'cluster.redis'],
    ['a cluster client without sendCommand', { nodeClient: async () => ({}), masters: [] }, 'cluster.redis'],
  ])('refuses %s with WSSUP_INVALID_OPTION naming %s', (_, redis, option) => {
    expect(() => createRedisSlotStore({ redis: redis as RedisClusterLike })).toThrow(
      expect.objectContaining({ code: 'WSSUP_INVALID_OPTION', option }),
    );
  });
});

describe.runIf(hasRedis)('on a private 3-master Redis Cluster', () => {
  const cluster = usePrivateCluster();
  const rootNodes = () => ({ rootNodes: [...cluster.current.urls] });

  it('one limit per user across two nodes, for users on two other masters than the registry’s: admit, refuse, release', async () => {
    const keyPrefix = freshPrefix();
    const [ann, bob] = await usersApart(cluster.current, keyPrefix);
    const a = await startStoreOn({ redis: rootNodes(), keyPrefix, nodeId: 'a' });
    const b = await startStoreOn({ redis: rootNodes(), keyPrefix, nodeId: 'b' });
    expect(await a.store.admit(ann, 'a1', 3, 3)).toEqual({ admitted: true, evict: [], live: 1 });
    expect(await b.store.admit(ann, 'b1', 3, 3)).toEqual({ admitted: true, evict: [], live: 2 });
    expect(await a.store.admit(ann, 'a2', 3, 3)).toEqual({ admitted: true, evict: [], live: 3 });
    expect(await b.store.admit(ann, 'b2', 3, 3)).toEqual({ admitted: false, reason: 'user-limit', live: 3 });
    // bob's book is on another master: his own limit.
    for (const id of ['b3', 'b4', 'b5'])
      expect(await b.store.admit(bob, id, 3, 3)).toMatchObject({ admitted: true });
    expect(await a.store.admit(bob, 'a3', 3, 3)).toMatchObject({ admitted: false, reason: 'user-limit' });
    expect(await b.store.userBook(ann)).toEqual({ userId: ann, live: 3, idle: 0, byNode: { a: 2, b: 1 } });

    await a.store.release(ann, 'a1');
    expect(await b.store.admit(ann, 'b2', 3, 3)).toEqual({ admitted: true, evict: [], live: 3 });
    // The books really are on the masters CLUSTER NODES names.
    const annMaster = await cluster.current.masterOf(`${keyPrefix}:{u:${ann}}:slots`);
    expect(await cluster.current.command(annMaster.port, 'HLEN', `${keyPrefix}:{u:${ann}}:slots`)).toBe(3);
    const view = await a.store.view();
    expect(view).toMatchObject({ users: 2, connections: 6 });
    expect(view.nodes.map((node) => node.nodeId).sort()).toEqual(['a', 'b']);
  });

  it('idle marking, and an eviction order from one node to the other over sharded pub/sub', async () => {
    const keyPrefix = freshPrefix();
    const [ann] = await usersApart(cluster.current, keyPrefix);
    const a = await startStoreOn({ redis: rootNodes(), keyPrefix, nodeId: 'a' });
    const b = await startStoreOn({ redis: rootNodes(), keyPrefix, nodeId: 'b' });
    await a.store.admit(ann, 'a1', 5, 4);
    await a.store.admit(ann, 'a2', 5, 4);
    await b.store.admit(ann, 'b1', 5, 4);
    await a.store.setIdle(ann, 'a1', Date.now() - 2_000);
    await a.store.setIdle(ann, 'a2', Date.now() - 3_000); // the longest idle
    await b.store.setIdle(ann, 'b1', Date.now() - 1_000);
    expect(await b.store.userBook(ann)).toMatchObject({ live: 3, idle: 3 });
    await b.store.setIdle(ann, 'b1', undefined); // live again
    expect(await b.store.userBook(ann)).toMatchObject({ live: 3, idle: 2 });

    const admission = await b.store.admit(ann, 'b2', 5, 4);
    const order = {
      connectionId: 'a2',
      nodeId: 'a',
      incarnation: a.store.incarnation,
      cause: 'idle' as const,
    };
    expect(admission).toEqual({ admitted: true, evict: [order], live: 3 });
    await b.store.orderEviction(order);
    await eventually(() => a.orders.length === 1);
    expect(a.orders).toEqual([order]);
    expect(b.orders).toEqual([]);
  });

  it('an idle edge at T names the longest idle entry on the user’s own master (one slot), and its order reaches the other node', async () => {
    const keyPrefix = freshPrefix();
    const [ann] = await usersApart(cluster.current, keyPrefix);
    const a = await startStoreOn({ redis: rootNodes(), keyPrefix, nodeId: 'a' });
    const b = await startStoreOn({ redis: rootNodes(), keyPrefix, nodeId: 'b' });
    // limit 3, T 3: all admitted live, so no admission evicts.
    for (const [node, id] of [
      [a, 'a1'],
      [a, 'a2'],
      [b, 'b1'],
    ] as const)
      await node.store.admit(ann, id, 3, 3);
    // Marked without evictAt (as a caller written before it): nothing judged.
    expect(await a.store.setIdle(ann, 'a1', Date.now() - 3_000)).toEqual([]);
    expect(await a.store.setIdle(ann, 'a2', Date.now() - 2_000)).toEqual([]);
    // b1's idle edge at T: the longest idle, a1 on node a, goes (one only: then 2 < T).
    const orders = await b.store.setIdle(ann, 'b1', Date.now() - 1_000, 3);
    const order = {
      connectionId: 'a1',
      nodeId: 'a',
      incarnation: a.store.incarnation,
      cause: 'idle' as const,
    };
    expect(orders).toEqual([order]);
    expect(await b.store.userBook(ann)).toMatchObject({ live: 3, idle: 2 });
    await b.store.orderEviction(order);
    await eventually(() => a.orders.length === 1);
    expect(a.orders).toEqual([order]);
  });

  it('renews the lease on the registry’s master, again and again (its INFO run_id stays the same: no false failover)', async () => {
    const keyPrefix = freshPrefix();
    const a = await startStoreOn({ redis: rootNodes(), keyPrefix, nodeId: 'a' });
    const incarnation = a.store.incarnation;
    for (let i = 0; i < 5; i++) expect(await a.store.renew()).toBe('renewed');
    expect(a.store.incarnation).toBe(incarnation);
    expect(a.incarnations).toEqual([]);
  });

  // One restart of ann's master for both what a renewal sees (the fence) and what the
  // connection tells (`reconnected`): a master restarted empty is both.
  it('a user’s master restarted empty (its run_id changes): its connection ready again (node-ready) tells `reconnected` (the first connects never do), the next renewals fence, as for a failover, and the node books again', async () => {
    const keyPrefix = freshPrefix();
    const [ann] = await usersApart(cluster.current, keyPrefix);
    const a = await startStoreOn({ redis: rootNodes(), keyPrefix, nodeId: 'a', commandTimeoutMs: 300 });
    const first = a.store.incarnation;
    await a.store.admit(ann, 'a1', 3, 3);
    expect(await a.store.renew()).toBe('renewed'); // the masters' run_ids are known from here
    expect(a.reconnects).toBe(0);

    // ann's book is lost with her master's data; the registry (on another master) keeps the lease.
    const master = await cluster.current.masterOf(`${keyPrefix}:{u:${ann}}:slots`);
    await cluster.current.restart(master.port);
    expect(await cluster.current.command(master.port, 'EXISTS', `${keyPrefix}:{u:${ann}}:slots`)).toBe(0);
    // The client reconnects to it in the background; until then a renewal cannot see it.
    await eventually(() => a.reconnects > 0, 10_000);
    // The renewal it asks for finds the replaced master (another run_id): fenced at once.
    await eventually(async () => (await a.store.renew().catch(() => 'failed')) === 'lost', 10_000);
    expect(a.store.incarnation).toBeGreaterThan(first);
    expect(a.incarnations).toEqual([{ incarnation: a.store.incarnation, previous: first }]);
    expect(a.causes).toEqual(['failover']);
    expect(
      await a.store.readmit(
        [{ userId: ann, connectionId: 'a1', admittedAt: Date.now(), idleSince: undefined }],
        3,
      ),
    ).toEqual([]);
    expect(await a.store.userBook(ann)).toEqual({ userId: ann, live: 1, idle: 0, byNode: { a: 1 } });
    // Fenced once: later renewals renew.
    expect(await a.store.renew()).toBe('renewed');
    expect(a.incarnations).toHaveLength(1);
  });

  it("an app's own cluster client: one 'node-ready' listener while started, none left after stop", async () => {
    const own = createCluster({
      rootNodes: [{ url: cluster.current.urls[0] as string }],
      defaults: { disableOfflineQueue: true },
    });
    own.on('error', () => {});
    await own.connect();
    onTestFinished(() => own.destroy());
    const before = own.listenerCount('node-ready');
    const a = await startStoreOn({ redis: own, keyPrefix: freshPrefix(), nodeId: 'a' });
    expect(own.listenerCount('node-ready')).toBe(before + 1);
    await a.store.stop();
    expect(own.listenerCount('node-ready')).toBe(before);
    expect(a.reconnects).toBe(0);
  });

  it('a master that stops answering: its users’ admissions fail at once or by the deadline (no queue), the others’ are answered all along', async () => {
    const keyPrefix = freshPrefix();
    const [ann, bob] = await usersApart(cluster.current, keyPrefix);
    const a = await startStoreOn({ redis: rootNodes(), keyPrefix, nodeId: 'a', commandTimeoutMs: 200 });
    const master = await cluster.current.masterOf(`${keyPrefix}:{u:${ann}}:slots`);
    cluster.current.pause(master.port);
    onTestFinished(() => cluster.current.resume(master.port));
    await expect(a.store.admit(ann, 'a1', 3, 3)).rejects.toMatchObject({ code: 'WSSUP_STORE_UNAVAILABLE' });
    // ann's command is overdue, on ann's master only (its deadlines are its own): bob's master answers.
    expect(await a.store.admit(bob, 'b1', 3, 3)).toMatchObject({ admitted: true });
    await expect(a.store.admit(ann, 'a2', 3, 3)).rejects.toMatchObject({ code: 'WSSUP_STORE_UNAVAILABLE' });
    expect(await a.store.admit(bob, 'b2', 3, 3)).toMatchObject({ admitted: true });
    cluster.current.resume(master.port);
    await eventually(
      async () => (await a.store.admit(ann, 'a3', 3, 3).catch(() => undefined))?.admitted === true,
      5_000,
    );
  });

  it('reaps a dead node’s slots on every master its users live on', async () => {
    const keyPrefix = freshPrefix();
    const [ann, bob] = await usersApart(cluster.current, keyPrefix);
    const dead = await startStoreOn({ redis: rootNodes(), keyPrefix, nodeId: 'dead' });
    const live = await startStoreOn({ redis: rootNodes(), keyPrefix, nodeId: 'live' });
    for (const user of [ann, bob]) {
      await dead.store.admit(user, `d-${user}-1`, 2, 2);
      await dead.store.admit(user, `d-${user}-2`, 2, 2);
      expect(await live.store.admit(user, `l-${user}`, 2, 2)).toMatchObject({ admitted: false });
    }
    // The dead node's lease ends at once (docs/cluster-store.md), on the registry's master.
    const registry = await cluster.current.masterOf(`${keyPrefix}:{nodes}:leases`);
    await cluster.current.command(
      registry.port,
      'ZADD',
      `${keyPrefix}:{nodes}:leases`,
      'XX',
      '0',
      String(dead.store.incarnation),
    );
    expect(await live.store.reap()).toBe(4);
    for (const user of [ann, bob]) {
      const master = await cluster.current.masterOf(`${keyPrefix}:{u:${user}}:slots`);
      expect(await cluster.current.command(master.port, 'EXISTS', `${keyPrefix}:{u:${user}}:slots`)).toBe(0);
      expect(await live.store.admit(user, `l-${user}`, 2, 2)).toEqual({ admitted: true, evict: [], live: 1 });
    }
    expect((await live.store.view()).nodes.map((node) => node.nodeId)).toEqual(['live']);
  });

  it('a cluster-wide send reaches the node that holds the user', async () => {
    const keyPrefix = freshPrefix();
    const [, bob] = await usersApart(cluster.current, keyPrefix);
    const a = await startStoreOn({ redis: rootNodes(), keyPrefix, nodeId: 'a' });
    const b = await startStoreOn({ redis: rootNodes(), keyPrefix, nodeId: 'b' });
    await b.store.admit(bob, 'b1', 3, 3);
    expect(await a.store.sendAcross({ kind: 'send', userId: bob, data: 'hi' })).toBe(1);
    expect(await a.store.sendAcross({ kind: 'broadcast', data: 'all' })).toBe(1);
    await eventually(() => b.deliveries.length === 2);
    expect(b.deliveries).toEqual([
      { kind: 'send', userId: bob, data: 'hi' },
      { kind: 'broadcast', data: 'all' },
    ]);
  });

  it('loads its scripts on every master, and stop() leaves no slot and no lease', async () => {
    const keyPrefix = freshPrefix();
    const [ann, bob] = await usersApart(cluster.current, keyPrefix);
    for (const master of cluster.current.masters)
      await cluster.current.command(master.port, 'SCRIPT', 'FLUSH');
    const a = await startStoreOn({ redis: rootNodes(), keyPrefix, nodeId: 'a' });
    for (const master of cluster.current.masters) {
      const loaded = await cluster.current.command(
        master.port,
        'SCRIPT',
        'EXISTS',
        ...scripts.map((s) => s.sha),
      );
      expect(loaded).toEqual(scripts.map(() => 1));
    }
    await a.store.admit(ann, 'a1', 3, 3);
    await a.store.admit(bob, 'a2', 3, 3);
    await a.store.stop();
    for (const user of [ann, bob]) {
      const master = await cluster.current.masterOf(`${keyPrefix}:{u:${user}}:slots`);
      expect(await cluster.current.command(master.port, 'EXISTS', `${keyPrefix}:{u:${user}}:slots`)).toBe(0);
    }
    const registry = await cluster.current.masterOf(`${keyPrefix}:{nodes}:leases`);
    expect(await cluster.current.command(registry.port, 'ZCARD', `${keyPrefix}:{nodes}:leases`)).toBe(0);
  });

  it("uses the app's own cluster client without closing it, and a duplicate of it for pub/sub", async () => {
    const keyPrefix = freshPrefix();
    const [ann] = await usersApart(cluster.current, keyPrefix);
    const own = createCluster({
      rootNodes: [{ url: cluster.current.urls[0] as string }],
      defaults: { disableOfflineQueue: true },
    });
    own.on('error', () => {});
    await own.connect();
    onTestFinished(() => own.destroy());
    // The type the app's client is given as: node-redis's own cluster type fits it.
    const redis: RedisClusterLike = own;
    const a = await startStoreOn({ redis, keyPrefix, nodeId: 'a' });
    const b = await startStoreOn({ redis: rootNodes(), keyPrefix, nodeId: 'b' });
    await a.store.admit(ann, 'a1', 3, 2);
    await a.store.setIdle(ann, 'a1', Date.now());
    const admission = await b.store.admit(ann, 'b1', 3, 2);
    expect(admission).toMatchObject({ admitted: true, evict: [{ connectionId: 'a1', nodeId: 'a' }] });
    await b.store.orderEviction({ connectionId: 'a1', nodeId: 'a', incarnation: a.store.incarnation });
    await eventually(() => a.orders.length === 1);
    await a.store.stop();
    expect(own.isOpen).toBe(true);
    expect(
      await own.sendCommand(`${keyPrefix}:{u:${ann}}:slots`, true, ['HLEN', `${keyPrefix}:{u:${ann}}:slots`]),
    ).toBe(1);
  });

  it('refuses a cluster it cannot reach with WSSUP_STORE_UNAVAILABLE, naming the root nodes', async () => {
    const nowhere = `redis://127.0.0.1:${await freePort()}`;
    const store = createRedisSlotStore({ redis: { rootNodes: [nowhere] }, keyPrefix: freshPrefix() });
    onTestFinished(() => store.stop());
    const events = { evictionOrdered() {}, incarnationChanged() {} };
    await expect(store.start(events)).rejects.toMatchObject({
      code: 'WSSUP_STORE_UNAVAILABLE',
      message: expect.stringContaining(nowhere),
    });
  });

  it('routes every command the store sends by its key or channel, and refuses to guess for others', () => {
    expect(clusterRoutingKey(['EVALSHA', 'sha', '1', 'p:{u:ann}:slots', 'x'])).toBe('p:{u:ann}:slots');
    expect(clusterRoutingKey(['EVAL', 'body', '3', 'p:{nodes}:leases', 'b', 'c'])).toBe('p:{nodes}:leases');
    expect(clusterRoutingKey(['SADD', 'p:{i:7}:users', 'ann'])).toBe('p:{i:7}:users');
    expect(clusterRoutingKey(['SREM', 'p:{i:7}:users', 'ann', 'bob'])).toBe('p:{i:7}:users');
    expect(clusterRoutingKey(['DEL', 'p:{i:7}:users'])).toBe('p:{i:7}:users');
    expect(clusterRoutingKey(['HVALS', 'p:{u:ann}:slots'])).toBe('p:{u:ann}:slots');
    // A page of an index is read on the index's master (a cursor means nothing elsewhere).
    expect(clusterRoutingKey(['SSCAN', 'p:{i:7}:users', '0', 'COUNT', '500'])).toBe('p:{i:7}:users');
    expect(clusterRoutingKey(['SCARD', 'p:{i:7}:users'])).toBe('p:{i:7}:users');
    expect(clusterRoutingKey(['SPUBLISH', 'p:{n:a}:orders', '{}'])).toBe('p:{n:a}:orders');
    expect(() => clusterRoutingKey(['EVALSHA', 'sha', '0'])).toThrow(/no Redis Cluster routing/);
    expect(() => clusterRoutingKey(['KEYS', '*'])).toThrow(/no Redis Cluster routing for KEYS/);
  });

  describe('two supervisors on it (test preset: limit 5, T = 4, idle after 1 s)', () => {
    async function startNode(nodeId: string, keyPrefix: string): Promise<TestServer> {
      const t = await startServer({
        cluster: {
          redis: { rootNodes: [...cluster.current.urls] },
          nodeId,
          keyPrefix,
          leaseTtlMs: 3_000,
          commandTimeoutMs: 300,
          onStoreUnavailable: 'reject',
        },
      });
      await vi.waitFor(() => expect(t.supervisor.stats().cluster?.leaseHeld).toBe(true), ioWait);
      return t;
    }

    /** Sends a message every 200 ms (inside the 1 s idle timeout) until the socket closes. */
    function keepActive(ws: WebSocket): void {
      const timer = setInterval(() => ws.readyState === WebSocket.OPEN && ws.send('ping'), 200);
      ws.once('close', () => clearInterval(timer));
      onTestFinished(() => clearInterval(timer));
    }

    it('the reference server with --redis-cluster books on the cluster', async () => {
      const [ann] = await usersApart(cluster.current, 'wssup');
      const program = runProgram('dist/examples/reference-server/main.js', [
        '--preset',
        'test',
        '--redis-cluster',
        cluster.current.urls.join(','),
        '--node-id',
        'ref-1',
      ]);
      const [, url] = (await program.waitFor(/listening on (ws:\/\/\S+)/)) as RegExpMatchArray;
      const ws = await connect(`${url}/?user=${encodeURIComponent(ann)}`);
      const key = `wssup:{u:${ann}}:slots`;
      const master = await cluster.current.masterOf(key);
      await vi.waitFor(
        async () => expect(await cluster.current.command(master.port, 'HLEN', key)).toBe(1),
        ioWait,
      );
      ws.close();
      await vi.waitFor(
        async () => expect(await cluster.current.command(master.port, 'HLEN', key)).toBe(0),
        ioWait,
      );
      program.child.kill('SIGTERM');
      expect(await program.exited).toBe(0);
    });

    it("one user's connections across both stay at most the limit; refusals are 429; an idle one on the other node is evicted with 4001", async () => {
      const keyPrefix = freshPrefix();
      const [ann, gus] = await usersApart(cluster.current, keyPrefix);
      const a = await startNode('a', keyPrefix);
      const b = await startNode('b', keyPrefix);
      const book = async (user: string) => {
        const key = `${keyPrefix}:{u:${user}}:slots`;
        return cluster.current.command((await cluster.current.masterOf(key)).port, 'HLEN', key);
      };
      const live = (user: string) =>
        [a, b].reduce((sum, node) => sum + (node.supervisor.userStats(user)?.live ?? 0), 0);

      for (let i = 0; i < 5; i++) keepActive(await connect((i % 2 === 0 ? a : b).url(ann)));
      expect(live(ann)).toBe(5);
      expect(await book(ann)).toBe(5);
      for (const node of [a, b, a]) expect((await httpRefusal(node.url(ann))).status).toBe(429);
      expect(live(ann)).toBe(5);
      expect(await book(ann)).toBe(5);

      // gus: one connection on b left to go idle; four active ones on a bring him to T = 4.
      const idle = await connect(b.url(gus));
      const idleClosed = closed(idle);
      await vi.waitFor(() => expect(b.supervisor.userStats(gus)?.idle).toBe(1), ioWait);
      for (let i = 0; i < 4; i++) keepActive(await connect(a.url(gus)));
      expect(await idleClosed).toMatchObject({ code: 4001 });
      await vi.waitFor(async () => expect(await book(gus)).toBe(4), ioWait);
      expect(live(gus)).toBe(4);
    });
  });
});
