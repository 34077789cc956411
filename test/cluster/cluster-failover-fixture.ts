/**
 * What the Redis Cluster failover tests share (store-redis-cluster-failover,
 * -orders-failover, -moved-error): finding a key whose slot lives on a master
 * the test is free to fail over, waiting for a best-effort message to arrive,
 * and counting the clients a store leaves on each node.
 */
import { expect, onTestFinished } from 'vitest';
import type { ClusterMaster, PrivateRedisCluster } from '../helpers/redis-cluster.js';
import type { TestStore } from './store-fixture.js';

/**
 * The first `keyOf(i)` (i < 100) whose master is none of `avoid` (ports): a user's book or a
 * node's channel that a failover can move without touching the registry's master.
 */
export async function keyOffMasters(
  cluster: PrivateRedisCluster,
  keyOf: (i: number) => string,
  avoid: readonly number[],
): Promise<{ index: number; master: ClusterMaster }> {
  for (let index = 0; index < 100; index++) {
    const master = await cluster.masterOf(keyOf(index));
    if (!avoid.includes(master.port)) return { index, master };
  }
  throw new Error(`no key like ${keyOf(0)} off the masters on ports ${avoid.join(', ')}`);
}

/**
 * Publishes with `send` every 100 ms until `arrived` (an order is best-effort: one sent while
 * the subscription is moving is lost, and the next admission sends it again); fails after `ms`,
 * naming the last errors. Resolves with how long it took.
 */
export async function arrivesWithin(
  send: () => Promise<unknown>,
  arrived: () => boolean,
  ms = 12_000,
): Promise<number> {
  const started = Date.now();
  const errors: string[] = [];
  while (!arrived()) {
    if (Date.now() - started > ms)
      throw new Error(`nothing arrived within ${ms} ms (last errors: ${errors.slice(-3).join('; ')})`);
    await send().catch((error: { code?: string; message?: string }) =>
      errors.push(`${error.code}: ${error.message}`),
    );
    const sent = Date.now();
    while (!arrived() && Date.now() - sent < 100) await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return Date.now() - started;
}

/**
 * Renews `store`'s lease every 200 ms (the lease actor's cycle, sped up: a lost subscription is
 * subscribed again at a renewal) until the returned function is awaited or the test ends.
 */
export function keepRenewing(store: TestStore): () => Promise<void> {
  let renewing = true;
  const renewals = (async () => {
    while (renewing) {
      await store.store.renew().catch(() => {});
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  })();
  const stop = async () => {
    renewing = false;
    await renewals;
  };
  onTestFinished(stop);
  return stop;
}

/**
 * `a` orders node `b` (named `nodeB`) to evict a connection, then sends across the cluster,
 * each until `b` gets it (within `ms`): `b`'s subscription works again.
 */
export async function ordersAndSendsReach(
  a: TestStore,
  b: TestStore,
  nodeB: string,
  ms: number,
): Promise<void> {
  await arrivesWithin(
    () => a.store.orderEviction({ connectionId: 'b1', nodeId: nodeB, incarnation: b.store.incarnation }),
    () => b.orders.length > 0,
    ms,
  );
  expect(b.orders[0]).toMatchObject({ connectionId: 'b1', nodeId: nodeB });
  await arrivesWithin(
    () => a.store.sendAcross({ kind: 'broadcast', data: 'after the move' }),
    () => b.deliveries.length > 0,
    ms,
  );
  expect(b.deliveries[0]).toMatchObject({ kind: 'broadcast', data: 'after the move' });
}

/** The clients of `port` (not replication links, not the asking connection) that `pick` keeps. */
export async function clientsOf(
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

/** Every client of the nodes on `ports`, and those with a sharded subscription (CLIENT LIST's ssub). */
export async function clientTotals(
  cluster: PrivateRedisCluster,
  ports: readonly number[],
): Promise<{ all: number; ssub: number }> {
  const each = await Promise.all(
    ports.map(async (port) => ({
      all: await clientsOf(cluster, port),
      ssub: await clientsOf(cluster, port, (line) => /\bssub=[1-9]/.test(line)),
    })),
  );
  return { all: each.reduce((x, y) => x + y.all, 0), ssub: each.reduce((x, y) => x + y.ssub, 0) };
}

/** How many subscribers `channel` has on each node of `ports` (PUBSUB SHARDNUMSUB). */
export async function channelSubscribers(
  cluster: PrivateRedisCluster,
  ports: readonly number[],
  channel: string,
): Promise<number[]> {
  return Promise.all(
    ports.map(
      async (port) =>
        ((await cluster.command(port, 'PUBSUB', 'SHARDNUMSUB', channel)) as [string, number])[1],
    ),
  );
}
