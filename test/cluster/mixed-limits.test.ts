/**
 * Operator trial: nodes started with different `maxConnectionsPerUser` (`--max-per-user`) are
 * accepted silently, and each admission is decided against the admitting node's limit, so a
 * user's limit depends on the node the balancer sends him to (README, Running several
 * processes: set the same limit on every node). Two supervisors on a private redis-server.
 */
import { describe, expect, it } from 'vitest';
import type { RejectedEvent } from '../../src/index.js';
import { connect, connectRefused, startServer, type TestServer } from '../helpers/server.js';
import { hasRedis, usePrivateRedis } from './store-fixture.js';

describe.runIf(hasRedis)('cluster mode: nodes with different per-user limits', () => {
  const redis = usePrivateRedis();

  async function startNode(nodeId: string, maxConnectionsPerUser: number): Promise<TestServer> {
    const t = await startServer({
      maxConnectionsPerUser,
      idleTimeoutMs: 1_000_000_000,
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
});
