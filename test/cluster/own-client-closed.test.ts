/**
 * The app's own node-redis client closed for good under the store (new-user trial, HIGH). A
 * client created with a `socketTimeout` and no `reconnectStrategy` (the recipe of
 * docs/cluster-store.md before it gave one) is closed by node-redis after one stall of Redis
 * past that timeout: its default strategy does not reconnect after a socket timeout. The
 * store never reopens the app's client, so nothing would come back; before this, the process
 * went on reading as ready (`stats().admission` admitting) and, under the default 'local'
 * policy, admitted on its own limit for good with nothing in Redis, told only by a few
 * WSSUP_STORE_UNAVAILABLE lines. Now: WSSUP_STORE_CLIENT_CLOSED once, naming the fix;
 * admissions refused (503 `store-unavailable`) and the process unready whatever the policy;
 * and all of it undone once the app connects its client again. A private redis-server,
 * SIGSTOPped until the client's socket timed out; real sockets.
 */
import { createClient } from 'redis';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { connect, connectRefused, ioWait, startServer } from '../helpers/server.js';
import { bookOf } from './cluster-nodes.js';
import { hasRedis, usePrivateRedis } from './store-fixture.js';

describe.runIf(hasRedis)("the app's own client, closed for good by node-redis", () => {
  const redis = usePrivateRedis();

  it('is reported once with its own code, the process refuses and reads as unready until the app reconnects it', async () => {
    const client = createClient({
      url: redis.current.url,
      disableOfflineQueue: true,
      pingInterval: 1_000,
      socket: { socketTimeout: 2_000 }, // no reconnectStrategy: node-redis's default gives up on a timeout
    });
    client.on('error', () => {});
    await client.connect();
    onTestFinished(() => {
      redis.current.resume();
      if (client.isOpen) client.destroy();
    });

    const t = await startServer({
      idleTimeoutMs: 1_000_000_000,
      cluster: { redis: client, nodeId: 'own-closed', leaseTtlMs: 1_500 }, // the default 'local' policy
    });
    await vi.waitFor(() => expect(t.supervisor.stats().cluster?.leaseHeld).toBe(true), ioWait);
    await connect(t.url('ann'));

    const terminated = new Promise<void>((resolve) => client.once('terminated', () => resolve()));
    await redis.current.pause();
    await terminated;
    redis.current.resume();
    expect(client.isOpen).toBe(false);

    const closedReports = () => t.errors.filter((error) => error.code === 'WSSUP_STORE_CLIENT_CLOSED');
    await vi.waitFor(() => expect(closedReports()).toHaveLength(1), ioWait);
    expect(closedReports()[0]?.message).toMatch(/closed for good/);
    expect(closedReports()[0]?.message).toMatch(/reconnectStrategy/);
    expect(t.supervisor.stats().admission).toEqual({ admitting: false, reason: 'store-unavailable' });
    // Refused, not admitted on this process's own limit with nothing in Redis.
    expect(await connectRefused(t.url('bob'))).toBe(503);
    expect(t.supervisor.stats().cluster?.unsynced).toBe(0);
    // Told once: the renewals that fail after it (until the breaker opens) add no second report.
    await vi.waitFor(() => expect(t.supervisor.stats().cluster?.breaker).toBe('open'), ioWait);
    expect(closedReports()).toHaveLength(1);
    expect(t.supervisor.stats().admission).toEqual({ admitting: false, reason: 'store-unavailable' });

    // The app connects its client again: the next renewal answers, and the process admits.
    await client.connect();
    await vi.waitFor(
      () => expect(t.supervisor.stats().admission).toEqual({ admitting: true, reason: null }),
      ioWait,
    );
    await vi.waitFor(async () => {
      const ws = await connect(t.url('bob'));
      expect(ws.readyState).toBe(ws.OPEN);
    }, ioWait);
    await vi.waitFor(
      async () =>
        expect((await bookOf(redis.current, 'bob')).map((entry) => entry.nodeId)).toContain('own-closed'),
      ioWait,
    );
    // The connection held all along is booked again under the new lease.
    await vi.waitFor(
      async () =>
        expect((await bookOf(redis.current, 'ann')).map((entry) => entry.nodeId)).toEqual(['own-closed']),
      ioWait,
    );
    expect(closedReports()).toHaveLength(1);
  });
});
