/**
 * What the docs promise about a process whose lease was lost while it was alive, on a
 * private redis-server with two supervisors on real sockets:
 *
 * - docs/cluster-store.md, "A node crashed": to free a node's slots sooner, "expire its
 *   lease: `ZADD wssup:{nodes}:leases XX 0 <incarnation>` ... (Were it alive after all, its
 *   next renewal finds the lease lost, takes a new incarnation and books again what it
 *   holds, evicting what no longer fits, as after a long pause.)"
 * - the README's failure mode "A process pauses past its lease": "what no longer fits is
 *   evicted (4001), idle ones first, then the newest", and "Then, for each user with an idle
 *   connection it booked again, one idle edge (its longest-idle one) checks the rule at T
 *   against the whole book, so a user left at T or above goes down by its longest idle
 *   (4001, `evicted: idle`), whichever process holds it."
 *
 * Node A runs on a simulated clock that only the test advances, so its idleness and its
 * next renewal come exactly when the test says; node B runs on the real clock and its
 * reaper purges A's entries once A's lease is expired by hand. Test preset: limit 5, T = 4.
 * A's oldest connection is the idle one, so that "idle ones first" and "oldest first" differ.
 */
import { describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { SimulatedClock } from 'xstate';
import { closed, connect, ioWait, nextMessage, startServer } from '../helpers/server.js';
import { bookOf } from './cluster-nodes.js';
import { hasRedis, usePrivateRedis } from './store-fixture.js';

/** A's lease: renewed every third of it, on A's simulated clock. */
const leaseTtlMs = 3_000;

describe.runIf(hasRedis)('docs: a lease expired by hand under a live process', () => {
  const redis = usePrivateRedis();

  it('its next renewal takes a new incarnation and books again what it holds; what no longer fits is evicted (4001), idle ones first, then the newest', async () => {
    const clock = new SimulatedClock();
    const a = await startServer({
      clock,
      idleTimeoutMs: 800,
      heartbeatIntervalMs: 1_000_000_000,
      cluster: { redis: redis.current.url, nodeId: 'held-a', leaseTtlMs, commandTimeoutMs: 300 },
    });
    const b = await startServer({
      idleTimeoutMs: 1_000_000_000,
      cluster: { redis: redis.current.url, nodeId: 'held-b', leaseTtlMs: 1_500, commandTimeoutMs: 300 },
    });
    await vi.waitFor(() => {
      for (const t of [a, b]) expect(t.supervisor.stats().cluster?.leaseHeld).toBe(true);
    }, ioWait);
    const first = a.supervisor.stats().cluster?.incarnation as number;

    // A holds three of dee's connections, opened in this order at A's time 0 (three: below T,
    // where an idle one is not evicted by the local rule).
    const [quiet, middle, newest] = [
      await connect(a.url('dee')),
      await connect(a.url('dee')),
      await connect(a.url('dee')),
    ] as [WebSocket, WebSocket, WebSocket];
    // The two newer ones are active at 500; the oldest turns idle at 800 (its idle edge is booked).
    clock.increment(500);
    for (const ws of [middle, newest]) {
      ws.send('still here');
      await nextMessage(ws);
    }
    clock.increment(400);
    await vi.waitFor(async () => {
      expect(a.supervisor.userStats('dee')).toMatchObject({ live: 3, idle: 1 });
      expect((await bookOf(redis.current, 'dee')).filter((entry) => entry.idle)).toHaveLength(1);
    }, ioWait);

    // The operator expires A's lease by hand; B's reaper purges its entries and forgets it.
    expect(await redis.current.command('ZADD', 'wssup:{nodes}:leases', 'XX', '0', String(first))).toBe(0);
    await vi.waitFor(async () => {
      expect(await bookOf(redis.current, 'dee')).toEqual([]);
      const leases = (await redis.current.command('ZRANGE', 'wssup:{nodes}:leases', '0', '-1')) as string[];
      expect(leases).not.toContain(String(first));
    }, ioWait);
    // B takes four of the five slots meanwhile: one is left for A's three connections.
    for (let i = 0; i < 4; i++) await connect(b.url('dee'));
    expect((await bookOf(redis.current, 'dee')).map((entry) => entry.nodeId)).toEqual(
      Array(4).fill('held-b'),
    );
    expect(a.supervisor.stats().cluster?.incarnation).toBe(first); // A has not renewed since

    // A's next renewal (at 1000, before the others idle at 1300): lease lost, new incarnation,
    // booked again: active ones first, oldest first, then the idle one.
    const closes = [quiet, middle, newest].map((ws) => closed(ws));
    clock.increment(100);
    await vi.waitFor(() => {
      expect(a.supervisor.stats().cluster?.incarnation).toBeGreaterThan(first);
      expect(a.supervisor.stats().counters.evicted).toBe(2);
    }, ioWait);
    // The idle one goes though it is the oldest, then the newest; the older active one keeps its slot.
    const over = { code: 4001, reason: 'evicted: over the limit' };
    expect(await closes[0]).toEqual(over);
    expect(await closes[2]).toEqual(over);
    expect(middle.readyState).toBe(WebSocket.OPEN);
    const book = await bookOf(redis.current, 'dee');
    expect(book).toHaveLength(5);
    const incarnation = a.supervisor.stats().cluster?.incarnation;
    expect(book.filter((entry) => entry.nodeId === 'held-a').map((entry) => entry.incarnation)).toEqual([
      incarnation,
    ]);
    expect(a.supervisor.userStats('dee')).toMatchObject({ live: 1, idle: 0 });
  });

  it('booked again all idle at T, the user loses its longest idle (4001, evicted: idle): the re-admission is followed by one judging idle edge', async () => {
    const clock = new SimulatedClock();
    const a = await startServer({
      clock,
      idleTimeoutMs: 800,
      heartbeatIntervalMs: 1_000_000_000,
      cluster: { redis: redis.current.url, nodeId: 'judged-a', leaseTtlMs, commandTimeoutMs: 300 },
    });
    const b = await startServer({
      idleTimeoutMs: 200,
      heartbeatIntervalMs: 1_000_000_000,
      cluster: { redis: redis.current.url, nodeId: 'judged-b', leaseTtlMs: 1_500, commandTimeoutMs: 300 },
    });
    await vi.waitFor(() => {
      for (const t of [a, b]) expect(t.supervisor.stats().cluster?.leaseHeld).toBe(true);
    }, ioWait);
    const first = a.supervisor.stats().cluster?.incarnation as number;

    // A holds two of eve's connections (below T: the local rule evicts neither); the first
    // turns idle at A's 800, the second at 900. Their edges judge a book of two: no victim.
    const [older, younger] = [await connect(a.url('eve')), await connect(a.url('eve'))] as [
      WebSocket,
      WebSocket,
    ];
    clock.increment(100);
    younger.send('still here');
    await nextMessage(younger);
    clock.increment(800);
    await vi.waitFor(async () => {
      expect(a.supervisor.userStats('eve')).toMatchObject({ live: 2, idle: 2 });
      expect((await bookOf(redis.current, 'eve')).filter((entry) => entry.idle)).toHaveLength(2);
    }, ioWait);

    // A's lease expired by hand (a pause past it); B's reaper purges A's entries.
    expect(await redis.current.command('ZADD', 'wssup:{nodes}:leases', 'XX', '0', String(first))).toBe(0);
    await vi.waitFor(async () => expect(await bookOf(redis.current, 'eve')).toEqual([]), ioWait);
    // B takes two of eve's connections, which turn idle: their edges judge a book of two, no victim.
    const onB = [await connect(b.url('eve')), await connect(b.url('eve'))];
    await vi.waitFor(async () => {
      const book = await bookOf(redis.current, 'eve');
      expect(book.filter((entry) => entry.idle && entry.nodeId === 'judged-b')).toHaveLength(2);
    }, ioWait);
    expect(a.supervisor.stats().cluster?.incarnation).toBe(first); // A has not renewed since

    // A's next renewal (at 1000): lease lost, new incarnation, both booked again, idle: four of
    // eve's, all idle, at T 4. A's idle times (its clock starts at 0) are the longest.
    const closes = [older, younger].map((ws) => closed(ws));
    clock.increment(100);
    await vi.waitFor(() => {
      expect(a.supervisor.stats().cluster?.incarnation).toBeGreaterThan(first);
      expect(a.supervisor.stats().counters.evicted).toBe(1);
    }, ioWait);
    expect(await closes[0]).toEqual({ code: 4001, reason: 'evicted: idle' });
    expect(younger.readyState).toBe(WebSocket.OPEN);
    for (const ws of onB) expect(ws.readyState).toBe(WebSocket.OPEN);
    await vi.waitFor(async () => {
      const book = await bookOf(redis.current, 'eve');
      expect(book.map((entry) => entry.nodeId).sort()).toEqual(['judged-a', 'judged-b', 'judged-b']);
    }, ioWait);
  });
});
