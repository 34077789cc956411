/**
 * ClusterBook's reconciliation paces its store calls (issue 12, "renewal costs the same with
 * 10 or 100,000 sockets"; src/cluster/reconcile-pace.ts). Each store call has its own
 * deadline from when it is sent: the re-admission after a lost lease sent every user's
 * script at once (the Redis store: one per user), and with tens of thousands of users the
 * last ones passed their deadline in Redis's queue, every time, so it never succeeded;
 * the one judging idle edge per user went all at once too. Owed releases went one at a
 * time, a round trip each, while the lease waited for the reconciliation to renew.
 *
 * Here, on the in-memory store: readmit() gets at most 250 users a call (commandTimeoutMs 1 s), a user's active
 * connections before its idle ones; the judging edges go at most 500 at once (two slices); owed releases
 * go several at once, at most 32; and every ordering rule still holds.
 */
import { expect, it, vi } from 'vitest';
import type { HeldConnection } from '../../src/cluster/slot-store.js';
import { bookOnMemoryStore } from '../helpers/cluster-book.js';
import type { MemoryStore } from '../helpers/memory-slot-store.js';

/** `users` users, one connection each but every tenth with three; the first one of two users in three idle. */
function heldBy(users: number): HeldConnection[] {
  const held: HeldConnection[] = [];
  for (let u = 0; u < users; u++) {
    for (let k = 0; k < (u % 10 === 0 ? 3 : 1); k++) {
      const idle = u % 3 !== 1 && k === 0;
      held.push({
        userId: `u${u}`,
        connectionId: `u${u}-c${k}`,
        admittedAt: k,
        idleSince: idle ? 1 : undefined,
      });
    }
  }
  return held;
}

/** Counts the calls of `method` in flight at once (each held a macrotask, as a round trip is). */
function countInFlight(store: MemoryStore, method: 'release' | 'setIdle'): { max: number; calls: number } {
  const seen = { max: 0, calls: 0 };
  let inFlight = 0;
  const original = (store[method] as (...args: unknown[]) => Promise<unknown>).bind(store);
  (store as unknown as Record<string, unknown>)[method] = async (...args: unknown[]) => {
    inFlight += 1;
    seen.calls += 1;
    seen.max = Math.max(seen.max, inFlight);
    try {
      await new Promise((resolve) => setImmediate(resolve));
      return await original(...args);
    } finally {
      inFlight -= 1;
    }
  };
  return seen;
}

async function bookedBook(users: number) {
  const held = heldBy(users);
  const setup = bookOnMemoryStore(() => held.map((connection) => ({ ...connection })));
  const { store, cluster, leaseTaken } = setup;
  await expect.poll(leaseTaken).toBe(true);
  for (const { userId, connectionId } of held)
    cluster.admitted(userId, connectionId, await cluster.reserve(userId, connectionId));
  // Their idle edges: booked idle, as the host says they are.
  for (const { userId, connectionId, idleSince } of held)
    if (idleSince !== undefined) await store.setIdle(userId, connectionId, idleSince);
  return { ...setup, held };
}

it('a full re-admission of 1,000 users goes in calls of at most 250 users, active before idle for each user, and books them all', async () => {
  const { book, store, cluster, clock, held } = await bookedBook(1_000);
  const calls: HeldConnection[][] = [];
  const readmit = store.readmit.bind(store);
  store.readmit = (connections, limit) => {
    calls.push([...connections]);
    return readmit(connections, limit);
  };
  const judging = countInFlight(store, 'setIdle');

  // A pause past leaseTtlMs: the next renewal finds the lease lost and books everything again.
  (book.leases.get(store.incarnation) as { expiresAt: number }).expiresAt = 0;
  const before = store.incarnation;
  clock.increment(20_000);
  await vi.waitFor(() => expect(store.incarnation).not.toBe(before));
  await vi.waitFor(() => {
    for (const { userId, connectionId } of held)
      expect(book.book(userId).get(connectionId)?.incarnation).toBe(store.incarnation);
  });

  // Before: one call of 1,000 users (and one of the idle ones); now slices of at most 250.
  const usersPerCall = calls.map((call) => new Set(call.map((connection) => connection.userId)).size);
  expect(Math.max(...usersPerCall)).toBeLessThanOrEqual(250);
  expect(calls.flat()).toHaveLength(held.length);
  // Each connection once, and each user's active connections in a call before its idle ones.
  expect(new Set(calls.flat().map((connection) => connection.connectionId)).size).toBe(held.length);
  const callOf = new Map<string, number>();
  calls.forEach((call, i) => {
    for (const connection of call) callOf.set(connection.connectionId, i);
  });
  for (const call of calls)
    expect(new Set(call.map((c) => c.idleSince === undefined)).size).toBeLessThanOrEqual(1);
  for (const { userId, connectionId, idleSince } of held) {
    if (idleSince === undefined) continue;
    for (const other of held)
      if (other.userId === userId && other.idleSince === undefined)
        expect(callOf.get(other.connectionId)).toBeLessThan(callOf.get(connectionId) as number);
  }
  // One judging edge per user with an idle connection (667 of them), two slices' worth at most at once.
  await vi.waitFor(() => expect(judging.calls).toBe(667));
  expect(judging.max).toBeLessThanOrEqual(500);
  expect(cluster.stats()).toMatchObject({ unsynced: 0, pendingReleases: 0, breaker: 'closed' });
  await cluster.stop();
});

