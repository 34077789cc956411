/**
 * Cluster mode with a per-user limit from authenticate (plan tiers), on a
 * private redis-server with two supervisors on real sockets: the cluster-wide
 * book admits against each admission's own limit (the store's admit takes it
 * per call), and a node that books again what it holds after a lost lease
 * books each user against that user's limit, not the option's.
 * Option: the test preset's 5. fay's plan: 2.
 */
import { describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { SimulatedClock } from 'xstate';
import type { RejectedEvent, SupervisorOptions } from '../../src/index.js';
import { refusal } from '../helpers/rules.js';
import { closed, connect, ioWait, startServer, userFromQuery } from '../helpers/server.js';
import { bookOf } from './cluster-nodes.js';
import { freshPrefix, hasRedis, startStore, usePrivateRedis } from './store-fixture.js';

const plans = new Map([['fay', 2]]);
const authenticate: SupervisorOptions['authenticate'] = (request) => {
  const userId = userFromQuery(request);
  if (userId === null) return null;
  return { userId, maxConnectionsPerUser: plans.get(userId) };
};

describe.runIf(hasRedis)('cluster mode: a per-user limit from authenticate', () => {
  const redis = usePrivateRedis();

  it('refuses the third connection of a user whose plan says 2, across both nodes, with limit 2', async () => {
    const cluster = (nodeId: string) => ({
      redis: redis.current.url,
      nodeId,
      leaseTtlMs: 3_000,
      commandTimeoutMs: 300,
    });
    const a = await startServer({ authenticate, idleTimeoutMs: 1_000_000_000, cluster: cluster('plan-a') });
    const b = await startServer({ authenticate, idleTimeoutMs: 1_000_000_000, cluster: cluster('plan-b') });
    for (const t of [a, b]) await t.supervisor.ready({ signal: AbortSignal.timeout(10_000) });
    const rejected: RejectedEvent[] = [];
    a.supervisor.on('rejected', (event) => rejected.push(event));
    await connect(a.url('fay'));
    await connect(b.url('fay'));

    expect(await refusal(a.url('fay'))).toEqual({
      status: 429,
      body: 'user has reached the maximum number of connections (2)\n',
    });
    expect(rejected).toMatchObject([{ reason: 'user-limit', userId: 'fay', live: 2, limit: 2 }]);
    expect(a.supervisor.userStats('fay')).toMatchObject({ live: 1, limit: 2, evictAt: 2 });
    // A user without a plan: the option's 5 across both nodes.
    for (let i = 0; i < 5; i++) await connect((i % 2 === 0 ? a : b).url('dan'));
    expect((await bookOf(redis.current, 'dan')).length).toBe(5);
    expect(await refusal(b.url('dan'))).toMatchObject({ status: 429 });
  });

  it('after a lost lease, books again what it holds against each user’s own limit', async () => {
    // A on a simulated clock: its renewal comes when the test says (see doc-claims-lease-lost).
    const clock = new SimulatedClock();
    const a = await startServer({
      authenticate,
      clock,
      idleTimeoutMs: 1_000_000_000,
      heartbeatIntervalMs: 1_000_000_000,
      cluster: { redis: redis.current.url, nodeId: 'lost-a', leaseTtlMs: 3_000, commandTimeoutMs: 300 },
    });
    const b = await startServer({
      authenticate,
      idleTimeoutMs: 1_000_000_000,
      cluster: { redis: redis.current.url, nodeId: 'lost-b', leaseTtlMs: 1_500, commandTimeoutMs: 300 },
    });
    await vi.waitFor(() => {
      for (const t of [a, b]) expect(t.supervisor.stats().cluster?.leaseHeld).toBe(true);
    }, ioWait);
    const first = a.supervisor.stats().cluster?.incarnation as number;
    const held = [await connect(a.url('fay')), await connect(a.url('fay'))];

    // The operator expires A's lease; B's reaper purges A's entries, then B takes one of fay's 2.
    await redis.current.command('ZADD', 'wssup:{nodes}:leases', 'XX', '0', String(first));
    await vi.waitFor(async () => expect(await bookOf(redis.current, 'fay')).toEqual([]), ioWait);
    await connect(b.url('fay'));

    // A's next renewal books its two again against fay's 2 (not the option's 5): one is evicted.
    const closes = held.map((ws) => closed(ws));
    clock.increment(1_000);
    await vi.waitFor(() => {
      expect(a.supervisor.stats().cluster?.incarnation).toBeGreaterThan(first);
      expect(a.supervisor.stats().counters.evicted).toBe(1);
    }, ioWait);
    expect(await closes[1]).toEqual({ code: 4001, reason: 'evicted: over the limit' });
    expect(held[0]?.readyState).toBe(WebSocket.OPEN);
    expect((await bookOf(redis.current, 'fay')).map((entry) => entry.nodeId).sort()).toEqual([
      'lost-a',
      'lost-b',
    ]);
  });

  it('the store’s readmit books each user against its connections’ own limit', async () => {
    const { store } = await startStore(redis.current, { keyPrefix: freshPrefix(), nodeId: 'n1' });
    const at = Date.now();
    const refused = await store.readmit(
      [
        { userId: 'fay', connectionId: 'f1', admittedAt: at, idleSince: undefined, limit: 1 },
        { userId: 'fay', connectionId: 'f2', admittedAt: at + 1, idleSince: undefined, limit: 1 },
        { userId: 'dan', connectionId: 'd1', admittedAt: at, idleSince: undefined },
        { userId: 'dan', connectionId: 'd2', admittedAt: at + 1, idleSince: undefined },
      ],
      5,
    );
    expect(refused).toEqual(['f2']);
  });
});
