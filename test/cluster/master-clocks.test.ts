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

const check = (
  address: string | undefined,
  offsetMs: number,
  errorMs = 1,
  demoted = false,
  extra: { runId?: string; at?: number } = {},
): MasterCheck => ({
  runId: extra.runId ?? '',
  demoted,
  offsetMs,
  errorMs,
  at: extra.at ?? 0,
  address,
  policy: '',
});

describe('MasterClocks', () => {
  it('keeps each master’s last reading, by address; a master without one is unknown', () => {
    const clocks = new MasterClocks();
    clocks.update([check('a:1', 30_000, 2), check('b:1', -30_000), check(undefined, 5)], ['a:1', 'b:1']);
    expect(clocks.of('a:1')).toMatchObject({ offsetMs: 30_000, errorMs: 2 });
    expect(clocks.of('b:1')).toMatchObject({ offsetMs: -30_000, errorMs: 1 });
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

  it('a slow reading (a long round trip) does not replace a more exact one of the same server; another server’s does, and so does one as exact as the old one has aged', () => {
    const clocks = new MasterClocks();
    const of = (runId: string, at: number) => ({ runId, at });
    clocks.update([check('a:1', 0, 2, false, of('r1', 1_000))], ['a:1']);
    // Its reply waited 600 ms in this process: read 300 ms behind, give or take 300.
    clocks.update([check('a:1', -300, 301, false, of('r1', 2_000))], ['a:1']);
    expect(clocks.of('a:1')).toMatchObject({ offsetMs: 0, errorMs: 2 });
    // A minute later the kept one may have drifted by 60 ms: a reading within 40 ms is taken.
    clocks.update([check('a:1', 5, 40, false, of('r1', 61_000))], ['a:1']);
    expect(clocks.of('a:1')).toMatchObject({ offsetMs: 5, errorMs: 40 });
    // Another server at that address (a restart, a failover): its own first reading, however slow.
    clocks.update([check('a:1', -250, 251, false, of('r2', 62_000))], ['a:1']);
    expect(clocks.of('a:1')).toMatchObject({ offsetMs: -250, errorMs: 251 });
    // A server that denies INFO (no run_id): every reading is taken, as it may be another server.
    clocks.update([check('b:1', 0, 2)], ['a:1', 'b:1']);
    clocks.update([check('b:1', -300, 301)], ['a:1', 'b:1']);
    expect(clocks.of('b:1')).toMatchObject({ offsetMs: -300, errorMs: 301 });
  });
});
