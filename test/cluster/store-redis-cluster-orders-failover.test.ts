/**
 * Eviction orders and cluster-wide sends on a Redis Cluster whose master
 * serving a node's channel (`<prefix>:{n:<node>}:orders`, sharded pub/sub)
 * fails over to its replica, with the old master alive (it turns replica),
 * killed, or killed and back. What a user relies on (docs/cluster-store.md,
 * "Orders and sends through a failover"): once the
 * failover is over, an order or a send published to that node reaches it again
 * within a bounded wait (its client moves the SSUBSCRIBE to the promoted
 * replica, or to the old master back as a replica of the shard), through one subscriber connection, not two, and stop() still
 * leaves no connection behind. Each test has a cluster of its own: three
 * masters, and one replica for the master of node b's channel, which is
 * neither the registry's master nor the master of the user's book (so the
 * failover touches only the channel).
 */
import { describe, expect, it } from 'vitest';
import type { EvictionOrder } from '../../src/cluster/slot-store.js';
import {
  type ClusterMaster,
  type ClusterReplica,
  type PrivateRedisCluster,
  startRedisCluster,
} from '../helpers/redis-cluster.js';
import {
  arrivesWithin,
  channelSubscribers,
  clientTotals,
  keyOffMasters,
} from './cluster-failover-fixture.js';
import { formedAhead } from './formed-ahead.js';
import { eventually, freshPrefix, hasRedis, startStoreOn, type TestStore } from './store-fixture.js';

interface Setup {
  cluster: PrivateRedisCluster;
  /** Node b's channel. */
  channel: string;
  /** The master serving node b's channel (not the registry's, nor ann's book's). */
  master: ClusterMaster;
  /** Its replica, to be promoted. */
  replica: ClusterReplica;
  /** A user whose book is on neither `master` nor its replica. */
  ann: string;
  a: TestStore;
  b: TestStore;
}

/** A cluster made ready for one test (setUp), before its stores. */
type Formed = Omit<Setup, 'a' | 'b'> & { keyPrefix: string; nodeB: string };