it('owed releases go several at once (at most 32), all before the re-admission of what was admitted unsynced', async () => {
  const { book, store, cluster, clock, held, told } = await bookedBook(300);
  // An outage: every connection closes meanwhile (400 releases owed), and one is admitted unsynced.
  book.down = true;
  for (const { userId, connectionId } of held) cluster.released(userId, connectionId);
  await vi.waitFor(() => expect(cluster.stats().pendingReleases).toBe(held.length));
  const reservation = await cluster.reserve('newcomer', 'n1');
  expect(reservation).toEqual({ outcome: 'unsynced' });
  cluster.admitted('newcomer', 'n1', reservation);
  held.length = 0;
  held.push({ userId: 'newcomer', connectionId: 'n1', admittedAt: 0, idleSince: undefined });

  const releases = countInFlight(store, 'release');
  let releasesAtReadmit = -1;
  const readmit = store.readmit.bind(store);
  store.readmit = (connections, limit) => {
    releasesAtReadmit = cluster.stats().pendingReleases;
    return readmit(connections, limit);
  };
  book.down = false;
  // The renewals go on; once the breaker lets a call through again (a second, real time), the
  // renewal succeeds and goes on to the reconciliation.
  await vi.waitFor(
    () => {
      clock.increment(20_000);
      expect(cluster.stats()).toMatchObject({ unsynced: 0, pendingReleases: 0 });
    },
    { timeout: 5_000, interval: 100 },
  );
  // Before: one at a time (max 1), a round trip each.
  expect(releases.max).toBeGreaterThan(1);
  expect(releases.max).toBeLessThanOrEqual(32);
  expect(releasesAtReadmit).toBe(0);
  expect([...book.book('u0').keys()]).toEqual([]);
  expect(book.book('newcomer').get('n1')?.incarnation).toBe(store.incarnation);
  expect(told.filter((line) => line.startsWith('evict'))).toEqual([]);
  await cluster.stop();
});

it('a full re-admission of 140,000 users in one failure domain succeeds: no spread of them all overflows the stack', async () => {
  // Before, the domain's booked connections were spread into one push(), past V8's argument
  // limit: "Maximum call stack size exceeded", every pass.
  const held = heldBy(140_000);
  const { book, store, cluster, clock, reported, leaseTaken } = bookOnMemoryStore(() => held);
  await expect.poll(leaseTaken).toBe(true);
  for (const { userId, connectionId } of held)
    cluster.admitted(userId, connectionId, await cluster.reserve(userId, connectionId));
  (book.leases.get(store.incarnation) as { expiresAt: number }).expiresAt = 0;
  const before = store.incarnation;
  clock.increment(20_000);
  await vi.waitFor(() => expect(store.incarnation).not.toBe(before));
  const last = held[held.length - 1] as HeldConnection;
  await vi.waitFor(
    () => expect(book.book(last.userId).get(last.connectionId)?.incarnation).toBe(store.incarnation),
    { timeout: 30_000, interval: 50 },
  );
  // The pass ends with its judging edges; then nothing is owed and nothing was reported.
  await vi.waitFor(() => expect(cluster.stats()).toMatchObject({ unsynced: 0, pendingReleases: 0 }), {
    timeout: 30_000,
  });
  await new Promise((resolve) => setImmediate(resolve));
  expect(reported.map((error) => error.message)).toEqual([]);
  expect(book.book('u0').get('u0-c0')?.incarnation).toBe(store.incarnation);
  await cluster.stop();
}, 60_000);

it('a later slice reads its connections again: one active since the pass began is booked with the active ones', async () => {
  const { book, store, cluster, clock, held } = await bookedBook(600);
  // u552's only connection is idle (552 % 3 !== 1), in the third slice; it turns active while
  // the first slice is on its way.
  const turning = held.find((connection) => connection.userId === 'u552') as HeldConnection;
  expect(turning.idleSince).toBe(1);
  const calls: HeldConnection[][] = [];
  const readmit = store.readmit.bind(store);
  store.readmit = (connections, limit) => {
    calls.push([...connections]);
    if (calls.length === 1) turning.idleSince = undefined;
    return readmit(connections, limit);
  };
  (book.leases.get(store.incarnation) as { expiresAt: number }).expiresAt = 0;
  const before = store.incarnation;
  clock.increment(20_000);
  await vi.waitFor(() => expect(store.incarnation).not.toBe(before));
  await vi.waitFor(() =>
    expect(book.book('u552').get(turning.connectionId)?.incarnation).toBe(store.incarnation),
  );
  const sentWith = calls.find((call) => call.some((c) => c.connectionId === turning.connectionId));
  // Before: read when the pass began, it went in its slice's idle call.
  expect(sentWith?.every((connection) => connection.idleSince === undefined)).toBe(true);
  await cluster.stop();
});
