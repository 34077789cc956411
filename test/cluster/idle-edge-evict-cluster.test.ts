/**
 * An idle edge judges the eviction rule against the user's whole book, as an admission does
 * (README, "The rules": the supervisor checks "on every admission and whenever a child turns
 * idle"). Found by a review: in cluster mode the idle edge checked only its own process's
 * connections, so a user with limit 3 (T = 3) holding two idle connections on one process and
 * one on another stayed at T, all idle, until the user's next admission. Now the store's
 * setIdle names the longest-idle entries to evict (on any node), and the runtime applies
 * those orders as it applies an admission's: its own here, another node's over pub/sub.
 *
 * Real redis-server, two supervisors on real sockets, no admission after the third.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import type { SupervisorOptions } from '../../src/index.js';
import { closed, connect, nextMessage, startServer, type TestServer } from '../helpers/server.js';
import { speakOnceFirstIsHalfIdle } from './idle-edge-order.js';
import { freshPrefix, hasRedis, usePrivateRedis } from './store-fixture.js';

describe.runIf(hasRedis)('cluster: an idle edge evicts against the whole book', () => {
  const redis = usePrivateRedis();

  async function twoNodes(
    maxConnectionsPerUser: number,
    options: Partial<SupervisorOptions> = {},
  ): Promise<[TestServer, TestServer]> {
    const keyPrefix = freshPrefix();
    const start = (nodeId: string) =>
      startServer({
        ...options,
        maxConnectionsPerUser,
        cluster: { redis: redis.current.url, nodeId, keyPrefix, leaseTtlMs: 3_000, commandTimeoutMs: 500 },
      });
    const nodes: [TestServer, TestServer] = [await start('ie-a'), await start('ie-b')];
    await Promise.all(nodes.map((t) => t.supervisor.ready({ signal: AbortSignal.timeout(10_000) })));
    return nodes;
  }

  /** Waits until the book shows `idle` of the user's connections idle (the test preset: idle after 1 s). */
  async function bookShows(
    node: TestServer,
    userId: string,
    book: { live: number; idle: number },
  ): Promise<void> {
    await vi.waitFor(
      async () => {
        expect(await node.supervisor.userStats(userId, { cluster: true })).toMatchObject(book);
      },
      { timeout: 10_000, interval: 25 },
    );
  }

  function record(nodes: readonly TestServer[]) {
    const seen = { admitted: 0, evicted: [] as string[] };
    for (const t of nodes) {
      t.supervisor.on('admitted', () => {
        seen.admitted += 1;
      });
      t.supervisor.on('evicted', (event) => void seen.evicted.push(event.cause));
    }
    return seen;
  }

  // Every connection is admitted while the others are still active, so no admission evicts
  // (an admission counts idle entries only once they are idle): only an idle edge can.

  it('limit 3 (T = 3): two on A and one on B, all turning idle: the longest idle (the first) is evicted with 4001, no admission needed', async () => {
    const [a, b] = await twoNodes(3);
    const seen = record([a, b]);
    const first = await connect(a.url('ivy'));
    const firstClosed = closed(first);
    const [firstHandle] = a.supervisor.connectionsOf('ivy');
    const second = await connect(a.url('ivy'));
    const third = await connect(b.url('ivy'));
    await speakOnceFirstIsHalfIdle(firstHandle, [second, third]);
    await vi.waitFor(() => expect(seen.evicted).toEqual(['idle']), { timeout: 10_000 });
    const { code, reason } = await firstClosed;
    expect(code).toBe(4001);
    expect(reason.startsWith('evicted')).toBe(true);
    expect(seen.evicted).toEqual(['idle']);
    expect(seen.admitted).toBe(3);
    // Below T now: the other two stay, idle.
    await bookShows(b, 'ivy', { live: 2, idle: 2 });
    expect([second.readyState, third.readyState]).toEqual([WebSocket.OPEN, WebSocket.OPEN]);
    expect(seen.evicted).toEqual(['idle']);
  });

  it('limit 3 (T = 3): the first on B, two on A: the longest idle, on B, is evicted with 4001', async () => {
    const [a, b] = await twoNodes(3);
    const seen = record([a, b]);
    const first = await connect(b.url('ida'));
    const firstClosed = closed(first);
    const [firstHandle] = b.supervisor.connectionsOf('ida');
    const others = [await connect(a.url('ida')), await connect(a.url('ida'))];
    await speakOnceFirstIsHalfIdle(firstHandle, others);
    await vi.waitFor(() => expect(seen.evicted).toEqual(['idle']), { timeout: 10_000 });
    expect((await firstClosed).code).toBe(4001);
    expect(seen.evicted).toEqual(['idle']);
    expect(seen.admitted).toBe(3);
    await bookShows(a, 'ida', { live: 2, idle: 2 });
    expect(others.map((ws) => ws.readyState)).toEqual([WebSocket.OPEN, WebSocket.OPEN]);
  });

  it('limit 5 (T = 4): three idle over two processes stay; four all turning idle lose the longest idle only', async () => {
    const [a, b] = await twoNodes(5);
    const seen = record([a, b]);
    const three = [await connect(a.url('ike')), await connect(b.url('ike')), await connect(a.url('ike'))];
    await bookShows(a, 'ike', { live: 3, idle: 3 });
    expect(seen.evicted).toEqual([]);
    expect(three.map((ws) => ws.readyState)).toEqual([WebSocket.OPEN, WebSocket.OPEN, WebSocket.OPEN]);
    const first = await connect(b.url('ilo'));
    const firstClosed = closed(first);
    const [firstHandle] = b.supervisor.connectionsOf('ilo');
    const rest = [await connect(a.url('ilo')), await connect(b.url('ilo')), await connect(a.url('ilo'))];
    await speakOnceFirstIsHalfIdle(firstHandle, rest);
    await vi.waitFor(() => expect(seen.evicted).toEqual(['idle']), { timeout: 10_000 });
    expect((await firstClosed).code).toBe(4001);
    await bookShows(a, 'ilo', { live: 3, idle: 3 });
    expect(seen.evicted).toEqual(['idle']);
    expect(rest.map((ws) => ws.readyState)).toEqual([WebSocket.OPEN, WebSocket.OPEN, WebSocket.OPEN]);
  });

  // What this covers: evictionThreshold 0 end to end on two processes (each node's T is 0, the
  // talker on the other process is not evicted, 0.7 keeps a lone one). Not the setIdle script's
  // T = 0 (evictAt 0 judged, not read as "none"): here each node's own supervisor evicts its
  // connection at its idle edge, whatever the store answers, so this passes with the old script
  // too. store-idle-evict.test.ts ("T = 0 (evictionThreshold 0) is a T, not none") covers that.
  it('evictionThreshold 0 (T = 0): a lone idle connection is evicted with 4001, on either process, and one that talks stays; at 0.7 a lone one stays idle', async () => {
    const [a, b] = await twoNodes(5, { evictionThreshold: 0 });
    const seen = record([a, b]);
    const lone = await connect(a.url('una'));
    const loneClosed = closed(lone);
    const talker = await connect(b.url('una'));
    const quietOnB = await connect(b.url('uma'));
    const quietClosed = closed(quietOnB);
    expect(await a.supervisor.userStats('una', { cluster: true })).toMatchObject({ live: 2 });
    expect(a.supervisor.userStats('una')).toMatchObject({ live: 1, evictAt: 0 });
    // The talker speaks every 300 ms (the test preset's idleTimeoutMs is 1 s) until both quiet ones are gone.
    let talking = true;
    const talk = (async () => {
      while (talking) {
        const echoed = nextMessage(talker);
        talker.send('still here');
        expect(await echoed).toBe('still here');
        await delay(300);
      }
    })();
    try {
      expect((await loneClosed).code).toBe(4001);
      expect((await quietClosed).code).toBe(4001);
    } finally {
      talking = false;
      await talk;
    }
    expect(seen.evicted).toEqual(['idle', 'idle']);
    expect(talker.readyState).toBe(WebSocket.OPEN);
    await bookShows(a, 'una', { live: 1, idle: 0 });

    const [c, d] = await twoNodes(5, { evictionThreshold: 0.7 }); // T = 4
    const kept = record([c, d]);
    const alone = await connect(c.url('ulf'));
    await bookShows(d, 'ulf', { live: 1, idle: 1 });
    expect(kept.evicted).toEqual([]);
    expect(alone.readyState).toBe(WebSocket.OPEN);
  });
});
