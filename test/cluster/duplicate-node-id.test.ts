/**
 * Two live supervisors that share one `cluster.nodeId` (a misconfiguration,
 * or a container restarted with the same hostname:pid while its
 * predecessor's lease still runs), on a private redis-server. Ownership is
 * fenced by incarnation, not by node id: neither process frees, refreshes or
 * evicts the other's connections, and an eviction order for one reaches that
 * one, whichever of the two made it. Test preset: limit 5, T = 4, idle after 1 s.
 */
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import { createRedisSlotStore } from '../../src/cluster/redis-store.js';
import type { ClusterSettings } from '../../src/index.js';
import { closed, connect, ioWait, startServer, type TestServer } from '../helpers/server.js';
import { bookOf } from './cluster-nodes.js';
import { hasRedis, usePrivateRedis } from './store-fixture.js';

describe.runIf(hasRedis)('two live processes with one node id', () => {
  const redis = usePrivateRedis();

  /** A supervisor in cluster mode as node `nodeId` (default "twin"), once it holds its lease. */
  async function startTwin(
    options: { idleTimeoutMs?: number } = {},
    cluster: ClusterSettings = {},
  ): Promise<TestServer> {
    const t = await startServer({
      ...options,
      cluster: { redis: redis.current.url, nodeId: 'twin', ...cluster },
    });
    await vi.waitFor(() => expect(t.supervisor.stats().cluster?.leaseHeld).toBe(true), ioWait);
    return t;
  }

  it("one's closed connection and its shutdown free only its own slots, never the other's", async () => {
    const never = { idleTimeoutMs: 1_000_000_000 };
    const first = await startTwin(never);
    const second = await startTwin(never);
    const incarnations = [first, second].map((t) => t.supervisor.stats().cluster?.incarnation);
    expect(incarnations[0]).not.toBe(incarnations[1]);
    const ofFirst = await connect(first.url('ada'));
    const ofSecond = await connect(second.url('ada'));
    await vi.waitFor(async () => expect(await bookOf(redis.current, 'ada')).toHaveLength(2), ioWait);

    ofFirst.close();
    await vi.waitFor(async () => {
      expect((await bookOf(redis.current, 'ada')).map((entry) => entry.incarnation)).toEqual([
        incarnations[1],
      ]);
      expect(first.supervisor.stats().cluster?.pendingReleases).toBe(0);
    }, ioWait);
    await first.supervisor.shutdown();
    expect((await bookOf(redis.current, 'ada')).map((entry) => entry.incarnation)).toEqual([incarnations[1]]);
    expect(ofSecond.readyState).toBe(WebSocket.OPEN);
    // The survivor still frees its own.
    ofSecond.close();
    await vi.waitFor(async () => expect(await bookOf(redis.current, 'ada')).toEqual([]), ioWait);
  });

  it("an idle connection of one is evicted (4001) when the other's admission brings the user to T", async () => {
    const holder = await startTwin();
    const other = await startTwin();
    const quiet = await connect(holder.url('bea'));
    const quietClosed = closed(quiet);
    await vi.waitFor(
      async () => expect(await bookOf(redis.current, 'bea')).toMatchObject([{ idle: true }]),
      ioWait,
    );
    // Three on the other process: with the idle one, 4 = T, so the idle one goes. The
    // admission names it by node "twin" and the holder's incarnation: the admitting
    // process must pass the order on, not take it for one of its own left behind.
    for (let i = 0; i < 3; i++) await connect(other.url('bea'));
    let close: { code: number; reason: string } | undefined;
    void quietClosed.then((event) => {
      close = event;
    });
    await vi.waitFor(() => expect(close).toMatchObject({ code: 4001 }), ioWait);
    await vi.waitFor(async () => {
      const book = await bookOf(redis.current, 'bea');
      expect(book.map((entry) => entry.incarnation)).toEqual(
        Array(3).fill(other.supervisor.stats().cluster?.incarnation),
      );
    }, ioWait);
  });

  /** The lease expiry Redis holds for `incarnation`, or undefined once it is forgotten. */
  async function leaseOf(incarnation: number | undefined): Promise<number | undefined> {
    const score = await redis.current.command('ZSCORE', 'wssup:{nodes}:leases', String(incarnation));
    return score === null ? undefined : Number(score);
  }

  const duplicates = (t: TestServer) => t.errors.filter((error) => error.code === 'WSSUP_DUPLICATE_NODE_ID');

  it('each of two live processes with one node id reports the other once (WSSUP_DUPLICATE_NODE_ID)', async () => {
    // Renewed every 500 ms, the registry read every 100 ms: each sees the other's lease move.
    const lease = { nodeId: 'pair', leaseTtlMs: 1_500, reaperIntervalMs: 100 };
    const first = await startTwin({}, lease);
    const second = await startTwin({}, lease);
    const [one, two] = [first, second].map((t) => t.supervisor.stats().cluster?.incarnation);
    await vi.waitFor(() => {
      expect(duplicates(first)).toHaveLength(1);
      expect(duplicates(second)).toHaveLength(1);
    }, ioWait);
    expect(duplicates(first)[0]?.message).toContain(`"pair" (its incarnation ${two}, this process's ${one})`);
    expect(duplicates(second)[0]?.message).toContain(`(its incarnation ${one}, this process's ${two})`);
    // Once per incarnation: two more renewals of each, read many times meanwhile, add nothing.
    for (const incarnation of [one, two]) {
      const seen = await leaseOf(incarnation);
      await vi.waitFor(
        async () => expect(await leaseOf(incarnation)).toBeGreaterThan((seen ?? 0) + 500),
        ioWait,
      );
    }
    expect(duplicates(first)).toHaveLength(1);
    expect(duplicates(second)).toHaveLength(1);
  });

  it("a restart within its predecessor's lease is not reported: a crashed process's lease never moves", async () => {
    // The predecessor took a lease and died: nothing renews it (no lease actor drives this store).
    const crashed = createRedisSlotStore({ redis: redis.current.url, nodeId: 'heir', leaseTtlMs: 1_000 });
    onTestFinished(() => crashed.stop());
    await crashed.start({ evictionOrdered: () => {}, incarnationChanged: () => {} });
    const heir = await startTwin({}, { nodeId: 'heir', leaseTtlMs: 1_500, reaperIntervalMs: 100 });
    expect(await leaseOf(crashed.incarnation)).toBeDefined();
    // Read every 100 ms until the predecessor's lease expired and the reaper forgot it.
    await vi.waitFor(async () => expect(await leaseOf(crashed.incarnation)).toBeUndefined(), ioWait);
    expect(duplicates(heir)).toEqual([]);
    expect(heir.supervisor.stats().cluster?.leaseHeld).toBe(true);
  });
});
