/**
 * stop() while node-redis re-reads a Redis Cluster's layout (after a MOVED, or a topology
 * refresh while a master is away) left a connection to every master open for good.
 *
 * node-redis 6.3's cluster client creates and connects a client for each master once the
 * CLUSTER SLOTS of a re-read is in, without checking that destroy() ran meanwhile (and a node
 * client destroyed while its TCP connect is on its way still completes it): the
 * store's own client (`rootNodes`), destroyed by stop(), came back to life with one
 * connection per master, kept alive by PINGs and reconnects. Seen in
 * doc-claims-cluster-section.test.ts on a loaded machine (a store of an earlier test still
 * connected, as user `default`, seconds after its stop()).
 *
 * Here the re-read is made slow on purpose: the slot of a user moves away from a master,
 * whose clients are then paused (CLIENT PAUSE: a command of an existing connection is still
 * answered MOVED at once, as Redis redirects before it pauses, but the new connection the
 * re-read opens there waits); the admission meets MOVED, and stop() runs while the re-read
 * waits. Once the pause ends and the re-read is answered, nothing of the store may stay
 * connected.
 */
import { describe, expect, it, vi } from 'vitest';
import { createKeyLayout } from '../../src/cluster/redis-keys.js';
import { keyOffMasters } from '../cluster/cluster-failover-fixture.js';
import { freshPrefix, hasRedis, startStoreOn, usePrivateCluster } from '../cluster/store-fixture.js';
import type { PrivateRedisCluster } from '../helpers/redis-cluster.js';

/** Every client of every master but replication links and the helper's own. */
async function clientsLeft(cluster: PrivateRedisCluster): Promise<string[]> {
  const lines: string[] = [];
  for (const master of cluster.masters) {
    const list = String(await cluster.command(master.port, 'CLIENT', 'LIST')).split('\n');
    lines.push(
      ...list.filter(
        (line) => line.includes('id=') && !/\bflags=\S*[SM]/.test(line) && !/ cmd=client\|list /.test(line),
      ),
    );
  }
  return lines;
}

/** How many MOVED the node on `port` answered since its last CONFIG RESETSTAT. */
async function redirects(cluster: PrivateRedisCluster, port: number): Promise<number> {
  const info = String(await cluster.command(port, 'INFO', 'errorstats'));
  return Number(/^errorstat_MOVED:count=(\d+)/m.exec(info)?.[1] ?? 0);
}

/** How many CLUSTER SLOTS the node on `port` answered since its last CONFIG RESETSTAT. */
async function slotsCalls(cluster: PrivateRedisCluster, port: number): Promise<number> {
  const info = String(await cluster.command(port, 'INFO', 'commandstats'));
  return Number(/^cmdstat_cluster\|slots:calls=(\d+)/m.exec(info)?.[1] ?? 0);
}

describe.runIf(hasRedis)('regression: stop() while the cluster client re-reads the layout', () => {
  const cluster = usePrivateCluster();

  it('leaves no connection behind once the re-read completes', async () => {
    const c = cluster.current;
    const keys = createKeyLayout(freshPrefix());
    const a = await startStoreOn({
      redis: { rootNodes: [...c.urls] },
      keyPrefix: keys.prefix,
      nodeId: 'a',
      commandTimeoutMs: 300,
    });
    // A master that stop() sends nothing to: neither the registry's nor the index's.
    const registry = await c.masterOf(keys.registry.leases);
    const index = await c.masterOf(keys.incarnationUsers(a.store.incarnation));
    const quiet = c.masters.find((m) => m.port !== registry.port && m.port !== index.port);
    if (quiet === undefined) throw new Error('no master besides the registry’s and the index’s');
    const elsewhere = c.masters.filter((m) => m !== quiet).map((m) => m.port);
    const user = `u${(await keyOffMasters(c, (i) => keys.user(`u${i}`), elsewhere)).index}`;
    // The user's slot (empty) moves to the registry's master: the store's client still sends it to `quiet`.
    const slot = String(await c.command(registry.port, 'CLUSTER', 'KEYSLOT', keys.user(user)));
    for (const port of [registry.port, quiet.port, index.port])
      expect(await c.command(port, 'CLUSTER', 'SETSLOT', slot, 'NODE', registry.id)).toBe('OK');
    await c.command(quiet.port, 'CONFIG', 'RESETSTAT');
    expect(await c.command(quiet.port, 'CLIENT', 'PAUSE', '700', 'ALL')).toBe('OK');

    // MOVED at once; node-redis re-reads the layout from `quiet`, on a new connection that
    // waits; the admission fails by its deadline meanwhile (300 ms, within the pause), then stop().
    await expect(a.store.admit(user, 'a1', 3, 3)).rejects.toMatchObject({ code: 'WSSUP_STORE_UNAVAILABLE' });
    await a.store.stop();

    // The pause over (the helper's own command waits for it), the re-read's CLUSTER SLOTS is
    // answered there: a client it makes connects within ms, and must not stay.
    await vi.waitFor(async () => expect(await slotsCalls(c, quiet.port)).toBe(1), { interval: 10 });
    expect(await redirects(c, quiet.port)).toBe(1);
    await vi.waitFor(async () => expect(await clientsLeft(c)).toEqual([]), { interval: 50 });
    for (let i = 0; i < 10; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await clientsLeft(c)).toEqual([]);
    }
  });
});
