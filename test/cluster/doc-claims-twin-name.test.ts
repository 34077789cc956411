/**
 * The README, "Running several processes", failure mode "Two processes share a `nodeId`":
 * "What still mixes is the name". On a private redis-server, two live supervisors with one
 * node id, each holding connections: `stats({ cluster: true })` lists two nodes of that
 * name, told apart only by their incarnations, and the per-node counts
 * (`userStats(id, { cluster: true }).byNode`) add both up under the one name. The
 * dashboard's Cluster card shows what these two calls answer (`<basePath>/cluster`).
 *
 * The README said all of them "show both as one node": the list of nodes does not.
 */
import { describe, expect, it, vi } from 'vitest';
import { connect, ioWait, startServer } from '../helpers/server.js';
import { freshPrefix, hasRedis, usePrivateRedis } from './store-fixture.js';

describe.runIf(hasRedis)(
  'docs: two live processes with one node id, as the cluster-wide reads show them',
  () => {
    const redis = usePrivateRedis();

    it('two nodes of one name, told apart by incarnation; per-node counts add both up under the name', async () => {
      const keyPrefix = freshPrefix();
      const start = () => startServer({ cluster: { redis: redis.current.url, nodeId: 'twin', keyPrefix } });
      const [a, b] = [await start(), await start()];
      for (const t of [a, b]) await t.supervisor.ready({ signal: AbortSignal.timeout(10_000) });
      await connect(a.url('ann'));
      await connect(b.url('ann'));
      await connect(b.url('bob'));
      await vi.waitFor(async () => {
        expect((await a.supervisor.stats({ cluster: true })).global).toMatchObject({
          users: 2,
          connections: 3,
        });
      }, ioWait);

      const incarnations = [a, b].map((t) => t.supervisor.stats().cluster?.incarnation as number);
      expect(new Set(incarnations).size).toBe(2);
      for (const t of [a, b]) {
        const { global } = await t.supervisor.stats({ cluster: true });
        expect(global.nodes.map(({ nodeId, incarnation }) => ({ nodeId, incarnation }))).toEqual(
          expect.arrayContaining(incarnations.map((incarnation) => ({ nodeId: 'twin', incarnation }))),
        );
        expect(global.nodes).toHaveLength(2);
        expect(await t.supervisor.userStats('ann', { cluster: true })).toMatchObject({
          live: 2,
          byNode: { twin: 2 },
        });
        expect(await t.supervisor.userStats('bob', { cluster: true })).toMatchObject({
          live: 1,
          byNode: { twin: 1 },
        });
      }
    });
  },
);
