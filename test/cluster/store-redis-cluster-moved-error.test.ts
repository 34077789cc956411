/**
 * Node b's channel moves on a Redis Cluster (CLUSTER FAILOVER TAKEOVER, the old master alive:
 * it tells b's subscriber the slot moved) and node-redis's own re-subscription on the promoted
 * replica fails for real: that node's ACL denies the default user b's channel, so SSUBSCRIBE
 * there gets NOPERM and the client drops the channel's listeners ('sharded-channel-moved-error').
 * What a user relies on (docs/cluster-store.md, "Orders and sends through a failover"): the store
 * reports the loss once (subscriptionLost, an error the runtime reports), and a later lease
 * renewal subscribes again; once the ACL allows the channel, an order and a send reach b again
 * within a bounded wait, through one subscriber connection, and stop() leaves none, also when it
 * comes while the renewals still fail to subscribe. Without that, b would never receive an order
 * or a send again, while its admissions and lease recover. The last case holds a re-subscription
 * at its connect or its SSUBSCRIBE (CLIENT PAUSE) when stop() comes: nothing may outlive stop().
 */
import { describe, expect, it } from 'vitest';
import {
  type ClusterMaster,
  type ClusterReplica,
  type PrivateRedisCluster,
  startRedisCluster,
} from '../helpers/redis-cluster.js';
import {
  channelSubscribers,
  clientTotals,
  keepRenewing,
  keyOffMasters,
  ordersAndSendsReach,
} from './cluster-failover-fixture.js';
import { formedAhead } from './formed-ahead.js';
import { eventually, freshPrefix, hasRedis, startStoreOn, type TestStore } from './store-fixture.js';

interface Setup {
  cluster: PrivateRedisCluster;
  /** Node b's channel. */
  channel: string;
  nodeB: string;
  /** The replica of the channel's master, to be promoted. */
  replica: ClusterReplica;
  /** Every node's port. */
  ports: number[];
  a: TestStore;
  b: TestStore;
  /** Clients in the cluster before the move (each store's connections and its one subscriber). */
  before: { all: number; ssub: number };
  /** Ends b's renewals (the lease actor's cycle, sped up to every 200 ms). */
  stopRenewing(): Promise<void>;
}

/** A cluster made ready for one test, before its stores. */
interface Formed {
  cluster: PrivateRedisCluster;
  keyPrefix: string;
  /** The master of the registry (the leases). */
  registry: ClusterMaster;
  /** The first node b<i> whose channel is off the registry's master, and that master. */
  channelOf: { index: number; master: ClusterMaster };
  /** The replica of that master. */
  replica: ClusterReplica;
}

/** Three masters and a replica for the master of b's channel; stops the cluster if it fails half-way. */
async function form(): Promise<Formed> {
  const cluster = await startRedisCluster();
  try {
    const keyPrefix = freshPrefix();
    const registry = await cluster.masterOf(`${keyPrefix}:{nodes}:leases`);
    const channelOf = await keyOffMasters(cluster, (i) => `${keyPrefix}:{n:b${i}}:orders`, [registry.port]);
    const replica = await cluster.addReplica(channelOf.master.port);
    return { cluster, keyPrefix, registry, channelOf, replica };
  } catch (error) {
    await cluster.stop();
    throw error;
  }
}

/**
 * Each test's cluster of its own, formed while the tests before it run (formed-ahead.ts): a
 * cluster takes seconds to form, mostly waiting on its gossip and its replica's first sync.
 */
const formed = formedAhead({
  plan: ['cluster', 'cluster', 'cluster'],
  make: form,
  stop: (f) => f.cluster.stop(),
});

/**
 * Three masters, a replica for the master of b's channel (not the registry's); stores a and b,
 * b renewing every 200 ms; then the replica denies b's channel to the default user (ACLs are
 * per node; a's channel stays allowed) and is promoted with the old master up, which tells b's
 * subscriber the slot moved: resolves once b reported the loss.
 */
