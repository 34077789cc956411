/**
 * Cluster mode, an outage under `'local'`, and a reconnect that names its client instance
 * (README, "Reconnects replace their earlier connection", its cluster bullet): when Redis
 * answers again, each process books again what it admitted meanwhile, and the supersede rule
 * holds there too. Of the phone's two connections (instance X), the earlier attempt is the one
 * replaced (4001 `evicted: superseded`, on its own process), whichever process books again
 * first; the reconnect keeps its slot, never evicted as over the limit.
 *
 * Two supervisors on a private redis-server, a limit of 2: one talks to Redis directly, the
 * other through a proxy that drops every byte while it is cut off (a partition of that process
 * alone). Raw ws clients stamp their attempts (`wssup-instance=<id>.<attemptAt>`).
 */
import { describe, expect, it, vi } from 'vitest';
import type { EvictedEvent, StoreEvent } from '../../src/index.js';
import { startRedisProxy } from '../helpers/redis-proxy.js';
import { closed, connect, ioWait, startServer, type TestServer } from '../helpers/server.js';
import { bookOf } from './cluster-nodes.js';
import { hasRedis, usePrivateRedis } from './store-fixture.js';

const X = 'instance-xxxxxxxxxxxxxxxx';
const slow = { timeout: 20_000, interval: 100 } as const;
const withX = (t: TestServer, user: string, at: number) => `${t.url(user)}&wssup-instance=${X}.${at}`;

describe.runIf(hasRedis)('cluster mode: an outage under local, then a reconnect booked again', () => {
  const redis = usePrivateRedis();

  async function startNode(
    nodeId: string,
    redisUrl: string,
  ): Promise<TestServer & { evicted: EvictedEvent[]; breaker: StoreEvent['breaker'][] }> {
    const t = await startServer({
      maxConnectionsPerUser: 2,
      idleTimeoutMs: 1_000_000_000,
      cluster: { redis: redisUrl, nodeId, commandTimeoutMs: 150, onStoreUnavailable: 'local' },
    });
    await t.supervisor.ready({ signal: AbortSignal.timeout(10_000) });
    const evicted: EvictedEvent[] = [];
    t.supervisor.on('evicted', (event) => evicted.push(event));
    const breaker: StoreEvent['breaker'][] = [];
    t.supervisor.on('store', (event) => void breaker.push(event.breaker));
    return { ...t, evicted, breaker };
  }

  /** Heals the proxy, then waits until the cut-off node has booked again what it admitted meanwhile. */
  async function healed(t: Awaited<ReturnType<typeof startNode>>, heal: () => void) {
    heal();
    // Booked again at the node's next reconciliation (a renewal, or the breaker closing: an
    // admission of another user is let through a second after it opened).
    await vi.waitFor(async () => {
      if (t.breaker.at(-1) === 'open') await connect(t.url(`zed-${Date.now()}`));
      expect(t.supervisor.stats().cluster?.unsynced).toBe(0);
    }, slow);
  }

  it('the reconnect admitted locally on a process cut off: booked again, it replaces its predecessor on the other process (4001 superseded there), never evicted as over the limit', async () => {
    const proxy = await startRedisProxy(redis.current.port);
    const a = await startNode('ra-a', redis.current.url);
    const b = await startNode('ra-b', proxy.url);
    // The phone's first connection and another device fill the limit, booked on a.
    const phone = await connect(withX(a, 'u1', 100));
    const device = await connect(a.url('u1'));
    await vi.waitFor(async () => expect(await bookOf(redis.current, 'u1')).toHaveLength(2), ioWait);
    const phoneClosed = closed(phone);

    proxy.drop(true);
    // The phone changed networks; its reconnect reaches b, cut off: admitted against b's own limit.
    const reconnect = await connect(withX(b, 'u1', 200));
    expect(b.supervisor.stats().cluster).toMatchObject({ unsynced: 1 });
    const reconnectClosed = closed(reconnect);

    await healed(b, () => proxy.heal());
    // The first of the two to close is the phone's first connection, superseded.
    expect(
      await Promise.race([
        phoneClosed.then((close) => ({ phone: close })),
        reconnectClosed.then((close) => ({ reconnect: close })),
      ]),
    ).toEqual({ phone: { code: 4001, reason: 'evicted: superseded' } });
    expect(a.evicted.map((event) => event.cause)).toEqual(['superseded']);
    expect(b.evicted).toEqual([]);
    expect([reconnect.readyState, device.readyState]).toEqual([reconnect.OPEN, device.OPEN]);
    // The book holds exactly the sockets: the device on a, the reconnect on b.
    await vi.waitFor(async () => {
      const book = await bookOf(redis.current, 'u1');
      expect(book.map((entry) => entry.nodeId).sort()).toEqual(['ra-a', 'ra-b']);
    }, slow);
  });

  it('the other order: the reconnect booked first, the earlier attempt booked again later is the one replaced (4001 superseded), not as over the limit', async () => {
    const proxy = await startRedisProxy(redis.current.port);
    const a = await startNode('ra-c', proxy.url);
    const b = await startNode('ra-d', redis.current.url);
    const device = await connect(b.url('u2'));
    await vi.waitFor(async () => expect(await bookOf(redis.current, 'u2')).toHaveLength(1), ioWait);

    proxy.drop(true);
    // The phone connects to a, cut off: admitted locally, unsynced.
    const phone = await connect(withX(a, 'u2', 100));
    expect(a.supervisor.stats().cluster).toMatchObject({ unsynced: 1 });
    const phoneClosed = closed(phone);
    // Then it reconnects on b, which books it: the user is at the limit in the book.
    const reconnect = await connect(withX(b, 'u2', 200));
    await vi.waitFor(async () => expect(await bookOf(redis.current, 'u2')).toHaveLength(2), ioWait);

    await healed(a, () => proxy.heal());
    expect(await phoneClosed).toEqual({ code: 4001, reason: 'evicted: superseded' });
    expect(a.evicted.map((event) => event.cause)).toEqual(['superseded']);
    expect(b.evicted).toEqual([]);
    expect([reconnect.readyState, device.readyState]).toEqual([reconnect.OPEN, device.OPEN]);
    await vi.waitFor(async () => {
      const book = await bookOf(redis.current, 'u2');
      expect(book.map((entry) => entry.nodeId).sort()).toEqual(['ra-d', 'ra-d']);
    }, slow);
  });
});
