/**
 * What a node says when the cluster changes under it (an on-call trial: a surviving node said
 * nothing when another died and its reaper freed the slots, and a node that lost its lease took
 * a new incarnation silently, only stats().cluster.incarnation changed). Real supervisors on a
 * private redis-server:
 *
 * - the `incarnation` event, `{ nodeId, incarnation, previous, cause }`, when this process
 *   takes a new incarnation: its lease expired (here by hand, as a pause past leaseTtlMs leaves
 *   it: the renewal finds it expired), or another Redis server answers (a restart, empty);
 * - `stats().cluster.slotsReaped` and the `cluster_slots_reaped_total` counter: the entries of a
 *   crashed node (a bare store that booked and never renews) this process's reaper removed.
 */
import { Registry } from 'prom-client';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import type { IncarnationEvent } from '../../src/index.js';
import { registerMetrics } from '../../src/metrics/index.js';
import { parseExposition } from '../helpers/prometheus.js';
import { connect, ioWait, startServer, type TestServer } from '../helpers/server.js';
import { hasRedis, startStore, usePrivateRedis } from './store-fixture.js';

const leaseTtlMs = 1_500;

describe.runIf(hasRedis)('cluster mode: a new incarnation and a dead node reaped are told', () => {
  const redis = usePrivateRedis();

  async function startNode(
    nodeId: string,
    options: { reaperIntervalMs?: number } = {},
  ): Promise<TestServer & { incarnations: IncarnationEvent[] }> {
    const t = await startServer({
      idleTimeoutMs: 1_000_000_000,
      cluster: { redis: redis.current.url, nodeId, leaseTtlMs, commandTimeoutMs: 300, ...options },
    });
    await t.supervisor.ready({ signal: AbortSignal.timeout(10_000) });
    const incarnations: IncarnationEvent[] = [];
    t.supervisor.on('incarnation', (event) => incarnations.push(event));
    return { ...t, incarnations };
  }

  it("a lease that expired unrenewed: 'incarnation' with cause lease-lost, and the connections booked again under it", async () => {
    const a = await startNode('inc-a');
    const first = a.supervisor.stats().cluster?.incarnation as number;
    await connect(a.url('ida'));
    expect(a.incarnations).toEqual([]);
    // As a Redis (or this process) paused past leaseTtlMs leaves it: expired when next renewed.
    await redis.current.command('ZADD', 'wssup:{nodes}:leases', 'XX', '0', String(first));
    await vi.waitFor(() => expect(a.incarnations).toHaveLength(1), ioWait);
    const [event] = a.incarnations as [IncarnationEvent];
    expect(event).toEqual({
      nodeId: 'inc-a',
      incarnation: event.incarnation,
      previous: first,
      cause: 'lease-lost',
    });
    expect(event.incarnation).toBeGreaterThan(first);
    expect(a.supervisor.stats().cluster?.incarnation).toBe(event.incarnation);
    await vi.waitFor(async () => {
      expect(await a.supervisor.userStats('ida', { cluster: true })).toMatchObject({
        live: 1,
        byNode: { 'inc-a': 1 },
      });
    }, ioWait);
  }, 30_000);

  it("another Redis server answers (restarted, empty): 'incarnation' with cause failover", async () => {
    const a = await startNode('inc-f');
    const first = a.supervisor.stats().cluster?.incarnation as number;
    await redis.current.kill();
    await redis.current.restart();
    await vi.waitFor(() => expect(a.incarnations).toHaveLength(1), ioWait);
    // One change, one event: none more once the new lease is held and renewed for a while.
    await new Promise((resolve) => setTimeout(resolve, 2 * leaseTtlMs));
    expect(a.incarnations).toHaveLength(1);
    expect(a.incarnations[0]).toMatchObject({ nodeId: 'inc-f', previous: first, cause: 'failover' });
    expect(a.incarnations[0]?.incarnation).toBe(a.supervisor.stats().cluster?.incarnation);
  }, 30_000);

  it("a crashed node's slots freed by this node's reaper: stats().cluster.slotsReaped and cluster_slots_reaped_total", async () => {
    const b = await startNode('reaper-b', { reaperIntervalMs: 200 });
    const registry = new Registry();
    onTestFinished(registerMetrics(b.supervisor, { registry }));
    const reapedMetric = async () =>
      parseExposition(await registry.metrics()).value('ws_supervisor_cluster_slots_reaped_total');
    expect(b.supervisor.stats().cluster?.slotsReaped).toBe(0);
    expect(await reapedMetric()).toBe(0);
    // The crashed node: booked three slots of two users, and never renews its lease.
    const crashed = await startStore(redis.current, {
      keyPrefix: 'wssup',
      nodeId: 'reaper-dead',
      leaseTtlMs,
    });
    for (const [userId, connectionId] of [
      ['rae', 'dead-1'],
      ['rae', 'dead-2'],
      ['roy', 'dead-3'],
    ] as const)
      expect((await crashed.store.admit(userId, connectionId, 5, 4)).admitted).toBe(true);
    await connect(b.url('rae'));
    await vi.waitFor(() => expect(b.supervisor.stats().cluster?.slotsReaped).toBe(3), ioWait);
    expect(await reapedMetric()).toBe(3);
    // Its own connection's slot is never reaped.
    expect(await b.supervisor.userStats('rae', { cluster: true })).toMatchObject({
      live: 1,
      byNode: { 'reaper-b': 1 },
    });
    expect(await b.supervisor.userStats('roy', { cluster: true })).toBeUndefined();
    // The reaping node itself took no new incarnation.
    expect(b.incarnations).toEqual([]);
  }, 30_000);

  it('a reaper pass that fails in part counts what it removed before failing', async () => {
    const b = await startNode('partial-b', { reaperIntervalMs: 200 });
    const crashed = await startStore(redis.current, {
      keyPrefix: 'wssup',
      nodeId: 'partial-dead',
      leaseTtlMs,
    });
    for (const [userId, connectionId] of [
      ['pam', 'gone-1'],
      ['pam', 'gone-2'],
      ['pia', 'gone-3'],
    ] as const)
      expect((await crashed.store.admit(userId, connectionId, 5, 4)).admitted).toBe(true);
    // One user's book that cannot be purged (a key of another type): every pass fails there
    // ("WRONGTYPE"), after purging the other two users' books.
    await redis.current.command('SET', 'wssup:{u:pox}:slots', 'not a hash');
    await redis.current.command('SADD', `wssup:{i:${crashed.store.incarnation}}:users`, 'pox');
    await vi.waitFor(() => expect(b.supervisor.stats().cluster?.slotsReaped).toBe(3), ioWait);
    expect(await b.supervisor.userStats('pam', { cluster: true })).toBeUndefined();
    // The failing passes are reported (the lease kept for the next one).
    expect(b.errors.some((error) => (error as Error).message.includes('WRONGTYPE'))).toBe(true);
    // The pass that removed the 3 says so, and keeps its one failure whole as its cause (the
    // store's error, its own cause and stack with it), not that failure's cause alone.
    const chain = (error: unknown): Array<Error & { removed?: number }> => {
      const errors: Array<Error & { removed?: number }> = [];
      for (let e = error; e instanceof Error; e = e.cause) errors.push(e);
      return errors;
    };
    const partial = b.errors.flatMap(chain).find((error) => error.removed === 3);
    expect(partial?.cause).toMatchObject({ name: 'SlotStoreUnavailableError' });
    expect((partial?.cause as Error | undefined)?.cause).toBeInstanceOf(Error);
    // Counted once: the later passes fail again without removing anything.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(b.supervisor.stats().cluster?.slotsReaped).toBe(3);
  }, 30_000);
});
