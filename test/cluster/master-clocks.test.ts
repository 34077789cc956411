/**
 * The masters' clocks a node keeps for the admission's deadline
 * (src/cluster/redis-master-clocks.ts): each master's last reading, by its
 * address; one that missed a renewal keeps its last; one that left the
 * topology is forgotten. The skew itself, on real servers:
 * store-redis-cluster-clock-skew.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { MasterClocks } from '../../src/cluster/redis-master-clocks.js';
import type { MasterCheck } from '../../src/cluster/redis-senders.js';

const check = (address: string | undefined, offsetMs: number, errorMs = 1, demoted = false): MasterCheck => ({
  runId: '',
  demoted,
  offsetMs,
  errorMs,
  address,
});

describe('MasterClocks', () => {
  it('keeps each master’s last reading, by address; a master without one is unknown', () => {
    const clocks = new MasterClocks();
    clocks.update([check('a:1', 30_000, 2), check('b:1', -30_000), check(undefined, 5)], ['a:1', 'b:1']);
    expect(clocks.of('a:1')).toEqual({ offsetMs: 30_000, errorMs: 2 });
    expect(clocks.of('b:1')).toEqual({ offsetMs: -30_000, errorMs: 1 });
    expect(clocks.of('c:1')).toBeUndefined();
    expect(clocks.of(undefined)).toBeUndefined();
  });

  it('a master that missed a renewal keeps its last reading; one that left the topology is forgotten', () => {
    const clocks = new MasterClocks();
    clocks.update([check('a:1', 10), check('b:1', 20)], ['a:1', 'b:1']);
    clocks.update([check('a:1', 11)], ['a:1', 'b:1']);
    expect(clocks.of('a:1')?.offsetMs).toBe(11);
    expect(clocks.of('b:1')?.offsetMs).toBe(20);
    clocks.update([check('a:1', 12)], ['a:1']);
    expect(clocks.of('b:1')).toBeUndefined();
    // A client that does not name its masters: nothing is forgotten.
    clocks.update([], undefined);
    expect(clocks.of('a:1')?.offsetMs).toBe(12);
  });

  it('a server that answers as a replica (a failover with the old master up) is no master: its reading is dropped', () => {
    const clocks = new MasterClocks();
    clocks.update([check('a:1', 10)], ['a:1']);
    // Still listed by the client until it learns the new layout, but demoted: the user's
    // master is the promoted replica, not measured yet, so the deadline takes the fallback.
    clocks.update([check('a:1', 30_000, 1, true)], ['a:1']);
    expect(clocks.of('a:1')).toBeUndefined();
  });
});
