/**
 * ClusterBook (issue 12): the lease is renewed while a reconciliation runs. A full
 * re-admission of tens of thousands of users, paced in slices (reconcile-pace.ts), may
 * outlast a renewal period, and no renewal was sent until it ended: past the TTL the
 * lease ran out mid-way, the next renewal took a new incarnation and owed a full
 * re-admission again, and so on without end, this node's slots dead meanwhile for every
 * other node. Here a re-admission of 800 users, each slice answered within its deadline,
 * lasts two lease TTLs on the injected clock: the lease is renewed at its ticks beside it
 * and never lost, and the re-admission books everything under the incarnation it began with.
 */
import { expect, it, vi } from 'vitest';
import type { HeldConnection } from '../../src/cluster/slot-store.js';
import { bookOnMemoryStore } from '../helpers/cluster-book.js';

/** A lease of 300 ms (renewed every 100 ms); calls of 10 users (deadline 20 ms). */
const LEASE_TTL_MS = 300;
const RENEW_MS = LEASE_TTL_MS / 3;
const COMMAND_TIMEOUT_MS = 20;
/** How long each readmit slice takes: within its deadline. */
const SLICE_MS = 15;
const USERS = 800;

const flush = async () => {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
};

it('a re-admission that outlasts the lease TTL: the lease is renewed at its ticks beside it and never lost', async () => {
  const held: HeldConnection[] = Array.from({ length: USERS }, (_, u) => ({
    userId: `u${u}`,
    connectionId: `u${u}-c0`,
    admittedAt: u,
    idleSince: undefined,
  }));
  const { book, store, cluster, clock } = bookOnMemoryStore(
    () => held.map((connection) => ({ ...connection })),
    'local',
    { leaseTtlMs: LEASE_TTL_MS, commandTimeoutMs: COMMAND_TIMEOUT_MS },
  );
  await vi.waitFor(() => expect(cluster.stats().leaseHeld).toBe(true));
  for (const { userId, connectionId } of held)
    cluster.admitted(userId, connectionId, await cluster.reserve(userId, connectionId));

  // Each slice of the re-admission answers one step (SLICE_MS) after it was sent.
  const slices: Array<() => void> = [];
  const readmit = store.readmit.bind(store);
  store.readmit = async (connections, limit) => {
    await new Promise<void>((resolve) => slices.push(resolve));
    return readmit(connections, limit);
  };

  // A pause past the TTL: the next renewal finds the lease lost and books everything again.
  (book.leases.get(store.incarnation) as { expiresAt: number }).expiresAt = 0;
  const before = store.incarnation;
  clock.increment(RENEW_MS);
  await vi.waitFor(() => expect(slices.length).toBeGreaterThan(0));
  const incarnation = store.incarnation;
  expect(incarnation).not.toBe(before);
  const renewalsBefore = book.calls.renew ?? 0;
  const began = clock.now();

  const booked = () =>
    held.every(
      ({ userId, connectionId }) => book.book(userId).get(connectionId)?.incarnation === incarnation,
    );
  while (!booked()) {
    clock.increment(SLICE_MS);
    for (const answer of slices.splice(0)) answer();
    await flush();
    // Never lost: the same incarnation, its lease alive in the book, and held as this node sees it.
    expect(store.incarnation, `incarnation at +${clock.now() - began} ms`).toBe(incarnation);
    expect((book.leases.get(incarnation)?.expiresAt ?? 0) > clock.now(), 'lease alive in the book').toBe(
      true,
    );
    expect(cluster.stats().leaseHeld, `leaseHeld at +${clock.now() - began} ms`).toBe(true);
    expect(clock.now() - began, 'the re-admission ended').toBeLessThan(20 * LEASE_TTL_MS);
  }
  const took = clock.now() - began;
  // Two lease TTLs at least: without renewals beside it, the lease ran out a third of the way.
  expect(took).toBeGreaterThanOrEqual(2 * LEASE_TTL_MS);
  // One renewal per tick while it ran (the first tick a whole period after it began).
  expect((book.calls.renew ?? 0) - renewalsBefore).toBeGreaterThanOrEqual(Math.floor(took / RENEW_MS) - 1);
  expect(cluster.stats()).toMatchObject({ unsynced: 0, pendingReleases: 0, breaker: 'closed' });

  // Done for good: the next renewals find the lease held and owe nothing more.
  const readmits = book.calls.readmit ?? 0;
  for (let i = 0; i < 3; i++) {
    clock.increment(RENEW_MS);
    for (const answer of slices.splice(0)) answer();
    await flush();
  }
  expect(store.incarnation).toBe(incarnation);
  expect(book.calls.readmit ?? 0).toBe(readmits);
  await cluster.stop();
});
