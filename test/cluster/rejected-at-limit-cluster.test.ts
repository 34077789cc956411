/**
 * Cluster mode: the `rejected` event of a 429 at the per-user limit carries the count the
 * cluster-wide book refused at (every node's connections of the user), not this process's
 * share, and the limit. Two supervisors on a private redis-server, one connection each.
 */
import { describe, expect, it } from 'vitest';
import type { RejectedEvent } from '../../src/index.js';
import { connect, connectRefused, startServer, type TestServer } from '../helpers/server.js';
import { hasRedis, usePrivateRedis } from './store-fixture.js';

describe.runIf(hasRedis)('cluster mode: the rejected event at the per-user limit', () => {
  const redis = usePrivateRedis();

  async function startNode(nodeId: string): Promise<TestServer> {
    const t = await startServer({
      maxConnectionsPerUser: 2,
      idleTimeoutMs: 1_000_000_000,
      cluster: { redis: redis.current.url, nodeId, leaseTtlMs: 3_000, commandTimeoutMs: 300 },
    });
    await t.supervisor.ready({ signal: AbortSignal.timeout(10_000) });
    return t;
  }

  it('says live 2 of limit 2 on the node holding one of them', async () => {
    const a = await startNode('limit-a');
    const b = await startNode('limit-b');
    const rejected: RejectedEvent[] = [];
    a.supervisor.on('rejected', (event) => rejected.push(event));
    await connect(a.url('42'));
    await connect(b.url('42'));

    expect(await connectRefused(a.url('42'))).toBe(429);
    expect(a.supervisor.userStats('42')?.live).toBe(1); // this process's share only
    expect(rejected).toHaveLength(1);
    expect(rejected[0]).toMatchObject({ reason: 'user-limit', status: 429, userId: '42', live: 2, limit: 2 });
  });
});
