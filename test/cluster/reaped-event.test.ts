/**
 * The `reaped` event (a new-user trial: presence on 3 processes): a process killed with -9 tells
 * nobody that its users left, and each survivor's reaper freed their slots silently, so users
 * only on the dead process stayed "online" in every friend list. The survivor whose reaper pass
 * purged the dead process's entries now names the users that pass left booked nowhere.
 * A reference server process killed with SIGKILL and an in-process supervisor on one private
 * redis-server; then bare stores that booked and never renew (two crashed nodes at once).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it, vi } from 'vitest';
import type { AdmittedEvent, ReapedEvent } from '../../src/index.js';
import { connect, startServer } from '../helpers/server.js';
import { attempt, bookOf, leaseTtlMs, startNode } from './cluster-nodes.js';
import { hasRedis, startStore, usePrivateRedis } from './store-fixture.js';

const reaperIntervalMs = 200;
const reapWait = { timeout: 4 * leaseTtlMs + 5_000 } as const;

describe.runIf(hasRedis)(
  "cluster mode: the 'reaped' event names a dead process's users left booked nowhere",
  () => {
    const redis = usePrivateRedis();

    async function survivor(nodeId: string) {
      const t = await startServer({
        idleTimeoutMs: 1_000_000_000,
        cluster: { redis: redis.current.url, nodeId, leaseTtlMs, commandTimeoutMs: 500, reaperIntervalMs },
      });
      await t.supervisor.ready({ signal: AbortSignal.timeout(10_000) });
      return t;
    }

    it('kill -9: offline names the user only on the dead process, not the one also on the survivor; the user then comes back', async () => {
      const dead = await startNode(redis.current, 'presence-1');
      const two = await survivor('presence-2');
      // A listener that throws is reported as any listener's (WSSUP_APP_HOOK_FAILED); the next still hears it.
      two.supervisor.on('reaped', () => {
        throw new Error('presence store down');
      });
      const reaped: ReapedEvent[] = [];
      // What a listener reads in stats() as it hears the page: that page already counted.
      const slotsReapedHeard: (number | undefined)[] = [];
      two.supervisor.on('reaped', (event) => {
        reaped.push(event);
        slotsReapedHeard.push(two.supervisor.stats().cluster?.slotsReaped);
      });

      // ava only on the process that dies; ben on both; cid only on the survivor.
      expect(await attempt(dead, 'ava')).toMatchObject({ opened: true });
      expect(await attempt(dead, 'ben')).toMatchObject({ opened: true });
      await connect(two.url('ben'));
      await connect(two.url('cid'));
      const incarnation = (await dead.stats()).cluster?.incarnation as number;
      expect((await bookOf(redis.current, 'ava')).map((entry) => entry.nodeId)).toEqual(['presence-1']);

      dead.program.child.kill('SIGKILL');
      await dead.program.exited;
      await vi.waitFor(() => expect(reaped).toHaveLength(1), reapWait);
      expect(reaped[0]).toEqual({ nodeId: 'presence-1', incarnation, removed: 2, offline: ['ava'] });
      const hookFailures = two.errors.filter((error) => error.code === 'WSSUP_APP_HOOK_FAILED');
      expect(hookFailures.map((error) => error.message)).toEqual([expect.stringContaining("on('reaped')")]);
      expect(slotsReapedHeard).toEqual([2]);
      expect(two.supervisor.stats().cluster?.slotsReaped).toBe(2);
      // Told once: the later passes find nothing of it left (its lease forgotten).
      await sleep(5 * reaperIntervalMs);
      expect(reaped).toHaveLength(1);
      expect(await two.supervisor.userStats('ben', { cluster: true })).toMatchObject({
        live: 1,
        byNode: { 'presence-2': 1 },
      });

      // ava comes back, on the survivor: admitted (the app marks her online again).
      const admitted: AdmittedEvent[] = [];
      two.supervisor.on('admitted', (event) => admitted.push(event));
      await connect(two.url('ava'));
      expect(admitted.map((event) => event.userId)).toEqual(['ava']);
      expect(await two.supervisor.userStats('ava', { cluster: true })).toMatchObject({
        live: 1,
        byNode: { 'presence-2': 1 },
      });
    }, 40_000);

    it('a graceful shutdown() is told by no process: it purged its own entries, nothing is left to reap', async () => {
      const leaving = await survivor('graceful-1');
      const staying = await survivor('graceful-2');
      const reaped: ReapedEvent[] = [];
      staying.supervisor.on('reaped', (event) => reaped.push(event));
      await connect(leaving.url('hal'));
      await connect(leaving.url('ivy'));
      expect((await bookOf(redis.current, 'hal')).map((entry) => entry.nodeId)).toEqual(['graceful-1']);
      await leaving.supervisor.shutdown({ deadlineMs: 200 });
      // Past the lease's TTL and many reaper passes: leftovers would have been reaped, and told, by now.
      await sleep(leaseTtlMs + 10 * reaperIntervalMs);
      expect(reaped).toEqual([]);
      expect(staying.supervisor.stats().cluster?.slotsReaped).toBe(0);
      expect(await bookOf(redis.current, 'hal')).toEqual([]);
    }, 40_000);

    it('two dead processes sharing a user: each user named once, by the pass that emptied the book', async () => {
      const two = await survivor('reaper-2');
      const reaped: ReapedEvent[] = [];
      two.supervisor.on('reaped', (event) => reaped.push(event));
      // Crashed nodes: bare stores that booked and never renew their leases.
      const x = await startStore(redis.current, { keyPrefix: 'wssup', nodeId: 'crashed-x', leaseTtlMs });
      const y = await startStore(redis.current, { keyPrefix: 'wssup', nodeId: 'crashed-y', leaseTtlMs });
      for (const [store, userId, connectionId] of [
        [x, 'eve', 'x-1'],
        [y, 'eve', 'y-1'],
        [y, 'fay', 'y-2'],
        [y, 'gil', 'y-3'],
      ] as const)
        expect((await store.store.admit(userId, connectionId, 5, 4)).admitted).toBe(true);
      // gil is also on the survivor: not named.
      await connect(two.url('gil'));

      await vi.waitFor(() => expect(two.supervisor.stats().cluster?.slotsReaped).toBe(4), reapWait);
      await sleep(5 * reaperIntervalMs);
      expect(reaped.map((event) => event.nodeId).every((nodeId) => /^crashed-[xy]$/.test(nodeId))).toBe(true);
      expect(reaped.reduce((sum, event) => sum + event.removed, 0)).toBe(4);
      expect(reaped.flatMap((event) => event.offline).sort()).toEqual(['eve', 'fay']);
      for (const event of reaped) {
        expect(event.removed).toBeGreaterThan(0);
        expect(event.incarnation).toBe(
          event.nodeId === 'crashed-x' ? x.store.incarnation : y.store.incarnation,
        );
      }
    }, 40_000);
  },
);
