/**
 * Cluster-wide calls after shutdown(): the store is stopped (its client closed,
 * this node's lease given back), so nothing may go to it any more. Each call
 * rejects with WSSUP_SHUTTING_DOWN, says which method, and leaves the breaker
 * as it was: no `store` event, nothing reported to onError. Before the fix each
 * call went through the breaker to the closed client, failed as
 * WSSUP_STORE_UNAVAILABLE, and three of them opened the breaker.
 */
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { createSupervisor, type SupervisorError, type SupervisorEventMap } from '../../src/index.js';
import { hasRedis } from '../cluster/store-fixture.js';
import { startRedisServer } from '../helpers/redis-server.js';

describe.runIf(hasRedis)('cluster-wide calls after shutdown()', () => {
  it('reject with WSSUP_SHUTTING_DOWN without touching the store or its breaker', async () => {
    const redis = await startRedisServer();
    onTestFinished(() => redis.stop());
    const errors: SupervisorError[] = [];
    const storeEvents: SupervisorEventMap['store'][] = [];
    const supervisor = createSupervisor({
      preset: 'test',
      authenticate: () => ({ userId: 'ann' }),
      onError: (error) => void errors.push(error),
      cluster: { redis: redis.url, nodeId: 'after-shutdown', leaseTtlMs: 1_500, commandTimeoutMs: 150 },
    });
    supervisor.on('store', (event) => void storeEvents.push(event));
    await vi.waitFor(() => expect(supervisor.stats().cluster?.leaseHeld).toBe(true), { timeout: 5_000 });
    // Before shutdown the store answers: the calls below are fine arguments.
    await expect(supervisor.userStats('ann', { cluster: true })).resolves.toBeUndefined();
    await supervisor.shutdown();

    const calls: [string, () => Promise<unknown>][] = [
      ['stats', () => supervisor.stats({ cluster: true })],
      ['userStats', () => supervisor.userStats('ann', { cluster: true })],
      ['sendToUser', () => supervisor.sendToUser('ann', 'hi', { cluster: true })],
      ['broadcast', () => supervisor.broadcast('hi', { cluster: true })],
      ['disconnectUser', () => supervisor.disconnectUser('ann', 4000, 'bye', { cluster: true })],
    ];
    // More calls than the breaker's threshold (3 failures in a row): it must not open.
    for (const [method, call] of [...calls, ...calls]) {
      const error = await call().then(
        () => undefined,
        (rejected: unknown) => rejected as SupervisorError,
      );
      expect(error?.code, method).toBe('WSSUP_SHUTTING_DOWN');
      expect(error?.message, method).toContain(method);
    }
    expect(supervisor.stats().cluster?.breaker).toBe('closed');
    expect(storeEvents).toEqual([]);
    expect(errors.map((error) => `${error.code}: ${error.message}`)).toEqual([]);
    // The local calls still answer as before: nothing is connected.
    expect(supervisor.connectionsOf('ann')).toEqual([]);
    expect(supervisor.sendToUser('ann', 'hi')).toBe(0);
  });
});
