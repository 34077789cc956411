/**
 * Two live supervisors that share one `cluster.nodeId` (a misconfiguration,
 * or a container restarted with the same hostname:pid while its
 * predecessor's lease still runs), on a private redis-server. Ownership is
 * fenced by incarnation, not by node id: neither process frees, refreshes or
 * evicts the other's connections, and an eviction order for one reaches that
 * one, whichever of the two made it. Test preset: limit 5, T = 4, idle after 1 s.
 */
import { describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { closed, connect, ioWait, startServer, type TestServer } from '../helpers/server.js';
import { bookOf } from './cluster-nodes.js';
import { hasRedis, usePrivateRedis } from './store-fixture.js';

describe.runIf(hasRedis)('two live processes with one node id', () => {
  const redis = usePrivateRedis();

  /** A supervisor in cluster mode as node "twin", once it holds its lease. */
  async function startTwin(options: { idleTimeoutMs?: number } = {}): Promise<TestServer> {
    const t = await startServer({ ...options, cluster: { redis: redis.current.url, nodeId: 'twin' } });
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
});