/** The cluster and its replica; stops the cluster if it fails half-way. */
async function form(): Promise<Formed> {
  const cluster = await startRedisCluster();
  try {
    const keyPrefix = freshPrefix();
    const registry = await cluster.masterOf(`${keyPrefix}:{nodes}:leases`);
    const channelOf = await keyOffMasters(cluster, (i) => `${keyPrefix}:{n:b${i}}:orders`, [registry.port]);
    const [nodeB, master] = [`b${channelOf.index}`, channelOf.master];
    const ann = `user${(await keyOffMasters(cluster, (i) => `${keyPrefix}:{u:user${i}}:slots`, [master.port])).index}`;
    const replica = await cluster.addReplica(master.port);
    return { cluster, keyPrefix, nodeB, channel: `${keyPrefix}:{n:${nodeB}}:orders`, master, replica, ann };
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

async function setUp(): Promise<Setup> {
  const { cluster, keyPrefix, nodeB, channel, master, replica, ann } = await formed('cluster');
  const rootNodes = [...cluster.urls];
  const a = await startStoreOn({ redis: { rootNodes }, keyPrefix, nodeId: 'a' });
  const b = await startStoreOn({ redis: { rootNodes }, keyPrefix, nodeId: nodeB });
  return { cluster, channel, master, replica, ann, a, b };
}

/** b holds ann's idle b1; a's admission at the threshold (limit 3, T = 2) names it (and counts it out): the order a sends. */
async function orderFromAdmission({ ann, a, b }: Setup): Promise<EvictionOrder> {
  expect(await b.store.admit(ann, 'b1', 3, 2)).toMatchObject({ admitted: true, live: 1 });
  await b.store.setIdle(ann, 'b1', Date.now());
  const order = {
    connectionId: 'b1',
    nodeId: b.store.nodeId,
    incarnation: b.store.incarnation,
    cause: 'idle' as const,
  };
  expect(await a.store.admit(ann, 'a1', 3, 2)).toEqual({ admitted: true, evict: [order], live: 1 });
  return order;
}

/**
 * After the failover: the order a sends again reaches b, and so does a send; b's channel has one
 * subscriber in the cluster (on `on`, when given), and no node has more clients than the cluster had before
 * (`before`: each store's connection to each master, and its one subscriber); stop() leaves none.
 * Resolves with how long the order took to arrive.
 */
async function ordersStillArrive(
  { cluster, channel, ann, a, b }: Setup,
  order: EvictionOrder,
  ports: readonly number[],
  before: number,
  /** The node that must hold b's subscription, when only one may. */
  on?: number,
): Promise<number> {
  const tookMs = await arrivesWithin(
    () => a.store.orderEviction(order),
    () => b.orders.length > 0,
  );
  // Sent again until one arrived: each copy that arrived is that order (the runtime ignores repeats).
  expect(new Set(b.orders.map((got) => JSON.stringify(got)))).toEqual(new Set([JSON.stringify(order)]));
  expect(a.orders).toEqual([]);
  await arrivesWithin(
    () => a.store.sendAcross({ kind: 'send', userId: ann, data: 'after the failover' }),
    () => b.deliveries.length > 0,
  );
  expect(b.deliveries[0]).toMatchObject({ kind: 'send', userId: ann, data: 'after the failover' });

  // One subscriber to b's channel in the whole cluster (on the promoted replica, or on a replica of its shard).
  const subscribed = await channelSubscribers(cluster, ports, channel);
  expect(subscribed.reduce((x, y) => x + y)).toBe(1);
  if (on !== undefined) expect(subscribed[ports.indexOf(on)]).toBe(1);
  expect((await clientTotals(cluster, ports)).ssub).toBe(2);
  // A socket destroyed a moment ago may still be listed: bounded wait, not a sleep.
  await eventually(async () => (await clientTotals(cluster, ports)).all <= before, 5_000);

  await a.store.stop();
  await b.store.stop();
  await eventually(async () => (await clientTotals(cluster, ports)).all === 0, 5_000);
  return tookMs;
}

/**
 * The tests whose old master is killed take several seconds (a 4-node cluster and a failover,
 * ~4 s; then the client moves the subscription by a topology refresh a connect timeout after its
 * reconnects to the old master began): more room than the 20 s default on a loaded machine.
 */
const SLOW_MS = 40_000;

describe.runIf(hasRedis)(
  'orders and sends on a Redis Cluster whose channel’s master is promoted away',
  () => {
    it('CLUSTER FAILOVER TAKEOVER, old master alive: the next order and send reach node b, through one subscriber connection; stop() leaves none', async () => {
      const setup = await setUp();
      const { cluster, channel, master, replica } = setup;
      const order = await orderFromAdmission(setup);
      const ports = [...cluster.masters.map((m) => m.port), replica.port];
      expect(await cluster.command(master.port, 'PUBSUB', 'SHARDNUMSUB', channel)).toEqual([channel, 1]);
      expect((await clientTotals(cluster, ports)).ssub).toBe(2);
      const before = (await clientTotals(cluster, ports)).all;

      await cluster.failover(replica.port, 'TAKEOVER');
      // The old master, a replica now, tells b's subscriber the slot moved (SUNSUBSCRIBE): it goes to the promoted one.
      await ordersStillArrive(setup, order, ports, before, replica.port);
    });

    it(
      'the old master killed, CLUSTER FAILOVER TAKEOVER: once the client rediscovers, the next order and send reach node b, through one subscriber connection; stop() leaves none',
      async () => {
        const setup = await setUp();
        const { cluster, master, replica } = setup;
        const order = await orderFromAdmission(setup);
        const before = (await clientTotals(cluster, [...cluster.masters.map((m) => m.port), replica.port]))
          .all;
        const survivors = [
          ...cluster.masters.map((m) => m.port).filter((port) => port !== master.port),
          replica.port,
        ];

        await cluster.kill(master.port);
        // docs/cluster-store.md: "a publisher whose client still knew that master gets
        // `WSSUP_STORE_UNAVAILABLE` for its `SPUBLISH` until its own refresh".
        await expect(setup.a.store.orderEviction(order)).rejects.toMatchObject({
          code: 'WSSUP_STORE_UNAVAILABLE',
        });
        await cluster.failover(replica.port, 'TAKEOVER');
        await ordersStillArrive(setup, order, survivors, before, replica.port);
      },
      SLOW_MS,
    );

    it(
      'the old master killed, its replica promoted, then the old master back (a replica now): the next order and send reach node b, through one subscriber connection; stop() leaves none',
      async () => {
        const setup = await setUp();
        const { cluster, master, replica } = setup;
        const order = await orderFromAdmission(setup);
        const ports = [...cluster.masters.map((m) => m.port), replica.port];
        const before = (await clientTotals(cluster, ports)).all;
        await cluster.kill(master.port);
        await cluster.failover(replica.port, 'TAKEOVER');
        // Back at once: b's subscriber may reconnect to it before the client re-reads the layout
        // and subscribe again there, on a replica of the shard, which still gets its messages.
        await cluster.restart(master.port);
        expect(await cluster.command(master.port, 'ROLE')).toEqual(expect.arrayContaining(['slave']));
        await ordersStillArrive(setup, order, ports, before);
      },
      SLOW_MS,
    );
  },
);
