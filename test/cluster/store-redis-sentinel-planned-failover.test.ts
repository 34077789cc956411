/**
 * Planned maintenance on Redis Sentinel (docs/cluster-store.md, "Redis
 * Sentinel"): SENTINEL FAILOVER under a steady stream of admissions and
 * releases through two supervisors ('reject': a store failure is a 503).
 * Unlike CLUSTER FAILOVER, nothing pauses the old primary: it takes writes
 * until node-redis follows +switch-master, and the promoted replica never
 * sees them. So around the switch the book can be wrong until every node
 * has fenced (docs, "Redis restarted or failed over"): releases the old
 * primary took are lost (a user below the limit refused with 429 for a few
 * tens of ms), and admissions it took are booked again by the fence. Measured
 * (docs): besides those 429s, a few WSSUP_STORE_UNAVAILABLE (an admission
 * waiting for the switch past its deadline, or sent to a server the node has
 * not renewed on) and the 503s of the breaker they open. Until 2026-12-03 about
 * one run in ten also admitted a socket of the user at the limit past it (the
 * fence freed the node's slots before its re-admission; an admission answered
 * by the old primary with the new one's snapshot), or refused an admission
 * retried under the new incarnation as a duplicate (500): both fixed, with
 * deterministic tests (store-lease.test.ts), and failures here now. Asserted:
 * nothing hangs, no other failure, none once the switch is a few seconds old,
 * each node fenced at most once (with 'failover'), and the books match the
 * sockets afterwards.
 */
import { describe, expect, it } from 'vitest';
import {
  describeFailures,
  describeTraces,
  expectBooksMatchSockets,
  type Failure,
  plannedFailoverRuns,
  SETTLED_WITHIN_MS,
  startNode,
  steadyTraffic,
} from './planned-failover-fixture.js';
import { freshPrefix, hasRedis, usePrivateSentinel } from './store-fixture.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.runIf(hasRedis && plannedFailoverRuns)('a SENTINEL FAILOVER under steady traffic', () => {
  const sentinel = usePrivateSentinel();

  it('admissions and releases go on: failures only around the switch, one fence per node, the books match the sockets', async () => {
    const keyPrefix = freshPrefix();
    const failures: Failure[] = [];
    const redis = () => ({
      name: sentinel.current.name,
      sentinelRootNodes: [...sentinel.current.sentinelRootNodes],
    });
    const a = await startNode('a', { redis: redis(), keyPrefix, policy: 'reject' }, failures);
    const b = await startNode('b', { redis: redis(), keyPrefix, policy: 'reject' }, failures);
    const churn = ['u1', 'u2', 'u3'];
    const traffic = await steadyTraffic({ nodes: [a, b], churn, full: 'ann', failures });
    await sleep(1_000);
    const t0 = Date.now();
    const { oldPort, promotedPort } = await sentinel.current.gracefulFailover();
    const switched = Date.now();
    expect(promotedPort).not.toBe(oldPort);
    const before = traffic.counts.admitted;
    await sleep(SETTLED_WITHIN_MS + 1_000);
    await traffic.stop();
    expect(traffic.counts.admitted - before).toBeGreaterThan(20);

    const known = (f: Failure) =>
      f.kind === 'error'
        ? f.code === 'WSSUP_STORE_UNAVAILABLE'
        : f.code === '503' || (f.code === '429' && f.user !== 'ann');
    // Soft: a run that fails here also says whether the books matched the sockets afterwards;
    // each node's fences and store calls (ms from t0) come with the failures.
    const traces = describeTraces([a, b], t0).join('\n');
    expect
      .soft(
        describeFailures(
          failures.filter((f) => !known(f)),
          t0,
        ),
        traces,
      )
      .toEqual([]);
    expect
      .soft(
        describeFailures(
          failures.filter((f) => f.at > switched + SETTLED_WITHIN_MS),
          t0,
        ),
        traces,
      )
      .toEqual([]);
    for (const node of [a, b]) {
      expect(node.fences.length).toBeLessThanOrEqual(1);
      for (const fence of node.fences) expect(fence.cause).toBe('failover');
    }
    await expectBooksMatchSockets([a, b], new Map([['ann', { a: 3, b: 2 }]]), ['ann', ...churn]);
  }, 60_000);
});
