/**
 * The README, "Running several processes", failure modes "Redis is unreachable" and
 * "Redis answers again": under `'local'` a process cut off from Redis "admits against
 * this process's own limit and marks those connections unsynced"; when Redis answers
 * again "unsynced connections are booked, and over the limit the idle ones among them, then
 * the newest, are evicted (4001) ...; a connection the book held before the outage keeps its
 * slot, idle or not". Existing connections are kept. (The README said "the idle ones" without
 * "among them": the second test shows that an idle one booked before the outage is not
 * evicted for an active unsynced one, as the readmit script's contract in
 * docs/cluster-store.md says: what the book lacks is added while the user has a free slot.)
 *
 * On a private redis-server: node B talks to it directly and holds three of dee's
 * connections; node A talks to it through a proxy that drops every byte (a partition
 * of A alone). Cut off, A admits three more of dee's (six for a limit of five): the
 * oldest of them turns idle, the two newer ones stay active. Once the proxy forwards
 * again, one is over: the idle one goes, though it is the oldest (the newest would go
 * by age alone). Test preset: limit 5, T = 4.
 */
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import type { StoreEvent } from '../../src/index.js';
import { startRedisProxy } from '../helpers/redis-proxy.js';
import { closed, connect, ioWait, startServer } from '../helpers/server.js';
import { bookOf } from './cluster-nodes.js';
import { hasRedis, usePrivateRedis } from './store-fixture.js';

const slow = { timeout: 20_000, interval: 100 } as const;

