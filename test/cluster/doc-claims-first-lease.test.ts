/**
 * The README, "When the cluster-wide calls answer": "Upgrades that arrive
 * meanwhile [before the process has taken its first lease] wait for that
 * first answer, then follow `onStoreUnavailable`." Checked on a private
 * redis-server and real sockets: an upgrade that reaches the process before its
 * first lease (Redis stopped until it has) is booked in Redis (it waited for the store, and was not
 * admitted unsynced on the process's own limit), and under 'reject' with Redis
 * stopped before the process started, an upgrade is refused as an outage is:
 * 503 with `Retry-After: 1`, reason `store-unavailable`.
 */
import { createServer } from 'node:http';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import { createSupervisor, type RejectedEvent, type StoreUnavailablePolicy } from '../../src/index.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { httpRefusal } from '../helpers/refusals.js';
import { closeServer, ioWait, listenOnLoopback, userFromQuery } from '../helpers/server.js';
import { bookOf } from './cluster-nodes.js';
import { hasRedis } from './store-fixture.js';

/** A supervisor attached to a server already listening, so that a client can be sent before its first lease. */
async function startNode(redisUrl: string, policy: StoreUnavailablePolicy) {
  const server = createServer((_request, response) => response.end('ok'));
  const port = await listenOnLoopback(server);
  /** Whether the lease was held when each upgrade reached authenticate. */
  const leaseAtUpgrade: boolean[] = [];
  const supervisor = createSupervisor({
    preset: 'test',
    idleTimeoutMs: 1_000_000_000,
    authenticate: (request) => {
      leaseAtUpgrade.push(supervisor.stats().cluster?.leaseHeld ?? false);
      return userFromQuery(request);
    },
    onError: () => {},
    cluster: {
      redis: redisUrl,
      nodeId: 'early',
      leaseTtlMs: 1_500,
      commandTimeoutMs: 150,
      onStoreUnavailable: policy,
    },
  });
  supervisor.attach(server);
  onTestFinished(async () => {
    await supervisor.shutdown({ deadlineMs: 200 });
    await closeServer(server);
  });
  const rejected: RejectedEvent[] = [];
  supervisor.on('rejected', (event) => rejected.push(event));
  return {
    supervisor,
    rejected,
    leaseAtUpgrade,
    url: (user: string) => `ws://127.0.0.1:${port}/?user=${user}`,
  };
}

describe.runIf(hasRedis)('docs: upgrades before the first lease', () => {
  it.each(['local', 'reject'] as const)(
    "'%s': an upgrade that arrives before the first lease waits for the store's first answer and is booked, not admitted unsynced",
    async (policy) => {
      const redis = await startRedisServer();
      onTestFinished(() => redis.stop());
      // Stopped (SIGSTOP) until the upgrade has arrived, so that it surely comes before the
      // first lease; resumed at once then, well within the first start's connect deadline (1 s).
      await redis.pause();
      onTestFinished(() => redis.resume());
      const node = await startNode(redis.url, policy);
      const ws = new WebSocket(node.url('ann'));
      onTestFinished(() => ws.terminate());
      await vi.waitFor(() => expect(node.leaseAtUpgrade).toHaveLength(1), ioWait);
      redis.resume();
      await new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      });
      // It did arrive before the first lease (else this test would prove nothing).
      expect(node.leaseAtUpgrade).toEqual([false]);
      // Booked in Redis by its admission, not later by a reconciliation of unsynced connections.
      expect(node.supervisor.stats().cluster).toMatchObject({
        leaseHeld: true,
        unsynced: 0,
        breaker: 'closed',
      });
      expect((await bookOf(redis, 'ann')).map((entry) => entry.nodeId)).toEqual(['early']);
      expect(node.rejected).toEqual([]);
    },
  );

  it("'reject', Redis stopped before the process started: 503 with Retry-After: 1 (store-unavailable); booked once Redis answers", async () => {
    const redis = await startRedisServer();
    onTestFinished(() => redis.stop());
    await redis.pause();
    onTestFinished(() => redis.resume());
    const node = await startNode(redis.url, 'reject');
    const refusal = await httpRefusal(node.url('ann'));
    expect(refusal.status).toBe(503);
    expect(refusal.headers['retry-after']).toBe('1');
    expect(node.leaseAtUpgrade).toEqual([false]);
    expect(node.rejected.map((event) => event.reason)).toEqual(['store-unavailable']);
    expect(node.supervisor.stats().cluster?.leaseHeld).toBe(false);

    redis.resume();
    await vi.waitFor(() => expect(node.supervisor.stats().cluster?.leaseHeld).toBe(true), ioWait);
    const ws = new WebSocket(node.url('ann'));
    onTestFinished(() => ws.terminate());
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    expect((await bookOf(redis, 'ann')).map((entry) => entry.nodeId)).toEqual(['early']);
  });
});
