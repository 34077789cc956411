/**
 * The soak of cluster mode inside `npm test`: bench/cluster-soak.ts (built, in dist/) with
 * two supervisors in cluster mode on one private redis-server, through thousands of
 * lifecycles that take the cluster paths (churn, a user at T and at the limit across the
 * nodes with cross-node evictions and 429s, cluster-wide sends, Redis paused under both
 * policies, Redis killed and restarted empty, lease losses). In its own process because it
 * needs `node --expose-gc`; the soak starts its redis-server itself (a free port, no
 * persistence, REDIS_SERVER_PATH as the fixtures), so that it can restart it. At each
 * sample point both nodes must be quiet (stats().resources zero, nothing unsynced or
 * pending, audit() clean), Redis must hold only its idle keys, and the heap after a full
 * GC must not grow with the lifecycles. Skipped loudly without redis-server (store-fixture.ts).
 * `node --expose-gc dist/bench/cluster-soak.js --lifecycles 20000 --samples 10` runs a longer one.
 */
import { describe, expect, it } from 'vitest';
import { hasRedis } from '../cluster/store-fixture.js';
import { startSoak, verdictOf } from './soak-process.js';

const script = 'dist/bench/cluster-soak.js';

interface Sample {
  lifecycles: number;
  dbsize: number;
  keys: Record<string, number>;
  fields: { leases: number; incarnations: number };
  indexMembers: number;
}
interface ClusterSoakResult {
  ok: boolean;
  lifecycles: number;
  totals: {
    attempts: number;
    refused: number;
    evicted: number;
    outages: number;
    restarts: number;
    leaseLosses: number;
    clusterSends: number;
  };
  counters: { admitted: number; disposed: number; evicted: number }[];
  resources: Record<string, number>[];
  errors: Record<string, number>;
  unitWarnings: string[];
  heap: { growthBytesPerLifecycle: number | undefined };
  redis: { afterShutdown: { dbsize: number; keys: Record<string, number> } };
  series: Sample[];
  failures: string[];
}

const lifecycles = 2_000;

describe.runIf(hasRedis)('cluster-mode soak', () => {
  it(`${lifecycles} lifecycles on two cluster-mode nodes leave the heap and Redis as they found them`, {
    timeout: 120_000,
  }, async () => {
    const soak = startSoak(script, [
      '--lifecycles',
      String(lifecycles),
      '--samples',
      '6',
      '--churn',
      '150',
      // An outage every 5 rounds (every other one a restart of Redis), a lease loss between.
      '--outage-every',
      '5',
      '--warm-up',
      '2000',
      // Loose enough for a short run's warm-up (the restarts' and outages' first passes level
      // off over thousands of lifecycles), tight enough for anything kept per connection:
      // an actor, a socket, a breaker. The long run measures the rest (20,000 lifecycles:
      // 7 bytes per lifecycle, bench/cluster-soak.ts).
      '--max-growth',
      '1024',
      '--json',
    ]);
    const code = await soak.exited;
    const result = verdictOf<ClusterSoakResult>(soak.output());
    expect(result.failures).toEqual([]);
    expect(code).toBe(0);
    expect(result.lifecycles).toBeGreaterThanOrEqual(lifecycles);
    // Every path was taken: refusals at the limit, cross-node evictions, sends, outages, lease losses.
    expect(result.totals.refused).toBeGreaterThan(0);
    expect(result.totals.evicted).toBeGreaterThan(0);
    expect(result.totals.clusterSends).toBeGreaterThan(0);
    expect(result.totals.outages).toBeGreaterThan(0);
    expect(result.totals.restarts).toBeGreaterThan(0);
    expect(result.totals.leaseLosses).toBeGreaterThan(0);
    // The outages were reported as such, and nothing else was.
    expect(Object.keys(result.errors)).toEqual(['WSSUP_STORE_UNAVAILABLE']);
    // Apart: the one warning each node's deliberate idleTimeoutMs of 150 on real time draws at creation.
    expect(result.unitWarnings).toEqual(['soak-a: idleTimeoutMs', 'soak-b: idleTimeoutMs']);
    for (const counters of result.counters) expect(counters.disposed).toBe(counters.admitted);
    for (const resources of result.resources)
      expect(
        Object.values(resources).every((n) => n === 0),
        JSON.stringify(resources),
      ).toBe(true);
    // Quiet, Redis held the registry of two live nodes and no user's book, at every sample.
    expect(result.series).toHaveLength(6);
    for (const sample of result.series) {
      expect(Object.keys(sample.keys).filter((key) => key.includes('{u:'))).toEqual([]);
      expect(sample.fields).toEqual({ leases: 2, incarnations: 2 });
      // A sweep whose SREM failed while Redis was away leaves its users in the index (a
      // stale member costs the reaper one empty purge): a few, never one per lifecycle.
      expect(sample.indexMembers).toBeLessThanOrEqual(20);
    }
    // After both shut down, only the counter, the server's run_id and the store format
    // marker are left (by design).
    expect(Object.keys(result.redis.afterShutdown.keys).sort()).toEqual([
      expect.stringMatching(/:\{nodes\}:counter$/),
      expect.stringMatching(/:\{nodes\}:format$/),
      expect.stringMatching(/:\{nodes\}:server$/),
    ]);
    expect(result.heap.growthBytesPerLifecycle).toBeLessThanOrEqual(1024);
  });
});
