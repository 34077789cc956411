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
import { describe, expect, it, onTestFinished } from 'vitest';
import type { EvictionOrder } from '../../src/cluster/slot-store.js';
import {
  type ClusterMaster,
  type ClusterReplica,
  type PrivateRedisCluster,
  startRedisCluster,
} from '../helpers/redis-cluster.js';
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

async function setUp(): Promise<Setup> {
  const cluster = await startRedisCluster();
  onTestFinished(() => cluster.stop());
  const keyPrefix = freshPrefix();
  const registry = await cluster.masterOf(`${keyPrefix}:{nodes}:leases`);
  let nodeB: string | undefined;
  let master: ClusterMaster | undefined;
  for (let i = 0; nodeB === undefined && i < 100; i++) {
    const owner = await cluster.masterOf(`${keyPrefix}:{n:b${i}}:orders`);
    if (owner.port !== registry.port) [nodeB, master] = [`b${i}`, owner];
  }
  if (nodeB === undefined || master === undefined)
    throw new Error('no node id whose channel is off the registry’s master');
  let ann: string | undefined;
  for (let i = 0; ann === undefined && i < 100; i++)
    if ((await cluster.masterOf(`${keyPrefix}:{u:user${i}}:slots`)).port !== master.port) ann = `user${i}`;
  if (ann === undefined) throw new Error('no user off the channel’s master');
  const replica = await cluster.addReplica(master.port);
  const rootNodes = [...cluster.urls];
  const a = await startStoreOn({ redis: { rootNodes }, keyPrefix, nodeId: 'a' });
  const b = await startStoreOn({ redis: { rootNodes }, keyPrefix, nodeId: nodeB });
  return { cluster, channel: `${keyPrefix}:{n:${nodeB}}:orders`, master, replica, ann, a, b };
}

/** b holds ann's idle b1; a's admission at the threshold (limit 3, T = 2) names it (and counts it out): the order a sends. */
async function orderFromAdmission({ ann, a, b }: Setup): Promise<EvictionOrder> {
  expect(await b.store.admit(ann, 'b1', 3, 2)).toMatchObject({ admitted: true, live: 1 });
  await b.store.setIdle(ann, 'b1', Date.now());
  const order = { connectionId: 'b1', nodeId: b.store.nodeId, incarnation: b.store.incarnation };
  expect(await a.store.admit(ann, 'a1', 3, 2)).toEqual({ admitted: true, evict: [order], live: 1 });
  return order;
}

/**
 * Publishes with `send` every 100 ms until `arrived` (an order is best-effort: one sent while
 * the subscription is moving is lost, and the next admission sends it again); fails after 12 s.
 * Resolves with how long it took.
 */
async function arrivesWithin(send: () => Promise<unknown>, arrived: () => boolean): Promise<number> {
  const started = Date.now();
  const errors: string[] = [];
  while (!arrived()) {
    if (Date.now() - started > 12_000)
      throw new Error(`nothing arrived within 12 s (last errors: ${errors.slice(-3).join('; ')})`);
    await send().catch((error: { code?: string; message?: string }) =>
      errors.push(`${error.code}: ${error.message}`),
    );
    const sent = Date.now();
    while (!arrived() && Date.now() - sent < 100) await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return Date.now() - started;
}

/** How many clients of each node (by port) have a sharded subscription (CLIENT LIST's ssub). */
async function shardSubscribers(cluster: PrivateRedisCluster, ports: readonly number[]): Promise<number[]> {
  return Promise.all(
    ports.map(async (port) => clientsOf(cluster, port, (line) => /\bssub=[1-9]/.test(line))),
  );
}

/** The clients of `port` (not replication links, not the asking connection) that `pick` keeps. */
async function clientsOf(
  cluster: PrivateRedisCluster,
  port: number,
  pick: (line: string) => boolean = () => true,
): Promise<number> {
  const list = String(await cluster.command(port, 'CLIENT', 'LIST'));
  return list
    .split('\n')
    .filter(
      (line) =>
        line.includes('id=') && !/\bflags=\S*[SM]/.test(line) && !/cmd=client\|list/.test(line) && pick(line),
    ).length;
}

/** Every client of the nodes on `ports` (command and subscriber connections alike). */
async function allClients(cluster: PrivateRedisCluster, ports: readonly number[]): Promise<number> {
  const counts = await Promise.all(ports.map((port) => clientsOf(cluster, port)));
  return counts.reduce((x, y) => x + y, 0);
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
  const subscribed = await Promise.all(
    ports.map(
      async (port) =>
        ((await cluster.command(port, 'PUBSUB', 'SHARDNUMSUB', channel)) as [string, number])[1],
    ),
  );
  expect(subscribed.reduce((x, y) => x + y)).toBe(1);
  if (on !== undefined) expect(subscribed[ports.indexOf(on)]).toBe(1);
  expect((await shardSubscribers(cluster, ports)).reduce((x, y) => x + y)).toBe(2);
  // A socket destroyed a moment ago may still be listed: bounded wait, not a sleep.
  await eventually(async () => (await allClients(cluster, ports)) <= before, 5_000);

  await a.store.stop();
  await b.store.stop();
  await eventually(async () => (await allClients(cluster, ports)) === 0, 5_000);
  return tookMs;
}

/**
 * The tests whose old master is killed take ~11 s (a 4-node cluster and a failover, ~4 s; then
 * node-redis moves the subscription by a topology refresh 5 s after its reconnects to the old
 * master began): more room than the 20 s default on a loaded machine.
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
      expect((await shardSubscribers(cluster, ports)).reduce((x, y) => x + y)).toBe(2);
      const before = await allClients(cluster, ports);

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
        const before = await allClients(cluster, [...cluster.masters.map((m) => m.port), replica.port]);
        const survivors = [
          ...cluster.masters.map((m) => m.port).filter((port) => port !== master.port),
          replica.port,
        ];

        await cluster.kill(master.port);
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
        const before = await allClients(cluster, ports);
        await cluster.kill(master.port);
        await cluster.failover(replica.port, 'TAKEOVER');
        // Back within node-redis's 5 s before a topology refresh: b's subscriber reconnects to it
        // and subscribes again there, on a replica of the shard, which still gets its messages.
        await cluster.restart(master.port);
        expect(await cluster.command(master.port, 'ROLE')).toEqual(expect.arrayContaining(['slave']));
        await ordersStillArrive(setup, order, ports, before);
      },
      SLOW_MS,
    );
  },
);
