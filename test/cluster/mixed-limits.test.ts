/**
 * Operator trial: nodes started with different `maxConnectionsPerUser` (`--max-per-user`) are
 * accepted silently, and each admission is decided against the admitting node's limit, so a
 * user's limit depends on the node the balancer sends him to (README, Running several
 * processes: set the same limit on every node). Two supervisors on a private redis-server.
 */
import { describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import type { RejectedEvent } from '../../src/index.js';
import { closed, connect, connectRefused, ioWait, startServer, type TestServer } from '../helpers/server.js';
import { hasRedis, usePrivateRedis } from './store-fixture.js';

describe.runIf(hasRedis)('cluster mode: nodes with different per-user limits', () => {
  const redis = usePrivateRedis();

  async function startNode(
    nodeId: string,
    maxConnectionsPerUser: number,
    idleTimeoutMs = 1_000_000_000,
  ): Promise<TestServer> {
    const t = await startServer({
      maxConnectionsPerUser,
      idleTimeoutMs,
      cluster: { redis: redis.current.url, nodeId, leaseTtlMs: 3_000, commandTimeoutMs: 300 },
    });
    await t.supervisor.ready({ signal: AbortSignal.timeout(10_000) });
    return t;
  }

  it("each admission is held to the admitting node's limit, over the one cluster-wide count", async () => {
    const small = await startNode('limit-2', 2);
    const large = await startNode('limit-4', 4);
    const rejected: RejectedEvent[] = [];
    for (const node of [small, large]) node.supervisor.on('rejected', (event) => rejected.push(event));
    // Accepted without a word: no error from either node.
    expect([...small.errors, ...large.errors]).toEqual([]);

    await connect(small.url('7'));
    await connect(small.url('7'));
    expect(await connectRefused(small.url('7'))).toBe(429); // 2 of 2, on the node of limit 2
    await connect(large.url('7')); // the same user, 3 of 4, on the node of limit 4
    await connect(large.url('7'));
    expect(await connectRefused(large.url('7'))).toBe(429);
    expect(await connectRefused(small.url('7'))).toBe(429);
    expect(rejected.map(({ live, limit }) => ({ live, limit }))).toEqual([
      { live: 2, limit: 2 },
      { live: 4, limit: 4 },
      { live: 4, limit: 2 },
    ]);
    expect(small.supervisor.userStats('7')?.live).toBe(2);
    expect(large.supervisor.userStats('7')?.live).toBe(2);
  });

  it("evictions follow the smallest T: an idle edge on the node of limit 2 (T = 2) evicts the user's idle connections on the node of limit 10 (T = 7)", async () => {
    // The test preset's evictionThreshold 0.7: T = ceil(0.7 × 2) = 2 and ceil(0.7 × 10) = 7.
    const small = await startNode('t-2', 2, 1_000);
    const large = await startNode('t-7', 10, 1_000);
    expect([...small.errors, ...large.errors]).toEqual([]);
    const evicted: string[] = [];
    for (const node of [small, large])
      node.supervisor.on(
        'evicted',
        (event) => void evicted.push(`${node === small ? 'A' : 'B'} ${event.cause}`),
      );

    const onA = await connect(small.url('8'));
    const onB: WebSocket[] = [];
    for (let i = 0; i < 4; i++) onB.push(await connect(large.url('8')));
    // A's connection stays active (it speaks) until B's four are idle: B's idle edges, at B's T of 7,
    // evict nothing with five live.
    const speaking = setInterval(() => onA.send('still here'), 200);
    try {
      await vi.waitFor(
        async () =>
          expect(await large.supervisor.userStats('8', { cluster: true })).toMatchObject({
            live: 5,
            idle: 4,
          }),
        { timeout: 10_000, interval: 25 },
      );
    } finally {
      clearInterval(speaking);
    }
    expect(evicted).toEqual([]);
    const closes = [onA, ...onB].map((ws) => closed(ws));
    // Then A's goes idle: A's idle edge holds the user's five to A's T of 2, on both nodes.
    await vi.waitFor(() => expect(evicted).toHaveLength(4), { timeout: 10_000, interval: 25 });
    expect(evicted.every((line) => line.endsWith(' idle'))).toBe(true);
    const all = [onA, ...onB];
    await vi.waitFor(
      () => expect(all.filter((ws) => ws.readyState === WebSocket.CLOSED)).toHaveLength(4),
      ioWait,
    );
    const codes = await Promise.all(
      all.flatMap((ws, i) => (ws.readyState === WebSocket.CLOSED ? [closes[i]] : [])),
    );
    expect(codes.map((event) => event?.code)).toEqual([4001, 4001, 4001, 4001]);
    // At least three of the four evicted were on B: B's own T of 7 was never reached.
    expect(onB.filter((ws) => ws.readyState !== WebSocket.OPEN).length).toBeGreaterThanOrEqual(3);
    await vi.waitFor(
      async () => expect((await large.supervisor.userStats('8', { cluster: true }))?.live).toBe(1),
      ioWait,
    );
    expect([...small.errors, ...large.errors]).toEqual([]);
  });
});
