/**
 * A bounded cluster-wide read (stats({ cluster: true, maxBooks })) while one master of a Redis
 * Cluster is away (CLIENT PAUSE: its clients wait, the cluster stays up): `capped.read` counts
 * the books that answered, not those asked for. It said `read: 3` while one book had answered,
 * the other two counted in `unread.users` too (a review). A real 3-master cluster, the store's
 * own cluster client.
 */
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { connect, ioWait, startServer } from '../helpers/server.js';
import { freshPrefix, hasRedis, usePrivateCluster } from './store-fixture.js';

/** How long the master is paused: the read fits well inside it. */
const PAUSE_MS = 4_000;

describe.runIf(hasRedis)('a bounded cluster-wide read with one master of a Redis Cluster away', () => {
  const cluster = usePrivateCluster();

  it("capped.read is the books that answered: the paused master's are in unread, not in read", async () => {
    const c = cluster.current;
    const keyPrefix = freshPrefix();
    const server = await startServer({
      cluster: {
        redis: { rootNodes: [...c.urls] },
        nodeId: 's',
        keyPrefix,
        leaseTtlMs: 3_000,
        commandTimeoutMs: 200,
      },
    });
    await vi.waitFor(() => expect(server.supervisor.stats().cluster?.leaseHeld).toBe(true), ioWait);
    // The master to pause: neither the registry's (the lease renews, the view reads it) nor the
    // one of this node's index (the view reads its users there). Found by asking the cluster.
    const incarnation = server.supervisor.stats().cluster?.incarnation;
    const kept = new Set([
      (await c.masterOf(`${keyPrefix}:{nodes}:leases`)).port,
      (await c.masterOf(`${keyPrefix}:{i:${incarnation}}:users`)).port,
    ]);
    const paused = c.masters.map((master) => master.port).find((port) => !kept.has(port)) as number;
    // Three users whose books live on it, one whose book lives elsewhere.
    const there: string[] = [];
    let elsewhere: string | undefined;
    for (let i = 0; (there.length < 3 || elsewhere === undefined) && i < 500; i++) {
      const { port } = await c.masterOf(`${keyPrefix}:{u:user${i}}:slots`);
      if (port === paused && there.length < 3) there.push(`user${i}`);
      else if (port !== paused && elsewhere === undefined) elsewhere = `user${i}`;
    }
    for (const user of [...there, elsewhere as string]) await connect(server.url(user));
    await vi.waitFor(
      async () => expect((await server.supervisor.stats({ cluster: true })).global.users).toBe(4),
      ioWait,
    );

    await c.command(paused, 'CLIENT', 'PAUSE', String(PAUSE_MS), 'ALL');
    const pausedAt = Date.now();
    onTestFinished(() => new Promise((resolve) => setTimeout(resolve, PAUSE_MS - (Date.now() - pausedAt))));
    // Three books asked for of four booked: at least two of them on the paused master.
    const { global } = await server.supervisor.stats({ cluster: true, maxBooks: 3 });
    expect(Date.now() - pausedAt).toBeLessThan(PAUSE_MS); // read while the master was paused
    expect(global.unread?.users).toBeGreaterThanOrEqual(2);
    expect(global.capped).toEqual({ read: 3 - (global.unread?.users ?? 0), booked: 4 });
    // Each book that answered holds one live connection: read is what the totals count.
    expect(global.users).toBe(global.capped?.read);
    expect(global.connections).toBe(global.capped?.read);
  }, 40_000);
});
