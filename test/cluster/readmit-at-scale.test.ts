/**
 * Re-admission at scale (issue 12: "re-admits its live sockets", "renewal costs the same with
 * 10 or 100,000 sockets"), on a private redis-server with a supervisor that holds thousands of
 * connections over the in-memory transport of the benchmarks (bench/memory-transport.ts: the
 * whole runtime runs, only TCP and the ws protocol are replaced).
 *
 * Every Redis command has its deadline (commandTimeoutMs) from when it is sent. The re-admission
 * sent one readmit script per user, all at once: with tens of thousands of users the last ones
 * passed their deadline in Redis's queue, the re-admission failed (reported), the connection
 * counted as stuck meanwhile, and the next renewal sent the same storm again (bench/RESULTS.md:
 * nine failed passes, 71 s, for 50,000 users at the default 500 ms). Now it goes in slices
 * (src/cluster/reconcile-pace.ts): at most 250 users per readmit() call at 500 ms, one pass,
 * nothing reported, every socket booked, nothing evicted. The calls are watched on the Redis
 * store's prototype (vi.spyOn, so this file is isolated): a storm's timeouts need tens of
 * thousands of users to show on any machine, and a deadline short enough to show them with a
 * few thousand is one that a loaded machine's stalls pass too.
 */
import { beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { createMemorySupervisor, type MemorySupervisor } from '../../bench/memory-supervisor.js';
import type { MemoryPeer } from '../../bench/memory-transport.js';
import { createRedisSlotStore } from '../../src/cluster/redis-store.js';
import type { HeldConnection } from '../../src/cluster/slot-store.js';
import type { SupervisorError } from '../../src/index.js';
import type { PrivateRedis } from '../helpers/redis-server.js';
import { hasRedis, usePrivateRedis } from './store-fixture.js';

/** 4,000 users: every tenth holds three connections (4,800), under the limit of 5. */
const USERS = 4_000;
const leaseTtlMs = 1_500;

function startNode(url: string, nodeId: string, keyPrefix: string) {
  const reported: SupervisorError[] = [];
  const node = createMemorySupervisor({
    maxConnectionsPerUser: 5,
    idleTimeoutMs: 1_000_000_000,
    heartbeatIntervalMs: 1_000_000_000,
    cluster: {
      redis: url,
      nodeId,
      keyPrefix,
      leaseTtlMs,
      commandTimeoutMs: 500,
      onStoreUnavailable: 'local',
    },
    onError: (error) => reported.push(error),
  });
  onTestFinished(() => node.supervisor.shutdown({ deadlineMs: 0 }));
  return { ...node, reported };
}

/** Connects every user's connections, a bounded number at once. */
async function connectAll(node: MemorySupervisor): Promise<MemoryPeer[]> {
  const users: string[] = [];
  for (let u = 0; u < USERS; u++) for (let k = 0; k < (u % 10 === 0 ? 3 : 1); k++) users.push(`u${u}`);
  const peers: MemoryPeer[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < users.length) peers.push(await node.connect(users[next++] as string));
    }),
  );
  return peers;
}

/** How many entries the book holds under `incarnation`, every user's (one script: no storm of reads). */
const countScript = `local n, cursor = 0, '0'
repeat
  local page = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', 1000)
  cursor = page[1]
  for _, key in ipairs(page[2]) do
    for _, entry in ipairs(redis.call('HVALS', key)) do
      if string.sub(entry, 1, string.len(ARGV[2]) + 1) == ARGV[2] .. '|' then n = n + 1 end
    end
  end
until cursor == '0'
return n`;
async function bookedUnder(redis: PrivateRedis, keyPrefix: string, incarnation: number): Promise<number> {
  return Number(
    await redis.command('EVAL', countScript, '0', `${keyPrefix}:{u:*}:slots`, String(incarnation)),
  );
}

const storeErrors = (reported: SupervisorError[]) =>
  reported.filter((error) => error.code.startsWith('WSSUP_STORE')).map((error) => error.message);

/** The users of each readmit() call of the Redis store, every store's of this file, in order. */
const readmitCalls: number[] = [];
const usersOf = (held: readonly HeldConnection[]) => new Set(held.map((c) => c.userId)).size;

