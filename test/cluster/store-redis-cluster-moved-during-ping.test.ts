/**
 * A node's channel moves (CLUSTER FAILOVER TAKEOVER) while its subscriber's keep-alive PING
 * waits for its reply. The old master tells the subscriber with an unasked SUNSUBSCRIBE, and
 * node-redis (6.3) reads a SUNSUBSCRIBE that comes while a reply is awaited as that reply:
 * it neither re-subscribes on the new master nor says so ('sharded-channel-moved-error'), and
 * Redis counts no subscriber on the channel any more. What a user relies on
 * (docs/cluster-store.md, "Orders and sends through a failover"): an order and a send reach
 * the node again within a bounded wait while its lease is renewed, and the loss is reported.
 * The PING is held in flight by pausing the old master's clients (CLIENT PAUSE, shorter than
 * the subscriber's socket timeout, so its socket is not dropped and re-subscribed that way).
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { startRedisCluster } from '../helpers/redis-cluster.js';
import {
  channelSubscribers,
  keepRenewing,
  keyOffMasters,
  ordersAndSendsReach,
} from './cluster-failover-fixture.js';
import { eventually, freshPrefix, hasRedis, startStoreOn } from './store-fixture.js';

describe.runIf(hasRedis)(
  'a slot move while the subscriber’s keep-alive PING is in flight (Redis Cluster)',
  () => {
    it('orders and sends reach the node again once its lease is renewed, and the loss is reported once', async () => {
      const cluster = await startRedisCluster();
      onTestFinished(() => cluster.stop());
      const keyPrefix = freshPrefix();
      const registry = await cluster.masterOf(`${keyPrefix}:{nodes}:leases`);
      const { index, master } = await keyOffMasters(cluster, (i) => `${keyPrefix}:{n:b${i}}:orders`, [
        registry.port,
      ]);
      const nodeB = `b${index}`;
      const channel = `${keyPrefix}:{n:${nodeB}}:orders`;
      const replica = await cluster.addReplica(master.port);
      const ports = [...cluster.masters.map((m) => m.port), replica.port];
      const rootNodes = [...cluster.urls];
      const a = await startStoreOn({ redis: { rootNodes }, keyPrefix, nodeId: 'a' });
      const b = await startStoreOn({ redis: { rootNodes }, keyPrefix, nodeId: nodeB });
      expect(await channelSubscribers(cluster, ports, channel)).toEqual(
        ports.map((port) => (port === master.port ? 1 : 0)),
      );

      // The subscriber PINGs every 600 ms (commandTimeoutMs 300) after the last reply, and drops
      // a socket silent for 1,200 ms: paused for 1,000 ms, one PING is sent and held by 650 ms.
      const pausedAt = Date.now();
      await cluster.command(master.port, 'CLIENT', 'PAUSE', '1000', 'ALL');
      await new Promise((resolve) => setTimeout(resolve, 650 - (Date.now() - pausedAt)));
      await cluster.failover(replica.port, 'TAKEOVER');
      // The channel lost its subscriber (what node-redis should have re-subscribed, and did not).
      await eventually(
        async () => (await channelSubscribers(cluster, ports, channel)).every((n) => n === 0),
        5_000,
      );

      keepRenewing(b);

      await ordersAndSendsReach(a, b, nodeB, 8_000);
      expect(b.subscriptionErrors).toHaveLength(1);
      expect(b.subscriptionErrors[0]).toMatchObject({ code: 'WSSUP_STORE_UNAVAILABLE' });
      expect(String(b.subscriptionErrors[0]?.message)).toContain(channel);
      // One subscriber, on the promoted replica.
      expect(await channelSubscribers(cluster, ports, channel)).toEqual(
        ports.map((port) => (port === replica.port ? 1 : 0)),
      );
    }, 40_000);
  },
);
