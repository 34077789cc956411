/**
 * ClusterBook (issue 12) on a store of several failure domains (a Redis Cluster's masters):
 * what readiness (refusesAdmissions, behind stats().admission and /readyz) and stats()
 * say while some or all of them are away, and what a reconciliation reports to onError.
 */
import { expect, it, vi } from 'vitest';
import type { HeldConnection } from '../../src/cluster/slot-store.js';
import { bookOnMemoryStore } from '../helpers/cluster-book.js';

/** The renewal period of bookOnMemoryStore's lease (a third of its 60 s TTL). */
const RENEW_MS = 20_000;

/** ann's book on master A, bob's on B, and every other user's on C. */
const shardOf = (userId: string) => (userId === 'ann' ? 'A' : userId === 'bob' ? 'B' : 'C');

it("'reject', the whole cluster down: not ready, though this node's users have reached only one master", async () => {
  const { book, cluster, clock, leaseTaken } = bookOnMemoryStore(() => [], 'reject');
  book.shards = { of: shardOf, all: () => ['A', 'B', 'C'] };
  await expect.poll(leaseTaken).toBe(true);
  book.down = true;
  for (let i = 0; i < 3; i++) await cluster.reserve('ann', `c${i}`);
  // The renewals fail too, three in a row: the store-wide breaker opens.
  await vi.waitFor(() => {
    clock.increment(RENEW_MS);
    expect(cluster.stats().breaker).toBe('open');
  });
  expect(cluster.stats().unavailableShards).toEqual(['A']);
  // Before: B and C, never called, counted as answering, and the node stayed ready while
  // every upgrade to A was refused (and B's and C's would have been).
  expect(cluster.refusesAdmissions()).toBe(true);
  book.down = false;
  await cluster.stop();
});

it("'reject', the whole cluster down before any user was admitted: not ready", async () => {
  const { book, cluster, clock, leaseTaken } = bookOnMemoryStore(() => [], 'reject');
  book.shards = { of: shardOf, all: () => ['A', 'B', 'C'] };
  await expect.poll(leaseTaken).toBe(true);
  book.down = true;
  await vi.waitFor(() => {
    clock.increment(RENEW_MS);
    expect(cluster.stats().breaker).toBe('open');
  });
  expect(cluster.refusesAdmissions()).toBe(true);
  book.down = false;
  await cluster.stop();
});

it("'reject', one master down: ready, while its users are refused and the others' admitted", async () => {
  const { book, cluster, clock, leaseTaken } = bookOnMemoryStore(() => [], 'reject');
  book.shards = { of: shardOf, all: () => ['A', 'B', 'C'] };
  await expect.poll(leaseTaken).toBe(true);
  book.downShards.add('A');
  for (let i = 0; i < 3; i++) {
    expect(await cluster.reserve('ann', `a${i}`)).toMatchObject({ outcome: 'unavailable' });
  }
  expect(await cluster.reserve('bob', 'b0')).toEqual({ outcome: 'booked' });
  // The renewals go on (the registry's master answers): the store-wide breaker stays closed.
  clock.increment(RENEW_MS);
  await vi.waitFor(() => expect(book.calls.renew).toBeGreaterThan(0));
  expect(cluster.stats()).toMatchObject({ breaker: 'closed', unavailableShards: ['A'] });
  expect(cluster.refusesAdmissions()).toBe(false);
  await cluster.stop();
});

it('a reconciliation that fails on two masters reports each failure once', async () => {
  const held: HeldConnection[] = [];
  const { book, cluster, clock, reported, leaseTaken } = bookOnMemoryStore(() => held, 'local');
  book.shards = { of: shardOf, all: () => ['A', 'B', 'C'] };
  await expect.poll(leaseTaken).toBe(true);
  book.downShards.add('A');
  book.downShards.add('B');
  // ann (on A) and bob (on B) admitted unsynced: one failed call each, no breaker opens.
  for (const [userId, connectionId] of [
    ['ann', 'a0'],
    ['bob', 'b0'],
  ] as const) {
    const reservation = await cluster.reserve(userId, connectionId);
    expect(reservation).toEqual({ outcome: 'unsynced' });
    cluster.admitted(userId, connectionId, reservation);
    held.push({ userId, connectionId, admittedAt: clock.now(), idleSince: undefined });
  }
  reported.length = 0;
  // The renewal answers and finds the work owed: one reconciliation, whose re-admissions
  // reach both masters and time out there.
  clock.increment(RENEW_MS);
  await vi.waitFor(() => expect(book.calls.readmit).toBe(2));
  await vi.waitFor(() => expect(reported.length).toBeGreaterThanOrEqual(2));
  // Before: only A's was reported, B's real timeout never reached onError.
  expect(reported.map((error) => `${error.code} ${error.message}`).sort()).toEqual([
    'WSSUP_STORE_UNAVAILABLE memory store shard A is down (readmit)',
    'WSSUP_STORE_UNAVAILABLE memory store shard B is down (readmit)',
  ]);
  expect(cluster.stats().unavailableShards).toEqual([]);
  book.downShards.clear();
  await cluster.stop();
});

it('a master a failover replaced is not listed as unavailable once the layout no longer has it', async () => {
  const { book, cluster, leaseTaken } = bookOnMemoryStore(() => [], 'reject');
  let shards = ['A', 'B', 'C'];
  book.shards = { of: shardOf, all: () => shards };
  await expect.poll(leaseTaken).toBe(true);
  book.downShards.add('A');
  book.downShards.add('B');
  for (let i = 0; i < 3; i++) {
    await cluster.reserve('ann', `a${i}`);
    await cluster.reserve('bob', `b${i}`);
  }
  expect(cluster.stats().unavailableShards).toEqual(['A', 'B']);
  // A's replica is promoted at another address: A's users are served there, before any renewal.
  shards = ['A2', 'B', 'C'];
  book.shards = { of: (userId) => (userId === 'ann' ? 'A2' : shardOf(userId)), all: () => shards };
  // Readiness already reads the new layout; before, stats (and the gauge, the dashboard)
  // still named A as away until the next renewal forgot it.
  expect(cluster.refusesAdmissions()).toBe(false);
  expect(cluster.stats().unavailableShards).toEqual(['B']);
  book.downShards.clear();
  await cluster.stop();
});
