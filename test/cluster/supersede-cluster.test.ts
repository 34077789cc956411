/**
 * Cluster mode and a reconnect that names its client instance (README, "Reconnects replace
 * their earlier connection", its cluster bullet): the cluster-wide book does not know
 * instances, and reserves a slot before the local machines decide. Two supervisors on a
 * private redis-server, a limit of 3, raw ws clients that stamp their attempts.
 */
import { describe, expect, it } from 'vitest';
import type { EvictedEvent } from '../../src/index.js';
import { closed, connect, connectRefused, ioWait, startServer, type TestServer } from '../helpers/server.js';
import { hasRedis, usePrivateRedis } from './store-fixture.js';

const X = 'instance-xxxxxxxxxxxxxxxx';
let attempts = 0;
/** A URL of `user` naming instance X, each attempt later than the last. */
const withX = (t: TestServer, user: string) => {
  attempts += 1;
  return `${t.url(user)}&wssup-instance=${X}.${attempts}`;
};

describe.runIf(hasRedis)('cluster mode: a reconnect naming its client instance', () => {
  const redis = usePrivateRedis();

  async function startNode(nodeId: string): Promise<TestServer & { evicted: EvictedEvent[] }> {
    const t = await startServer({
      maxConnectionsPerUser: 3,
      idleTimeoutMs: 1_000_000_000,
      cluster: { redis: redis.current.url, nodeId, leaseTtlMs: 3_000, commandTimeoutMs: 300 },
    });
    await t.supervisor.ready({ signal: AbortSignal.timeout(10_000) });
    const evicted: EvictedEvent[] = [];
    t.supervisor.on('evicted', (event) => evicted.push(event));
    return { ...t, evicted };
  }

  const clusterLive = async (t: TestServer, user: string) =>
    (await t.supervisor.userStats(user, { cluster: true }))?.live;

  it('at the cluster-wide limit, is refused with 429 as before: nothing is replaced', async () => {
    const a = await startNode('sup-a');
    const b = await startNode('sup-b');
    await connect(withX(a, 'u1'));
    await connect(a.url('u1'));
    await connect(b.url('u1'));
    expect(await connectRefused(withX(a, 'u1'))).toBe(429);
    expect(a.evicted).toEqual([]);
    expect(a.supervisor.userStats('u1')).toMatchObject({ live: 2 });
  });

  it("below it, on the predecessor's process, replaces it; the book frees its slot once it has drained", async () => {
    const a = await startNode('sup-c');
    const first = await connect(withX(a, 'u2'));
    const firstClosed = closed(first);
    await connect(withX(a, 'u2'));
    expect(a.evicted.map((event) => event.cause)).toEqual(['superseded']);
    expect((await firstClosed).reason).toBe('evicted: superseded');
    expect(a.supervisor.userStats('u2')).toMatchObject({ live: 1 });
    await expect.poll(() => clusterLive(a, 'u2'), ioWait).toBe(1);
  });

  it('on another process, replaces nothing: both are admitted', async () => {
    const a = await startNode('sup-d');
    const b = await startNode('sup-e');
    await connect(withX(a, 'u3'));
    await connect(withX(b, 'u3'));
    expect([...a.evicted, ...b.evicted]).toEqual([]);
    await expect.poll(() => clusterLive(a, 'u3'), ioWait).toBe(2);
  });
});