async function lostAfterMove(): Promise<Setup> {
  const { cluster, keyPrefix, channelOf, replica } = await formed('cluster');
  const nodeB = `b${channelOf.index}`;
  const channel = `${keyPrefix}:{n:${nodeB}}:orders`;
  const ports = [...cluster.masters.map((m) => m.port), replica.port];
  const rootNodes = [...cluster.urls];
  const a = await startStoreOn({ redis: { rootNodes }, keyPrefix, nodeId: 'a' });
  const b = await startStoreOn({ redis: { rootNodes }, keyPrefix, nodeId: nodeB });
  const before = await clientTotals(cluster, ports);
  expect(before.ssub).toBe(2);

  const stopRenewing = keepRenewing(b);

  await cluster.command(
    replica.port,
    'ACL',
    'SETUSER',
    'default',
    'resetchannels',
    `&${keyPrefix}:{n:a}:orders`,
  );
  await cluster.failover(replica.port, 'TAKEOVER');
  await eventually(() => b.subscriptionErrors.length > 0, 8_000);
  expect(b.subscriptionErrors[0]).toMatchObject({ code: 'WSSUP_STORE_UNAVAILABLE' });
  expect(String(b.subscriptionErrors[0]?.message)).toContain(channel);
  return { cluster, channel, nodeB, replica, ports, a, b, before, stopRenewing };
}

/** How many SSUBSCRIBEs of `channel` the node on `port` refused (ACL LOG counts them on one entry). */
async function refusedSubscribes(
  cluster: PrivateRedisCluster,
  port: number,
  channel: string,
): Promise<number> {
  const log = (await cluster.command(port, 'ACL', 'LOG')) as unknown[][];
  return log
    .filter((entry) => entry.includes(channel) && String(entry.at(-1)).includes('cmd=ssubscribe'))
    .map((entry) => Number(entry[entry.indexOf('count') + 1]))
    .reduce((x, y) => x + y, 0);
}

describe.runIf(hasRedis)('a node’s sharded subscription lost after a slot move (Redis Cluster)', () => {
  it('the promoted replica refuses SSUBSCRIBE (NOPERM): the loss is reported once, and once allowed, a renewal subscribes again: orders and sends reach b, through one subscriber; stop() leaves none', async () => {
    const { cluster, channel, nodeB, replica, ports, a, b, before, stopRenewing } = await lostAfterMove();
    // Renewals go on trying (the client's own SSUBSCRIBE and at least two more refused):
    // none is reported again, and none leaves a connection open.
    await eventually(async () => (await refusedSubscribes(cluster, replica.port, channel)) >= 3, 5_000);
    expect(b.subscriptionErrors).toHaveLength(1);
    await eventually(async () => (await clientTotals(cluster, ports)).all <= before.all, 5_000);

    await cluster.command(replica.port, 'ACL', 'SETUSER', 'default', 'allchannels');
    // b's incarnation, as of each send: the failover fences it (a new one) at a renewal.
    await ordersAndSendsReach(a, b, nodeB, 8_000);
    expect(b.subscriptionErrors).toHaveLength(1);

    // One subscriber to b's channel (on the promoted replica), one sharded subscriber per store,
    // and no more clients than before (no failed attempt left open beside it).
    const subscribed = await channelSubscribers(cluster, ports, channel);
    expect(subscribed).toEqual(ports.map((port) => (port === replica.port ? 1 : 0)));
    expect((await clientTotals(cluster, ports)).ssub).toBe(2);
    await eventually(async () => (await clientTotals(cluster, ports)).all <= before.all, 5_000);

    await stopRenewing();
    await a.store.stop();
    await b.store.stop();
    await eventually(async () => (await clientTotals(cluster, ports)).all === 0, 5_000);
  }, 40_000);

  it('stop() while renewals still fail to subscribe again: it resolves, leaves no connection, and nothing subscribes after it', async () => {
    const { cluster, channel, replica, ports, a, b, stopRenewing } = await lostAfterMove();
    await eventually(async () => (await refusedSubscribes(cluster, replica.port, channel)) >= 2, 5_000);
    // Renewals still running: stop() may come while an attempt is on its way.
    await b.store.stop();
    await stopRenewing();
    await a.store.stop();
    // Allowed again: an attempt that outlived stop() would subscribe now, and be counted below.
    await cluster.command(replica.port, 'ACL', 'SETUSER', 'default', 'allchannels');
    await eventually(async () => (await clientTotals(cluster, ports)).all === 0, 5_000);
    expect(await cluster.command(replica.port, 'PUBSUB', 'SHARDNUMSUB', channel)).toEqual([channel, 0]);
    expect(b.subscriptionErrors).toHaveLength(1);
  }, 40_000);
});

