/**
 * Idle ⇄ live edges at scale (issue 12), on a private redis-server with a supervisor that holds
 * thousands of connections over the in-memory transport of the benchmarks (bench/memory-transport.ts:
 * the whole runtime runs, only TCP and the ws protocol are replaced).
 *
 * A broadcast (activity 'both', the default) makes every connection live at the same moment, so
 * they all go idle idleTimeoutMs later, at the same moment too. Each edge is one setIdle script,
 * with its deadline (commandTimeoutMs) from when it is sent; all sent at once, 10,000 of them
 * queued behind each other, every one failed, each was reported, and the breaker opened
 * (bench/RESULTS.md). Now they go through a queue (src/cluster/edge-queue.ts): at most 500 in
 * flight at 500 ms. The calls are watched on the Redis store's prototype (vi.spyOn, so this file
 * is isolated): the storm's timeouts need ten thousand connections to show on any machine, and a
 * deadline short enough to show them with a few thousand is one a loaded machine's stalls pass too.
 */
import { beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { bookCount, bookCountCommand } from '../../bench/book-count.js';
import { createMemorySupervisor } from '../../bench/memory-supervisor.js';
import type { MemoryPeer } from '../../bench/memory-transport.js';
import { createRedisSlotStore } from '../../src/cluster/redis-store.js';
import type { SupervisorError } from '../../src/index.js';
import type { PrivateRedis } from '../helpers/redis-server.js';
import { hasRedis, usePrivateRedis } from './store-fixture.js';

/** 3,000 users, one connection each. */
const USERS = 3_000;
const idleTimeoutMs = 2_000;

/** The setIdle calls of the Redis store in flight now, the most at once, and how many were answered. */
const setIdle = { inFlight: 0, max: 0, answered: 0 };

async function booked(redis: PrivateRedis, keyPrefix: string, incarnation: number) {
  const [command, ...args] = bookCountCommand(keyPrefix, incarnation) as [string, ...string[]];
  return bookCount(await redis.command(command, ...args));
}

const storeErrors = (reported: SupervisorError[]) =>
  reported.filter((error) => error.code.startsWith('WSSUP_STORE')).map((error) => error.message);

describe.runIf(hasRedis)('idle ⇄ live edges of thousands of connections at once', () => {
  const redis = usePrivateRedis();
  beforeAll(() => {
    const prototype = Object.getPrototypeOf(
      createRedisSlotStore({ redis: redis.current.url, nodeId: 'prototype-only' }),
    ) as { setIdle(...args: unknown[]): Promise<unknown> };
    const original = prototype.setIdle;
    vi.spyOn(prototype, 'setIdle').mockImplementation(function (this: unknown, ...args: unknown[]) {
      setIdle.inFlight += 1;
      setIdle.max = Math.max(setIdle.max, setIdle.inFlight);
      return original.apply(this, args).finally(() => {
        setIdle.inFlight -= 1;
        setIdle.answered += 1;
      });
    });
  });

  it('a broadcast, then idleTimeoutMs later: at most 500 setIdle in flight, nothing reported, the breaker closed, the book matches', async () => {
    const keyPrefix = 'edges-scale';
    const reported: SupervisorError[] = [];
    const { supervisor, connect } = createMemorySupervisor({
      maxConnectionsPerUser: 5,
      idleTimeoutMs,
      heartbeatIntervalMs: 1_000_000_000,
      cluster: {
        redis: redis.current.url,
        nodeId: 'edges-scale',
        keyPrefix,
        leaseTtlMs: 15_000,
        commandTimeoutMs: 500,
        onStoreUnavailable: 'local',
      },
      onError: (error) => reported.push(error),
    });
    onTestFinished(() => supervisor.shutdown({ deadlineMs: 0 }));
    await vi.waitFor(() => expect(supervisor.stats().cluster?.leaseHeld).toBe(true), { timeout: 5_000 });
    const peers: MemoryPeer[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < USERS) peers.push(await connect(`u${next++}`));
      }),
    );
    expect(peers.every((peer) => peer.open)).toBe(true);
    const incarnation = supervisor.stats().cluster?.incarnation as number;
    // Every connection idle, and its edge answered (they went idle as they were admitted, spread out).
    await vi.waitFor(
      async () => {
        expect(supervisor.stats().idle).toBe(USERS);
        expect(setIdle.inFlight).toBe(0);
        expect(await booked(redis.current, keyPrefix, incarnation)).toEqual({ entries: USERS, idle: USERS });
      },
      { timeout: 15_000, interval: 100 },
    );
    reported.length = 0;
    setIdle.max = 0;
    setIdle.answered = 0;

    // Every connection live at once (activity 'both': the server's message counts).
    expect(supervisor.broadcast('all live')).toBe(USERS);
    await vi.waitFor(
      async () => {
        expect(setIdle.answered).toBeGreaterThanOrEqual(USERS);
        expect(await booked(redis.current, keyPrefix, incarnation)).toEqual({ entries: USERS, idle: 0 });
      },
      { timeout: 10_000, interval: 100 },
    );
    // Before: all 3,000 at once.
    expect(setIdle.max).toBeLessThanOrEqual(500);
    setIdle.max = 0;

    // idleTimeoutMs later, every connection idle at once.
    await vi.waitFor(
      async () => {
        expect(supervisor.stats().idle).toBe(USERS);
        expect(await booked(redis.current, keyPrefix, incarnation)).toEqual({ entries: USERS, idle: USERS });
      },
      { timeout: 15_000, interval: 100 },
    );
    expect(setIdle.max).toBeLessThanOrEqual(500);
    expect(storeErrors(reported)).toEqual([]);
    expect(supervisor.stats().cluster).toMatchObject({
      breaker: 'closed',
      leaseHeld: true,
      unsynced: 0,
      pendingReleases: 0,
      incarnation,
    });
    expect(supervisor.stats().counters.evicted).toBe(0);
    expect(peers.every((peer) => peer.open)).toBe(true);
    expect(supervisor.audit()).toMatchObject({ ok: true });
  });
});
