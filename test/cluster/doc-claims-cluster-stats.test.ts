/**
 * What the docs say the cluster-wide reads answer, checked through supervisors on a private
 * redis-server (real sockets):
 *
 * - docs/cluster-store.md, "When something is wrong": "`await supervisor.userStats(userId, {
 *   cluster: true })` answers `{ userId, live, idle, byNode }`: the user's live entries
 *   counted by node id, or `undefined` when the user has no entry at all", and "`stats({ cluster: true })`
 *   adds `global.nodes`: every lease with its node id, incarnation and `leaseExpiresInMs`
 *   (negative: expired, not reaped yet)".
 * - the README: `global: { nodes: [{ nodeId, incarnation, leaseExpiresInMs }], users,
 *   connections }`, and `unread` "is absent when everything answered".
 *
 * A third node is a bare store that books one connection and never renews (a process
 * frozen): its lease is expired by hand (`ZADD ... XX 0`, the doc's own advice), and the
 * supervisors' reapers are set far off so that it stays "expired, not reaped yet".
 */
import { describe, expect, it, vi } from 'vitest';
import { connect, ioWait, startServer, type TestServer } from '../helpers/server.js';
import { hasRedis, startStore, usePrivateRedis } from './store-fixture.js';

describe.runIf(hasRedis)('docs: the cluster-wide reads', () => {
  const redis = usePrivateRedis();

  async function startNode(nodeId: string, idleTimeoutMs: number): Promise<TestServer> {
    const t = await startServer({
      idleTimeoutMs,
      cluster: {
        redis: redis.current.url,
        nodeId,
        leaseTtlMs: 1_500,
        reaperIntervalMs: 600_000,
        commandTimeoutMs: 300,
      },
    });
    await vi.waitFor(() => expect(t.supervisor.stats().cluster?.leaseHeld).toBe(true), ioWait);
    return t;
  }

  it('userStats(id, { cluster: true }) and stats({ cluster: true }) answer the shapes the docs give, an expired lease with a negative leaseExpiresInMs', async () => {
    const a = await startNode('stats-a', 1_000_000_000);
    const b = await startNode('stats-b', 200); // its connections turn idle
    const frozen = await startStore(redis.current, { keyPrefix: 'wssup', nodeId: 'stats-c' });
    await frozen.store.admit('cal', 'cal-1', 5, 4);

    await connect(a.url('ann'));
    await connect(a.url('ann'));
    await connect(b.url('ann'));
    await connect(b.url('bob'));
    await vi.waitFor(async () => {
      expect(await a.supervisor.userStats('ann', { cluster: true })).toEqual({
        userId: 'ann',
        live: 3,
        idle: 1,
        byNode: { 'stats-a': 2, 'stats-b': 1 },
      });
    }, ioWait);
    expect(await a.supervisor.userStats('nobody', { cluster: true })).toBeUndefined();
    expect(await b.supervisor.userStats('cal', { cluster: true })).toMatchObject({
      live: 1,
      byNode: { 'stats-c': 1 },
    });

    // The frozen node's lease, expired by hand: negative, listed until a reaper forgets it.
    expect(
      await redis.current.command(
        'ZADD',
        'wssup:{nodes}:leases',
        'XX',
        '0',
        String(frozen.store.incarnation),
      ),
    ).toBe(0);
    await vi.waitFor(async () => {
      // Counted dead from each node's next renewal: cal has nobody live any more.
      expect(await a.supervisor.userStats('cal', { cluster: true })).toBeUndefined();
    }, ioWait);
    const { global } = await a.supervisor.stats({ cluster: true });
    expect(Object.keys(global).sort()).toEqual(['connections', 'nodes', 'users']); // no `unread`
    expect(global).toMatchObject({ users: 2, connections: 4 });
    const nodes = [...global.nodes].sort((x, y) => x.nodeId.localeCompare(y.nodeId));
    expect(nodes.map((node) => Object.keys(node).sort())).toEqual(
      Array(3).fill(['incarnation', 'leaseExpiresInMs', 'nodeId']),
    );
    expect(nodes.map(({ nodeId, incarnation }) => ({ nodeId, incarnation }))).toEqual([
      { nodeId: 'stats-a', incarnation: a.supervisor.stats().cluster?.incarnation },
      { nodeId: 'stats-b', incarnation: b.supervisor.stats().cluster?.incarnation },
      { nodeId: 'stats-c', incarnation: frozen.store.incarnation },
    ]);
    const [ofA, ofB, ofC] = nodes.map((node) => node.leaseExpiresInMs) as [number, number, number];
    expect(ofA).toBeGreaterThan(0);
    expect(ofB).toBeGreaterThan(0);
    expect(ofC).toBeLessThan(0);
  });
});
