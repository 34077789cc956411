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
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from 'redis';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import type { InvalidOptionError } from '../../src/index.js';
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
    // Told once: the renewals that fail after it, and the calls the open breaker lets through
    // each half-open period (1 s of real time: the breaker's own, not the test's clock), add no
    // second report. Waited past two such periods: just after the breaker opens, none has come.
    await vi.waitFor(() => expect(t.supervisor.stats().cluster?.breaker).toBe('open'), ioWait);
    await sleep(2_500);
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

describe.runIf(hasRedis)("the app's own client, with a socketTimeout and no reconnectStrategy", () => {
  const redis = usePrivateRedis();

  const ownClient = async (socket: Record<string, unknown>) => {
    const client = createClient({
      url: redis.current.url,
      disableOfflineQueue: true,
      pingInterval: 1_000,
      socket,
    });
    client.on('error', () => {});
    await client.connect();
    onTestFinished(() => {
      if (client.isOpen) client.destroy();
    });
    return client;
  };
  const warnings = (errors: readonly { code: string }[]) =>
    errors.filter((error) => error.code === 'WSSUP_INVALID_OPTION') as InvalidOptionError[];

  it('is reported once at the first lease, naming cluster.redis and the fix; never thrown', async () => {
    const client = await ownClient({ socketTimeout: 2_000 });
    const t = await startServer({ cluster: { redis: client, nodeId: 'own-warned', leaseTtlMs: 1_500 } });
    await t.supervisor.ready({ signal: AbortSignal.timeout(ioWait.timeout) });
    await vi.waitFor(() => expect(warnings(t.errors)).toHaveLength(1), ioWait);
    const [warning] = warnings(t.errors);
    expect(warning?.option).toBe('cluster.redis');
    expect(warning?.message).toMatch(/reconnectStrategy/);
    expect(warning?.message).toMatch(/socket timeout/);
    expect(t.supervisor.stats().admission).toEqual({ admitting: true, reason: null });
  });

  it('is not reported for the recipe’s client (a reconnectStrategy), nor without a socketTimeout', async () => {
    for (const socket of [
      { socketTimeout: 2_000, reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 1_000) },
      {},
    ]) {
      const client = await ownClient(socket);
      const t = await startServer({ cluster: { redis: client, nodeId: 'own-quiet', leaseTtlMs: 1_500 } });
      await t.supervisor.ready({ signal: AbortSignal.timeout(ioWait.timeout) });
      await t.supervisor.shutdown();
      expect(warnings(t.errors)).toEqual([]);
    }
  });
});
