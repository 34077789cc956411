/**
 * What the README promises a new user who calls the cluster-wide methods
 * straight after createSupervisor(): until the process has taken its first
 * lease (`stats().cluster.leaseHeld` false) they reject with
 * WSSUP_STORE_UNAVAILABLE, and once it holds one they answer. Redis is paused
 * (SIGSTOP) before the supervisor is created, so "before" lasts as long as
 * the test needs and ends when the test says.
 */
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { createSupervisor, type SupervisorError } from '../../src/index.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { hasRedis } from './store-fixture.js';

const codeOf = (call: Promise<unknown>) =>
  call.then(
    () => 'resolved',
    (error: unknown) => (error as SupervisorError).code,
  );

describe.runIf(hasRedis)('cluster-wide calls before the first lease', () => {
  it('reject with WSSUP_STORE_UNAVAILABLE while leaseHeld is false, and answer once it is true', async () => {
    const redis = await startRedisServer();
    onTestFinished(() => redis.stop());
    await redis.pause();
    const supervisor = createSupervisor({
      preset: 'test',
      authenticate: () => 'ann',
      onError: () => {},
      cluster: { redis: redis.url, nodeId: 'early', leaseTtlMs: 1_500, commandTimeoutMs: 150 },
    });
    onTestFinished(async () => {
      redis.resume();
      await supervisor.shutdown();
    });
    expect(supervisor.stats().cluster?.leaseHeld).toBe(false);
    expect(await codeOf(supervisor.stats({ cluster: true }))).toBe('WSSUP_STORE_UNAVAILABLE');
    expect(await codeOf(supervisor.userStats('ann', { cluster: true }))).toBe('WSSUP_STORE_UNAVAILABLE');
    expect(await codeOf(supervisor.sendToUser('ann', 'hi', { cluster: true }))).toBe(
      'WSSUP_STORE_UNAVAILABLE',
    );

    redis.resume();
    await vi.waitFor(() => expect(supervisor.stats().cluster?.leaseHeld).toBe(true), { timeout: 10_000 });
    const { global } = await supervisor.stats({ cluster: true });
    expect(global.nodes.map((node) => node.nodeId)).toEqual(['early']);
    expect(await supervisor.sendToUser('ann', 'hi', { cluster: true })).toEqual({
      delivered: 0,
      nodes: 0,
      unreached: 0,
    });
  });
});
