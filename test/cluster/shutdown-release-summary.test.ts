/**
 * Ops trial (rolling restart on Kubernetes): a Redis that hangs while the node shuts down
 * made onError hear one WSSUP_STORE_UNAVAILABLE per connection's release (83 for 100
 * users), a flood that buried the one line that mattered. The releases that fail during a
 * shutdown are now told once, as one summary: how many, and that the slots go with the
 * node's lease. Real private redis-server, stopped with SIGSTOP.
 */
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import type { SupervisorError } from '../../src/index.js';
import { type PrivateRedis, startRedisServer } from '../helpers/redis-server.js';
import { closedClient, open, start } from '../helpers/resources.js';
import { hasRedis } from './store-fixture.js';

async function ownRedis(): Promise<PrivateRedis> {
  const redis = await startRedisServer();
  onTestFinished(() => redis.stop());
  return redis;
}

const releaseErrors = (errors: readonly SupervisorError[]) =>
  errors.filter((error) => /release/.test(error.message));

describe.runIf(hasRedis)('cluster mode: releases failing during a shutdown', () => {
  it('with Redis stopped (SIGSTOP) before shutdown: one summary error, not one per release', async () => {
    const redis = await ownRedis();
    const errors: SupervisorError[] = [];
    const h = await start({
      idleTimeoutMs: 1_000_000_000,
      // A breaker that does not open within the shutdown: every release reaches the stalled Redis.
      cluster: { redis: redis.url, nodeId: 'n1', leaseTtlMs: 1_500, commandTimeoutMs: 150 },
      onError: (error) => void errors.push(error),
    });
    await vi.waitFor(() => expect(h.supervisor.stats().cluster?.leaseHeld).toBe(true), { timeout: 5_000 });
    const users = ['ann', 'bob', 'cat', 'dan', 'eve', 'fay'];
    const clients = [];
    for (const user of users) clients.push(await open(h, user));
    await redis.pause();
    onTestFinished(() => redis.resume());
    // Paced as in the trial: the first batch's releases fail while the later batches still wait.
    await h.supervisor.shutdown({ pace: { windowMs: 1_000, batches: 2 } });
    await Promise.all(clients.map(closedClient));
    const released = releaseErrors(errors);
    expect(released.map((error) => error.code)).toEqual(['WSSUP_STORE_UNAVAILABLE']);
    const [summary] = released;
    const failed = Number(
      /^slot store: (\d+) releases? failed during shutdown/.exec(summary?.message ?? '')?.[1],
    );
    expect(failed).toBeGreaterThanOrEqual(1);
    expect(failed).toBeLessThanOrEqual(users.length);
    expect(summary?.message).toMatch(/lease/);
    expect(summary?.cause).toBeInstanceOf(Error);
    expect(errors.every((error) => error.code === 'WSSUP_STORE_UNAVAILABLE')).toBe(true);
    redis.resume();
  });
});
