/**
 * Ops trial (rolling restart on Kubernetes): a Redis that hangs while the node shuts down
 * made onError hear one WSSUP_STORE_UNAVAILABLE per connection's release (83 for 100
 * users), a flood that buried the one line that mattered. The releases that fail during a
 * shutdown are now told once, as one summary: how many, and that the slots go with the
 * node's lease. Review: the releases still in flight when the store's stop() began were
 * dropped silently (an unpaced shutdown on a hung Redis told onError nothing; a paced one
 * said 3 of 6): the summary counts them too, "n failed, m unanswered when the store
 * stopped", so that every connection's release is accounted for. Real private
 * redis-server, stopped with SIGSTOP.
 */
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { type ShutdownOptions, SupervisorError } from '../../src/index.js';
import { MemoryBook } from '../helpers/memory-slot-store.js';
import { type PrivateRedis, startRedisServer } from '../helpers/redis-server.js';
import { closedClient, open, start } from '../helpers/resources.js';
import { hasRedis } from './store-fixture.js';

async function ownRedis(): Promise<PrivateRedis> {
  const redis = await startRedisServer();
  onTestFinished(() => redis.stop());
  return redis;
}

/** A node on a private Redis holding its lease, six users connected to it, and what onError heard. */
async function sixUsersOnRedis() {
  const redis = await ownRedis();
  const errors: SupervisorError[] = [];
  const h = await start({
    idleTimeoutMs: 1_000_000_000,
    cluster: { redis: redis.url, nodeId: 'n1', leaseTtlMs: 1_500, commandTimeoutMs: 150 },
    onError: (error) => void errors.push(error),
  });
  await vi.waitFor(() => expect(h.supervisor.stats().cluster?.leaseHeld).toBe(true), { timeout: 5_000 });
  const clients = [];
  for (const user of ['ann', 'bob', 'cat', 'dan', 'eve', 'fay']) clients.push(await open(h, user));
  return { redis, errors, h, clients };
}

const releaseErrors = (errors: readonly SupervisorError[]) =>
  errors.filter((error) => /release/.test(error.message));

describe.runIf(hasRedis)('cluster mode: releases failing during a shutdown', () => {
  it.each<[string, ShutdownOptions]>([
    // Paced as in the trial: the first batch's releases fail while the later batches still wait.
    ['a paced', { pace: { windowMs: 1_000, batches: 2 } }],
    // Unpaced: every release is still in flight when the store's stop() begins.
    ['an unpaced', {}],
  ])(
    'with Redis stopped (SIGSTOP) before %s shutdown: one summary error counting every release',
    async (_name, options) => {
      // Paced, the breaker opens after 3 failures: the releases it refuses then count as failed too.
      const { redis, errors, h, clients } = await sixUsersOnRedis();
      await redis.pause();
      onTestFinished(() => redis.resume());
      await h.supervisor.shutdown(options);
      await Promise.all(clients.map(closedClient));
      const released = releaseErrors(errors);
      expect(released.map((error) => error.code)).toEqual(['WSSUP_STORE_UNAVAILABLE']);
      const [summary] = released;
      const [, failed, unanswered] =
        /^slot store: (\d+) releases? failed, (\d+) unanswered when the store stopped, during shutdown/
          .exec(summary?.message ?? '')
          ?.map(Number) ?? [];
      // Every connection's release, not some: none went through, Redis being stopped.
      expect((failed ?? 0) + (unanswered ?? 0)).toBe(clients.length);
      expect(summary?.message).toMatch(/lease/);
      if ((failed ?? 0) > 0) expect(summary?.cause).toBeInstanceOf(Error);
      expect(errors.every((error) => error.code === 'WSSUP_STORE_UNAVAILABLE')).toBe(true);
      redis.resume();
    },
  );
});

describe.runIf(hasRedis)('cluster mode: releases during a shutdown on a healthy Redis', () => {
  // The releases still in flight when the store's stop() begins are answered, not counted.
  it('an unpaced shutdown reports nothing', async () => {
    const { errors, h, clients } = await sixUsersOnRedis();
    await h.supervisor.shutdown();
    await Promise.all(clients.map(closedClient));
    expect(errors).toEqual([]);
  });
});

describe('cluster mode: the shutdown summary keeps the code its failures share', () => {
  // Review: the summary always said WSSUP_STORE_UNAVAILABLE. An app's store whose releases all
  // fail with one code of the library's (here WSSUP_STORE_CLIENT_CLOSED) is told with that code.
  it('every release failing with WSSUP_STORE_CLIENT_CLOSED: one summary with that code, the first as cause', async () => {
    const store = new MemoryBook(() => Date.now()).store('n1', 30_000);
    const errors: SupervisorError[] = [];
    const h = await start({
      idleTimeoutMs: 1_000_000_000,
      cluster: { store, nodeId: 'n1' },
      onError: (error) => void errors.push(error),
    });
    await vi.waitFor(() => expect(h.supervisor.stats().cluster?.leaseHeld).toBe(true), { timeout: 5_000 });
    const clients = [await open(h, 'ann'), await open(h, 'bob')];
    store.release = () =>
      Promise.reject(new SupervisorError('WSSUP_STORE_CLIENT_CLOSED', 'the client is closed'));
    await h.supervisor.shutdown();
    await Promise.all(clients.map(closedClient));
    const released = releaseErrors(errors);
    expect(released.map((error) => error.code)).toEqual(['WSSUP_STORE_CLIENT_CLOSED']);
    // The last release may still be on its way when the store's stop() begins: counted unanswered.
    expect(released[0]?.message).toMatch(
      /^slot store: (2 releases failed, 0|1 release failed, 1) unanswered when the store stopped/,
    );
    expect(released[0]?.cause).toMatchObject({
      code: 'WSSUP_STORE_CLIENT_CLOSED',
      message: 'the client is closed',
    });
  });
});
