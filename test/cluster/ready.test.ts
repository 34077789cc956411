/**
 * supervisor.ready() in cluster mode: a promise for the moment the process
 * takes its first lease (`stats().cluster.leaseHeld` turns true), instead of
 * polling stats(). Redis is paused (SIGSTOP) before the supervisor is created,
 * so "before the first lease" lasts as long as the test needs: ready() keeps
 * waiting through it (it never rejects for an outage), and an abort or a
 * shutdown releases each waiter, its abort listener included.
 */
import { getEventListeners } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import { createSupervisor, type Supervisor, SupervisorError } from '../../src/index.js';
import { type PrivateRedis, startRedisServer } from '../helpers/redis-server.js';
import { ioWait } from '../helpers/server.js';
import { afterThisTest, scoped } from '../helpers/test-scope.js';
import { hasRedis } from './store-fixture.js';

/** What a call settled with so far: 'pending', 'resolved', or the rejection's code (or the value itself). */
function track(call: Promise<unknown>): { readonly state: unknown } {
  const tracked = { state: 'pending' as unknown };
  call.then(
    () => {
      tracked.state = 'resolved';
    },
    (error: unknown) => {
      tracked.state = error instanceof SupervisorError ? error.code : error;
    },
  );
  return tracked;
}

/** A running private Redis, stopped after the test. */
async function privateRedis(): Promise<PrivateRedis> {
  const redis = await startRedisServer();
  afterThisTest(() => redis.stop());
  return redis;
}

/** How many failures each supervisor reported to onError (its failed starts, here). */
const reported = new WeakMap<Supervisor, number>();

function clusterSupervisor(redis: PrivateRedis, nodeId: string, leaseTtlMs = 1_500): Supervisor {
  const supervisor: Supervisor = createSupervisor({
    preset: 'test',
    authenticate: () => 'ann',
    onError: () => void reported.set(supervisor, (reported.get(supervisor) ?? 0) + 1),
    cluster: { redis: redis.url, nodeId, leaseTtlMs, commandTimeoutMs: Math.floor(leaseTtlMs / 10) },
  });
  afterThisTest(async () => {
    redis.resume();
    await supervisor.shutdown();
  });
  return supervisor;
}

/** Until the first lease has failed three times (the first failure opened the breaker: the `store` event). */
const severalAttempts = (supervisor: Supervisor) =>
  vi.waitFor(() => {
    expect(reported.get(supervisor)).toBeGreaterThanOrEqual(3);
    expect(supervisor.stats().cluster?.breaker).not.toBe('closed');
  }, ioWait);

// Each test has a redis-server and a supervisor of its own, and mostly waits (on the lease's
// retries through the breaker): they run concurrently, and scoped() keeps each cleanup on its test.
describe.runIf(hasRedis)('ready() in cluster mode', () => {
  it.concurrent(
    'waits while Redis is paused, and resolves once the first lease is held',
    scoped(async () => {
      const redis = await privateRedis();
      await redis.pause();
      const supervisor = clusterSupervisor(redis, 'early');
      const controller = new AbortController();
      const seen: unknown[] = [];
      const ready = supervisor.ready({ signal: controller.signal }).then(async () => {
        // Inside the resolution: the lease is held, and the cluster-wide calls answer.
        seen.push(supervisor.stats().cluster?.leaseHeld);
        const { global } = await supervisor.stats({ cluster: true });
        seen.push(global.nodes.map((node) => node.nodeId));
      });
      const tracked = track(ready);
      await severalAttempts(supervisor);
      expect(supervisor.stats().cluster?.leaseHeld).toBe(false);
      expect(tracked.state).toBe('pending'); // an outage is no reason to give up: the lease is retried

      redis.resume();
      await ready;
      expect(seen).toEqual([true, ['early']]);
      // The waiter let go of the signal once it resolved.
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    }),
  );

  it.concurrent(
    'resolves at once when the lease is held already',
    scoped(async () => {
      const redis = await privateRedis();
      const supervisor = clusterSupervisor(redis, 'held');
      await supervisor.ready();
      expect(supervisor.stats().cluster?.leaseHeld).toBe(true);
      const again = track(supervisor.ready());
      await Promise.resolve();
      await Promise.resolve();
      expect(again.state).toBe('resolved');
    }),
  );

  it.concurrent(
    'still resolves after the lease, held once, ran out (readiness for traffic is stats().admission)',
    scoped(async () => {
      const redis = await privateRedis();
      const supervisor = clusterSupervisor(redis, 'lost', 300);
      await supervisor.ready();
      await redis.pause();
      await vi.waitFor(() => expect(supervisor.stats().cluster?.leaseHeld).toBe(false), ioWait);
      await expect(supervisor.ready()).resolves.toBeUndefined();
    }),
  );

  it.concurrent(
    'rejects with the signal’s reason when it is aborted while waiting, and drops its listener',
    scoped(async () => {
      const redis = await privateRedis();
      await redis.pause();
      const supervisor = clusterSupervisor(redis, 'aborted');
      const controller = new AbortController();
      const waiting = track(supervisor.ready({ signal: controller.signal }));
      const other = track(supervisor.ready());
      await severalAttempts(supervisor);
      expect(waiting.state).toBe('pending');
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);

      const reason = new Error('waited long enough');
      controller.abort(reason);
      await vi.waitFor(() => expect(waiting.state).toBe(reason));
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
      // Only that waiter: the other still waits, and gets the lease.
      expect(other.state).toBe('pending');
      redis.resume();
      await vi.waitFor(() => expect(other.state).toBe('resolved'), ioWait);
    }),
  );

  it.concurrent(
    'rejects with a TimeoutError for AbortSignal.timeout(), the bound the README recommends',
    scoped(async () => {
      const redis = await privateRedis();
      await redis.pause();
      const supervisor = clusterSupervisor(redis, 'timeout');
      const error = await supervisor.ready({ signal: AbortSignal.timeout(200) }).catch((failure) => failure);
      expect(error).toMatchObject({ name: 'TimeoutError' });
    }),
  );

  it.concurrent(
    'rejects every pending waiter with WSSUP_SHUTTING_DOWN when shutdown() begins, and each later call',
    scoped(async () => {
      const redis = await privateRedis();
      await redis.pause();
      const supervisor = clusterSupervisor(redis, 'stopping');
      const controller = new AbortController();
      const first = track(supervisor.ready());
      const second = track(supervisor.ready({ signal: controller.signal }));
      await severalAttempts(supervisor);
      expect([first.state, second.state]).toEqual(['pending', 'pending']);

      const stopped = supervisor.shutdown();
      await vi.waitFor(() =>
        expect([first.state, second.state]).toEqual(['WSSUP_SHUTTING_DOWN', 'WSSUP_SHUTTING_DOWN']),
      );
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
      const later = supervisor.ready().catch((error: SupervisorError) => error.code);
      expect(await later).toBe('WSSUP_SHUTTING_DOWN');
      redis.resume();
      await stopped;
      expect(await supervisor.ready().catch((error: SupervisorError) => error.code)).toBe(
        'WSSUP_SHUTTING_DOWN',
      );
    }),
  );
});