describe.runIf(hasRedis)('docs: unsynced connections booked when Redis answers again', () => {
  const redis = usePrivateRedis();

  it("'local': admitted unsynced while cut off; back, over the limit the idle one goes (4001), not the newest", async () => {
    const proxy = await startRedisProxy(redis.current.port);
    const a = await startServer({
      idleTimeoutMs: 1_500,
      cluster: { redis: proxy.url, nodeId: 'cut-a', commandTimeoutMs: 150, onStoreUnavailable: 'local' },
    });
    const b = await startServer({
      idleTimeoutMs: 1_000_000_000,
      cluster: { redis: redis.current.url, nodeId: 'direct-b' },
    });
    for (const t of [a, b]) await t.supervisor.ready({ signal: AbortSignal.timeout(10_000) });
    const events: StoreEvent['breaker'][] = [];
    a.supervisor.on('store', (event) => void events.push(event.breaker));
    for (let i = 0; i < 3; i++) await connect(b.url('dee'));
    await vi.waitFor(async () => expect(await bookOf(redis.current, 'dee')).toHaveLength(3), ioWait);

    proxy.drop(true);
    const [oldest, middle, newest] = [
      await connect(a.url('dee')),
      await connect(a.url('dee')),
      await connect(a.url('dee')),
    ] as [WebSocket, WebSocket, WebSocket];
    // Admitted against A's own limit, and unsynced: the book still holds B's three.
    expect(a.supervisor.stats().cluster).toMatchObject({ breaker: 'open', unsynced: 3 });
    expect(events).toEqual(['open']);
    expect(await bookOf(redis.current, 'dee')).toHaveLength(3);
    // The two newer ones keep talking; the oldest turns idle.
    const talk = setInterval(() => {
      for (const ws of [middle, newest]) if (ws.readyState === WebSocket.OPEN) ws.send('here');
    }, 200);
    onTestFinished(() => clearInterval(talk));
    await vi.waitFor(() => expect(a.supervisor.userStats('dee')).toMatchObject({ live: 3, idle: 1 }), slow);

    const closes = [oldest, middle, newest].map((ws) => closed(ws).then((close) => close.code));
    proxy.heal();
    // The next store call a second after the breaker opened is let through: an admission
    // of another user is one, and its success closes the breaker.
    await vi.waitFor(async () => {
      await connect(a.url(`zed-${Date.now()}`));
      expect(events).toEqual(['open', 'closed']);
    }, slow);
    await vi.waitFor(() => expect(a.supervisor.stats().cluster?.unsynced).toBe(0), slow);
    expect(await closes[0]).toBe(4001);
    clearInterval(talk);
    expect([middle.readyState, newest.readyState]).toEqual([WebSocket.OPEN, WebSocket.OPEN]);
    expect(a.supervisor.userStats('dee')).toMatchObject({ live: 2 });
    // The book holds exactly the sockets: B's three and A's two active ones.
    await vi.waitFor(async () => {
      const book = await bookOf(redis.current, 'dee');
      expect(book.map((entry) => entry.nodeId).sort()).toEqual([
        'cut-a',
        'cut-a',
        'direct-b',
        'direct-b',
        'direct-b',
      ]);
    }, slow);
  });

  /**
   * The rule picks among the connections booked again, the unsynced ones: one the book held
   * before the outage keeps its slot, idle or not. Here A's oldest was booked before A was cut
   * off and turns idle meanwhile; the two admitted unsynced stay active: the newest goes. Then
   * the oldest's idle edge, unconfirmed in the outage, reaches the book, and the user is at T
   * (B's three and A's two for T = 4): it goes as idle, as it would have on one process.
   */
  it("'local': over the limit, the newest unsynced one goes, not the idle one booked before the outage, which then goes at T", async () => {
    const proxy = await startRedisProxy(redis.current.port);
    const a = await startServer({
      idleTimeoutMs: 1_500,
      cluster: { redis: proxy.url, nodeId: 'cut-a2', commandTimeoutMs: 150, onStoreUnavailable: 'local' },
    });
    const b = await startServer({
      idleTimeoutMs: 1_000_000_000,
      cluster: { redis: redis.current.url, nodeId: 'direct-b2' },
    });
    for (const t of [a, b]) await t.supervisor.ready({ signal: AbortSignal.timeout(10_000) });
    const events: StoreEvent['breaker'][] = [];
    a.supervisor.on('store', (event) => void events.push(event.breaker));
    for (let i = 0; i < 3; i++) await connect(b.url('eve'));
    const booked = await connect(a.url('eve'));
    await vi.waitFor(async () => expect(await bookOf(redis.current, 'eve')).toHaveLength(4), ioWait);

    proxy.drop(true);
    const [middle, newest] = [await connect(a.url('eve')), await connect(a.url('eve'))] as [
      WebSocket,
      WebSocket,
    ];
    expect(a.supervisor.stats().cluster?.unsynced).toBe(2);
    expect(await bookOf(redis.current, 'eve')).toHaveLength(4);
    const talk = setInterval(() => {
      for (const ws of [middle, newest]) if (ws.readyState === WebSocket.OPEN) ws.send('here');
    }, 200);
    onTestFinished(() => clearInterval(talk));
    await vi.waitFor(() => expect(a.supervisor.userStats('eve')).toMatchObject({ live: 3, idle: 1 }), slow);

    const newestClosed = closed(newest);
    const bookedClosed = closed(booked);
    proxy.heal();
    await vi.waitFor(async () => {
      await connect(a.url(`zed-${Date.now()}`));
      expect(events.at(-1)).toBe('closed');
    }, slow);
    await vi.waitFor(() => expect(a.supervisor.stats().cluster?.unsynced).toBe(0), slow);
    expect(await newestClosed).toEqual({ code: 4001, reason: 'evicted: over the limit' });
    expect(await bookedClosed).toEqual({ code: 4001, reason: 'evicted: idle' });
    clearInterval(talk);
    expect(middle.readyState).toBe(WebSocket.OPEN);
    expect(a.supervisor.userStats('eve')).toMatchObject({ live: 1, idle: 0 });
    await vi.waitFor(async () => {
      const book = await bookOf(redis.current, 'eve');
      expect(book.map((entry) => entry.nodeId).sort()).toEqual([
        'cut-a2',
        'direct-b2',
        'direct-b2',
        'direct-b2',
      ]);
    }, slow);
  });
});
