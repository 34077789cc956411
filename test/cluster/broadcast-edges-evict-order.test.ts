/**
 * A broadcast's idle → live edges are taken EDGES_PER_TURN a loop turn (src/send-edges.ts), so a
 * connection just sent to may still be idle in its machines, and in the cluster's book, when
 * another process's admission names it for eviction as the longest idle. Its process takes the
 * user's waiting edges before it judges the order: the connection is active (the message it was
 * sent counts), so it is kept and booked again, never evicted as idle.
 *
 * Private redis-server; two supervisors over the in-memory transport of the benchmarks, so that
 * thousands of connections keep the edges waiting for several loop turns.
 */
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { createMemorySupervisor } from '../../bench/memory-supervisor.js';
import type { MemoryPeer } from '../../bench/memory-transport.js';
import type { EvictedEvent, SupervisorOptions } from '../../src/index.js';
import { EDGES_PER_TURN } from '../../src/send-edges.js';
import { freshPrefix, hasRedis, usePrivateRedis } from './store-fixture.js';

/** Enough others before her that her edge waits about ten loop turns. */
const OTHERS = 10 * EDGES_PER_TURN;
/** Long enough that nobody turns idle again while the test looks (its checks take well under it). */
const idleTimeoutMs = 5_000;

describe.runIf(hasRedis)('cluster: an eviction order for a connection whose send edge still waits', () => {
  const redis = usePrivateRedis();

  function node(nodeId: string, keyPrefix: string) {
    const evicted: EvictedEvent[] = [];
    const options: Partial<SupervisorOptions> = {
      maxConnectionsPerUser: 3, // T = 3
      idleTimeoutMs,
      heartbeatIntervalMs: 3_600_000,
      cluster: {
        redis: redis.current.url,
        nodeId,
        keyPrefix,
        leaseTtlMs: 15_000,
        onStoreUnavailable: 'local',
      },
    };
    const memory = createMemorySupervisor(options);
    memory.supervisor.on('evicted', (event) => void evicted.push(event));
    onTestFinished(() => memory.supervisor.shutdown({ deadlineMs: 0 }));
    return { ...memory, evicted };
  }

  it('is kept, booked again as live, and not evicted', async () => {
    const keyPrefix = freshPrefix();
    const a = node('be-a', keyPrefix);
    const b = node('be-b', keyPrefix);
    await Promise.all([a, b].map((n) => n.supervisor.ready({ signal: AbortSignal.timeout(10_000) })));
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < OTHERS) await a.connect(`o${next++}`);
      }),
    );
    // Hers last on A: the broadcast reaches her after the others.
    const first: MemoryPeer = await a.connect('ola');
    await vi.waitFor(
      async () => {
        expect(a.supervisor.stats().idle).toBe(OTHERS + 1);
        expect(await a.supervisor.userStats('ola', { cluster: true })).toMatchObject({ live: 1, idle: 1 });
      },
      { timeout: 30_000, interval: 50 },
    );
    // Her second, on B, active; the third will reach T and evict the longest idle: the first.
    await b.connect('ola');

    expect(a.supervisor.broadcast('news')).toBe(OTHERS + 1);
    expect(first.ws?.received).toBe(1); // sent: she is active from now on
    expect(a.supervisor.userStats('ola')).toMatchObject({ idle: 1 }); // her edge waits
    const third = await b.connect('ola');
    expect(third.open).toBe(true);

    // Her edge taken and the order judged: none evicted, all three booked live.
    await vi.waitFor(
      async () => {
        expect([...a.evicted, ...b.evicted]).toEqual([]);
        expect(await a.supervisor.userStats('ola', { cluster: true })).toMatchObject({ live: 3, idle: 0 });
      },
      { timeout: idleTimeoutMs - 1_000, interval: 50 },
    );
    expect(first.open).toBe(true);
    expect(a.supervisor.userStats('ola')).toMatchObject({ live: 1, idle: 0 });
  }, 90_000);
});
