/**
 * docs/cluster-store.md, "Redis Cluster", "What changes": "A store with `rootNodes` opens one
 * connection per master (for commands) and one for its order channel's subscription, on that
 * channel's master ...: 4 on a 3-master cluster." Counted with CLIENT LIST on each master of a
 * private 3-master Redis Cluster (no replicas), for a store that has started, admitted users
 * on every master and renewed its lease; and none once it has stopped.
 */
import { describe, expect, it } from 'vitest';
import { clientsOf, clientTotals } from './cluster-failover-fixture.js';
import { eventually, freshPrefix, hasRedis, startStoreOn, usePrivateCluster } from './store-fixture.js';

describe.runIf(hasRedis)('docs: the connections of a store on a Redis Cluster', () => {
  const cluster = usePrivateCluster();

  it('one per master for commands and one for the order channel, on its master: 4 on 3 masters; none after stop()', async () => {
    const c = cluster.current;
    const ports = c.masters.map((master) => master.port);
    const keyPrefix = freshPrefix();
    expect(await clientTotals(c, ports)).toEqual({ all: 0, ssub: 0 });
    const { store } = await startStoreOn({ redis: { rootNodes: [...c.urls] }, nodeId: 'conn', keyPrefix });
    // Users on every master, and a renewal (which reads every master's clock).
    const mastersHit = new Set<number>();
    for (let i = 0; mastersHit.size < 3 && i < 200; i++) {
      const { port } = await c.masterOf(`${keyPrefix}:{u:user${i}}:slots`);
      if (mastersHit.has(port)) continue;
      mastersHit.add(port);
      expect(await store.admit(`user${i}`, `c${i}`, 5, 4)).toMatchObject({ admitted: true });
    }
    expect(await store.renew()).toBe('renewed');
    const channelMaster = (await c.masterOf(`${keyPrefix}:{n:conn}:orders`)).port;
    await eventually(async () => (await clientTotals(c, ports)).ssub === 1, 5_000);
    await eventually(async () => (await clientTotals(c, ports)).all <= 4, 5_000); // a discovery connection may linger
    const each = await Promise.all(ports.map((port) => clientsOf(c, port)));
    expect(each.reduce((sum, n) => sum + n, 0)).toBe(4);
    expect(each).toEqual(ports.map((port) => (port === channelMaster ? 2 : 1)));
    expect(await clientsOf(c, channelMaster, (line) => /\bssub=1\b/.test(line))).toBe(1);

    await store.stop();
    await eventually(async () => (await clientTotals(c, ports)).all === 0, 5_000);
  });
});
