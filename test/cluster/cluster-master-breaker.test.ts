/**
 * One master of a Redis Cluster stops answering (CLIENT PAUSE: its clients
 * wait, the cluster bus does not, so the cluster stays up and the other
 * masters serve): a supervisor in cluster mode refuses only the users whose
 * books live on that master, through that master's own circuit breaker, and
 * every other user is admitted and booked as usual. This is what a user of a
 * Redis Cluster relies on between a master's death and its replica's
 * promotion (`cluster-node-timeout`, 15 s by default). On real sockets, a real
 * 3-master cluster, the store's own cluster client.
 */
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import type { StoreEvent } from '../../src/index.js';
import type { PrivateRedisCluster } from '../helpers/redis-cluster.js';
import { httpRefusal } from '../helpers/refusals.js';
import { connect, ioWait, startServer } from '../helpers/server.js';
import { freshPrefix, hasRedis, usePrivateCluster } from './store-fixture.js';

/** How long the user's master is paused: the test's checks fit well inside it. */
const PAUSE_MS = 6_000;

describe.runIf(hasRedis)('one master of a Redis Cluster away', () => {
  const cluster = usePrivateCluster();

  /**
   * A user on each of two masters, neither the registry's (the lease must keep
   * renewing): found by asking the cluster, not assumed.
   */
  async function usersApart(c: PrivateRedisCluster, keyPrefix: string) {
    const registry = (await c.masterOf(`${keyPrefix}:{nodes}:leases`)).port;
    const found = new Map<number, string>();
    for (let i = 0; found.size < 2 && i < 200; i++) {
      const { port } = await c.masterOf(`${keyPrefix}:{u:user${i}}:slots`);
      if (port !== registry && !found.has(port)) found.set(port, `user${i}`);
    }
    const [[annPort, ann], [bobPort, bob]] = [...found] as [[number, string], [number, string]];
    return { ann, annPort, bob, bobPort };
  }

  it.each(['reject', 'local'] as const)(
    "'%s': only the paused master's users are refused or unsynced; the others are admitted and booked, and the node stays ready",
    async (policy) => {
      const c = cluster.current;
      const keyPrefix = freshPrefix();
      const { ann, annPort, bob, bobPort } = await usersApart(c, keyPrefix);
      const server = await startServer({
        cluster: {
          redis: { rootNodes: [...c.urls] },
          nodeId: 's',
          keyPrefix,
          leaseTtlMs: 3_000,
          commandTimeoutMs: 200,
          onStoreUnavailable: policy,
        },
      });
      await vi.waitFor(() => expect(server.supervisor.stats().cluster?.leaseHeld).toBe(true), ioWait);
      const events: StoreEvent[] = [];
      server.supervisor.on('store', (event) => events.push(event));
      const shard = `127.0.0.1:${annPort}`;

      // Where this node's list of users lives (asked before the pause: any node may answer).
      const incarnation = server.supervisor.stats().cluster?.incarnation;
      const index = await c.masterOf(`${keyPrefix}:{i:${incarnation}}:users`);

      await c.command(annPort, 'CLIENT', 'PAUSE', String(PAUSE_MS), 'ALL');
      const paused = Date.now();
      onTestFinished(() => new Promise((resolve) => setTimeout(resolve, PAUSE_MS - (Date.now() - paused))));
      for (let i = 0; i < 3; i++) {
        if (policy === 'reject') expect((await httpRefusal(server.url(ann))).status).toBe(503);
        else await connect(server.url(ann));
      }
      expect(events).toEqual([{ breaker: 'open', shard, nodeId: 's', policy }]);
      expect(server.supervisor.stats().cluster).toMatchObject({
        breaker: 'closed',
        unavailableShards: [shard],
        unsynced: policy === 'local' ? 3 : 0,
      });
      expect(server.supervisor.stats().admission).toEqual({ admitting: true, reason: null });

      // bob's master answers: admitted and booked at once, each time (not unsynced, not refused).
      for (let i = 0; i < 3; i++) await connect(server.url(bob));
      const bobs = (await c.command(bobPort, 'HVALS', `${keyPrefix}:{u:${bob}}:slots`)) as string[];
      expect(bobs).toHaveLength(3);
      expect(server.supervisor.stats().cluster?.unsynced).toBe(policy === 'local' ? 3 : 0);
      // The cluster-wide view answers with what it could read, and says what it could not:
      // ann's book, or (the node's index on the paused master too) the node's list of users.
      const { global } = await server.supervisor.stats({ cluster: true });
      if (index.port === annPort) {
        expect(global).toMatchObject({ users: 0, connections: 0, unread: { nodes: 1, users: 0 } });
      } else {
        expect(global).toMatchObject({ users: 1, connections: 3, unread: { nodes: 0, users: 1 } });
      }
      expect(Date.now() - paused).toBeLessThan(PAUSE_MS); // the checks above ran while ann's master was paused

      // The pause ends: ann's breaker closes, and under 'local' her connections are booked.
      await vi.waitFor(
        () => {
          expect(events.at(-1)).toEqual({ breaker: 'closed', shard, nodeId: 's', policy });
          expect(server.supervisor.stats().cluster).toMatchObject({ unsynced: 0, unavailableShards: [] });
        },
        { timeout: PAUSE_MS + 10_000, interval: 50 },
      );
      const anns = (await c.command(annPort, 'HVALS', `${keyPrefix}:{u:${ann}}:slots`)) as string[];
      expect(anns).toHaveLength(policy === 'local' ? 3 : 0);
      await connect(server.url(ann));
    },
    40_000,
  );
});