describe.runIf(hasRedis)('re-admission of thousands of users', () => {
  const redis = usePrivateRedis();
  beforeAll(() => {
    const prototype = Object.getPrototypeOf(
      createRedisSlotStore({ redis: redis.current.url, nodeId: 'prototype-only' }),
    ) as { readmit(held: readonly HeldConnection[], limit: number): Promise<string[]> };
    const readmit = prototype.readmit;
    vi.spyOn(prototype, 'readmit').mockImplementation(function (this: unknown, held, limit) {
      readmitCalls.push(usersOf(held));
      return readmit.call(this, held, limit);
    });
  });

  it('a lost lease: one pass books every socket again, nothing reported, nothing evicted, the audit clean', async () => {
    const keyPrefix = 'scale-lost';
    const node = startNode(redis.current.url, 'scale-lost', keyPrefix);
    const { supervisor } = node;
    await vi.waitFor(() => expect(supervisor.stats().cluster?.leaseHeld).toBe(true), { timeout: 5_000 });
    const peers = await connectAll(node);
    expect(peers.every((peer) => peer.open)).toBe(true);
    const incarnationNow = () => supervisor.stats().cluster?.incarnation as number;
    // Booked, whatever a loaded machine's slow answer (a renewal's too) left to the reconciliation meanwhile.
    await vi.waitFor(
      async () => {
        expect(supervisor.stats().cluster).toMatchObject({ unsynced: 0, pendingReleases: 0 });
        expect(await bookedUnder(redis.current, keyPrefix, incarnationNow())).toBe(peers.length);
      },
      { timeout: 10_000, interval: 100 },
    );
    const first = incarnationNow();
    node.reported.length = 0;
    readmitCalls.length = 0;

    // A pause past the lease, as an operator expires it: the next renewal takes a new
    // incarnation and books again all 4,800 sockets of the 4,000 users.
    await redis.current.command('ZADD', `${keyPrefix}:{nodes}:leases`, 'XX', '0', String(first));
    await vi.waitFor(() => expect(supervisor.stats().cluster?.incarnation).not.toBe(first), {
      timeout: 5_000,
    });
    const incarnation = supervisor.stats().cluster?.incarnation as number;
    await vi.waitFor(
      async () => expect(await bookedUnder(redis.current, keyPrefix, incarnation)).toBe(peers.length),
      { timeout: 5_000, interval: 100 },
    );
    // Two renewals more: a failed pass would have been reported (and retried) by now.
    await new Promise((resolve) => setTimeout(resolve, (2 * leaseTtlMs) / 3));
    // Before: one call of all 4,000 users (their active connections), and one of the idle ones (none).
    expect(Math.max(...readmitCalls)).toBeLessThanOrEqual(250);
    expect(readmitCalls.reduce((sum, users) => sum + users, 0)).toBe(USERS);
    expect(storeErrors(node.reported)).toEqual([]);
    expect(supervisor.stats().cluster).toMatchObject({ breaker: 'closed', leaseHeld: true, unsynced: 0 });
    expect(supervisor.stats().counters.evicted).toBe(0);
    expect(peers.every((peer) => peer.open)).toBe(true);
    expect(supervisor.audit()).toMatchObject({ ok: true });
  });

  it("an outage under 'local': the thousands admitted unsynced are booked in one pass once Redis is back", async () => {
    const keyPrefix = 'scale-outage';
    const node = startNode(redis.current.url, 'scale-outage', keyPrefix);
    const { supervisor } = node;
    await vi.waitFor(() => expect(supervisor.stats().cluster?.leaseHeld).toBe(true), { timeout: 5_000 });

    await redis.current.pause();
    let resumed = false;
    onTestFinished(() => {
      if (!resumed) redis.current.resume();
    });
    const peers = await connectAll(node);
    expect(peers.every((peer) => peer.open)).toBe(true);
    expect(supervisor.stats().cluster?.unsynced).toBe(peers.length);
    node.reported.length = 0;
    readmitCalls.length = 0;
    redis.current.resume();
    resumed = true;

    // The breaker lets a renewal through (a second after it opened), which goes on to book them.
    const incarnation = () => supervisor.stats().cluster?.incarnation as number;
    await vi.waitFor(
      async () => {
        expect(supervisor.stats().cluster).toMatchObject({ breaker: 'closed', unsynced: 0 });
        expect(await bookedUnder(redis.current, keyPrefix, incarnation())).toBe(peers.length);
      },
      { timeout: 8_000, interval: 100 },
    );
    await new Promise((resolve) => setTimeout(resolve, (2 * leaseTtlMs) / 3));
    // Before: one call of all 4,000 users.
    expect(Math.max(...readmitCalls)).toBeLessThanOrEqual(250);
    expect(readmitCalls.reduce((sum, users) => sum + users, 0)).toBe(USERS);
    // Not the outage's own: a command the pause left unanswered fails when node-redis's socket
    // times out (2 s of silence), and one sent while it reconnects finds it offline; on a loaded
    // machine those reach onError after the resume. Any other (a deadline passed, a renewal
    // refused behind unanswered commands) is the re-admission's.
    const outage = /Socket timeout|The client is offline/;
    expect(storeErrors(node.reported).filter((message) => !outage.test(message))).toEqual([]);
    expect(supervisor.stats().cluster).toMatchObject({
      breaker: 'closed',
      leaseHeld: true,
      pendingReleases: 0,
    });
    expect(supervisor.stats().counters.evicted).toBe(0);
    expect(peers.every((peer) => peer.open)).toBe(true);
    expect(supervisor.audit()).toMatchObject({ ok: true });
  });
});