describe.runIf(hasRedis)('stop() while a re-subscription is on its way (Redis Cluster)', () => {
  it('at each step of it (the pub/sub connect, its SSUBSCRIBE): stop() resolves within its deadlines, and no connection or subscription outlives it', async () => {
    const { cluster, keyPrefix, registry, channelOf: first, replica } = await formed('cluster');
    const channelOf = (i: number) => `${keyPrefix}:{n:b${i}}:orders`;
    const { master } = first;
    // Six nodes whose channels live on that master: each is stopped at another moment.
    const indexes: number[] = [];
    for (let i = 0; indexes.length < 6; i++) {
      if ((await cluster.masterOf(channelOf(i))).port === master.port) indexes.push(i);
    }
    const ports = [...cluster.masters.map((m) => m.port), replica.port];
    const rootNodes = [...cluster.urls];
    const stores: TestStore[] = [];
    for (const i of indexes)
      stores.push(await startStoreOn({ redis: { rootNodes }, keyPrefix, nodeId: `b${i}` }));
    await cluster.command(replica.port, 'ACL', 'SETUSER', 'default', 'resetchannels');
    await cluster.failover(replica.port, 'TAKEOVER');
    // A store whose client missed the move (its keep-alive PING in flight: see
    // store-redis-cluster-moved-during-ping.test.ts) finds the loss by its renewals' probes.
    // Each store is renewed only until it reports, so no attempt to subscribe again is on its
    // way when the ACL allows the channel below.
    await eventually(async () => {
      const unaware = stores.filter((b) => b.subscriptionErrors.length === 0);
      await Promise.all(unaware.map((b) => b.store.renew().catch(() => {})));
      return unaware.length === 0;
    }, 8_000);
    await cluster.command(replica.port, 'ACL', 'SETUSER', 'default', 'allchannels');

    // Every node but the registry's holds its clients' commands: a renewal is still answered
    // and starts a re-subscription, which then waits at its connect (the slots read from a
    // held root node) or at its SSUBSCRIBE (on the promoted replica) when stop() comes.
    const pauseMs = 2_500;
    for (const port of ports) {
      if (port !== registry.port) await cluster.command(port, 'CLIENT', 'PAUSE', String(pauseMs), 'ALL');
    }
    const paused = Date.now();
    const stopped = await Promise.all(
      stores.map(async (b, i) => {
        await b.store.renew().catch(() => {});
        await new Promise((resolve) => setTimeout(resolve, i * 2));
        await b.store.stop();
        return Date.now() - paused;
      }),
    );
    // Bounded by the store's deadlines (commandTimeoutMs 300), not by the held nodes.
    expect(Math.max(...stopped)).toBeLessThan(pauseMs - 500);

    // Once the nodes answer again, an attempt that outlived stop() would connect and subscribe.
    await new Promise((resolve) => setTimeout(resolve, pauseMs + 300 - (Date.now() - paused)));
    await eventually(async () => (await clientTotals(cluster, ports)).all === 0, 5_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await clientTotals(cluster, ports)).toEqual({ all: 0, ssub: 0 });
    for (const i of indexes) {
      expect(await channelSubscribers(cluster, ports, channelOf(i))).toEqual(ports.map(() => 0));
    }
    expect(stores.map((b) => b.subscriptionErrors.length)).toEqual(stores.map(() => 1));
  }, 40_000);
});
