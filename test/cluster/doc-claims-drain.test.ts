/**
 * docs/cluster-store.md, "Draining one node", and the README's failure mode
 * "Shutdown", checked as a user would on a private redis-server with two
 * supervisors on real sockets: from the call of shutdown() the node says it
 * does not admit (`stats().admission`, what /readyz reads), refuses new
 * upgrades with 503, closes its connections with 1001, and before shutdown()
 * resolves it has released every slot and given back its lease, "so other
 * nodes can use the slots at once": the other node admits the user up to the
 * limit again straight away, though the drained node's lease TTL (60 s) is far
 * from over. Test preset: limit 5.
 */
import { describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { SimulatedClock } from 'xstate';
import { httpRefusal } from '../helpers/refusals.js';
import { closed, connect, connectRefused, ioWait, startServer, type TestServer } from '../helpers/server.js';
import { bookOf } from './cluster-nodes.js';
import { hasRedis, usePrivateRedis } from './store-fixture.js';

/** Long enough that a lease running out can never be what frees a slot in this test. */
const leaseTtlMs = 60_000;

describe.runIf(hasRedis)('docs: draining one node of a cluster', () => {
  const redis = usePrivateRedis();

  async function startNode(nodeId: string, clock?: SimulatedClock): Promise<TestServer> {
    const t = await startServer({
      ...(clock === undefined ? {} : { clock }),
      idleTimeoutMs: 1_000_000_000,
      cluster: { redis: redis.current.url, nodeId, leaseTtlMs, commandTimeoutMs: 300 },
    });
    await vi.waitFor(() => expect(t.supervisor.stats().cluster?.leaseHeld).toBe(true), ioWait);
    return t;
  }

  it('not ready from the call, 503 to newcomers, 1001 to its clients; its slots and lease are free for the other node once shutdown() resolves', async () => {
    const a = await startNode('drain-a');
    const b = await startNode('drain-b');
    const incarnationOfA = a.supervisor.stats().cluster?.incarnation;
    const held = [];
    for (let i = 0; i < 5; i++) held.push(await connect(a.url('ann')));
    expect(await bookOf(redis.current, 'ann')).toHaveLength(5);
    // The limit is the cluster's: the other node refuses her.
    expect(await connectRefused(b.url('ann'))).toBe(429);

    const closes = held.map((ws) => closed(ws));
    const shutdown = a.supervisor.shutdown();
    // "From that call stats().admission is { admitting: false, reason: 'shutting-down' }".
    expect(a.supervisor.stats().admission).toEqual({ admitting: false, reason: 'shutting-down' });
    // "It refuses new connections with 503".
    const refused = await httpRefusal(a.url('bob'));
    expect(refused.status).toBe(503);
    // "closes its connections with 1001".
    expect((await Promise.all(closes)).map(({ code }) => code)).toEqual([1001, 1001, 1001, 1001, 1001]);
    await shutdown;

    // "then it deletes its remaining entries and retires its lease before shutdown() resolves".
    expect(await bookOf(redis.current, 'ann')).toEqual([]);
    const leases = (await redis.current.command('ZRANGE', 'wssup:{nodes}:leases', '0', '-1')) as string[];
    expect(leases).not.toContain(String(incarnationOfA));
    expect(leases).toEqual([String(b.supervisor.stats().cluster?.incarnation)]);

    // "so other nodes can use the slots at once": the other node admits her up to the limit, now.
    const again = [];
    for (let i = 0; i < 5; i++) again.push(await connect(b.url('ann')));
    expect(again.every((ws) => ws.readyState === WebSocket.OPEN)).toBe(true);
    expect(await connectRefused(b.url('ann'))).toBe(429);
    const book = await bookOf(redis.current, 'ann');
    expect(book.map((entry) => entry.nodeId)).toEqual(Array(5).fill('drain-b'));
  });

  it('paced (README, Paced shutdown): each batch’s slots are free for the other node as its connections go, before the drain ends', async () => {
    const clock = new SimulatedClock(); // A's batches come when the test says
    const a = await startNode('paced-a', clock);
    const b = await startNode('paced-b');
    const held = [];
    for (let i = 0; i < 5; i++) held.push(await connect(a.url('cy')));
    expect(await connectRefused(b.url('cy'))).toBe(429);
    const closes = held.map((ws) => closed(ws));
    const settled: string[] = [];
    void closes.map((close, i) => close.then(() => settled.push(`c${i}`)));

    const shutdown = a.supervisor.shutdown({ deadlineMs: 10_000, pace: { windowMs: 3_000, batches: 3 } });
    // The first batch, at once: ceil(5 / 3) = 2 of them, the oldest (none is idle).
    await vi.waitFor(() => expect(settled).toHaveLength(2), ioWait);
    await vi.waitFor(async () => expect(await bookOf(redis.current, 'cy')).toHaveLength(3), ioWait);
    // Their slots are the other node's to take now, while A still drains the other three.
    await connect(b.url('cy'));
    await connect(b.url('cy'));
    expect(await connectRefused(b.url('cy'))).toBe(429);
    expect(a.supervisor.stats().connections).toBe(3);

    // The next batches, each awaited before the clock moves on (the test preset drains a
    // close for 500 ms of A's clock before it terminates).
    clock.increment(1_000);
    await vi.waitFor(() => expect(settled).toHaveLength(4), ioWait); // ceil(3 / 2) = 2
    clock.increment(1_000);
    expect((await Promise.all(closes)).map(({ code }) => code)).toEqual(Array(5).fill(1001));
    await shutdown;
    for (let i = 0; i < 3; i++) await connect(b.url('cy'));
    expect(await connectRefused(b.url('cy'))).toBe(429);
    expect((await bookOf(redis.current, 'cy')).map((entry) => entry.nodeId)).toEqual(
      Array(5).fill('paced-b'),
    );
  });
});
