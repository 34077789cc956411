/**
 * ClusterBook (issue 12): the full re-admission after a lost lease (a pause past leaseTtlMs,
 * a failover, a Redis restart). It books every connection the node holds with its idle state,
 * but the readmit script judges only the limit, never the eviction rule at T. While the lease
 * was lost this node's entries were dead (not counted), so the edges seen then judged a smaller
 * book; once the re-admission brings them back the user may be at T with every connection idle,
 * and nothing judged that book until the user's next admission or a later idle edge. Now, after
 * a full re-admission, one idle edge per user with an idle connection held here judges it (see
 * cluster-book-unsynced-idle-judged.test.ts and cluster-book-grace-idle-judged.test.ts for the
 * edges owed by connections not booked yet).
 */
import { expect, it, vi } from 'vitest';
import type { HeldConnection } from '../../src/cluster/slot-store.js';
import { SlotStoreUnavailableError } from '../../src/cluster/slot-store.js';
import { bookOnMemoryStore, startOtherNode } from '../helpers/cluster-book.js';
import type { MemoryStore } from '../helpers/memory-slot-store.js';

/**
 * limit 5, T 4: c1, c2 here and m1 on node-1, all idle (3 < T); then the lease here is lost,
 * and `beforeRenewal` runs just before the renewal that finds it lost.
 */
async function idleBookWhileLeaseLost(
  firstIdle: 'here' | 'there',
  beforeRenewal: (store: MemoryStore) => void = () => {},
) {
  const c1: HeldConnection = { userId: 'ann', connectionId: 'c1', admittedAt: 0, idleSince: undefined };
  const c2: HeldConnection = { userId: 'ann', connectionId: 'c2', admittedAt: 0, idleSince: undefined };
  const setup = bookOnMemoryStore(() => [{ ...c1 }, { ...c2 }]);
  const { book, store, cluster, clock, leaseTaken } = setup;
  await expect.poll(leaseTaken).toBe(true);
  const { other, orders } = await startOtherNode(book);

  for (const id of ['c1', 'c2']) cluster.admitted('ann', id, await cluster.reserve('ann', id));
  await other.admit('ann', 'm1', 5, 4);
  const turnIdle = async (connection: HeldConnection) => {
    clock.increment(100);
    connection.idleSince = clock.now();
    cluster.idle('ann', connection.connectionId, connection.idleSince);
    await vi.waitFor(() =>
      expect(book.book('ann').get(connection.connectionId)?.idleSince).toBe(connection.idleSince),
    );
  };
  if (firstIdle === 'there') {
    clock.increment(100);
    expect(await other.setIdle('ann', 'm1', clock.now(), 4)).toEqual([]);
  }
  await turnIdle(c1);
  await turnIdle(c2);
  if (firstIdle === 'here') {
    clock.increment(100);
    expect(await other.setIdle('ann', 'm1', clock.now(), 4)).toEqual([]);
  }

  // A pause past leaseTtlMs: this node's lease expired, its entries are dead (not counted).
  (book.leases.get(store.incarnation) as { expiresAt: number }).expiresAt = 0;
  // node-1 admits m2, which turns idle: judged on a book of 2 (c1, c2 dead), no victim.
  expect(await other.admit('ann', 'm2', 5, 4)).toMatchObject({ admitted: true });
  clock.increment(100);
  expect(await other.setIdle('ann', 'm2', clock.now(), 4)).toEqual([]);

  // The next renewal finds the lease lost: a new incarnation, and the full re-admission books
  // c1 and c2, idle: 4 entries of live incarnations, all idle, at T 4.
  const before = store.incarnation;
  beforeRenewal(store);
  clock.increment(20_000);
  await vi.waitFor(() => expect(store.incarnation).not.toBe(before));
  await vi.waitFor(() => {
    expect(book.book('ann').get('c1')?.incarnation).toBe(store.incarnation);
    expect(book.book('ann').get('c2')?.incarnation).toBe(store.incarnation);
  });
  return { ...setup, orders };
}

it('after a full re-admission, a user whose connections are all idle at T loses the longest idle (on another node: ordered)', async () => {
  const { book, cluster, told, orders } = await idleBookWhileLeaseLost('there');
  // Before the fix: nothing judged the book after the re-admission; the four sat at T, idle.
  await vi.waitFor(() => expect(orders.map((order) => order.connectionId)).toEqual(['m1']));
  expect(book.book('ann').get('m1')?.evicting).toBe(true);
  expect([...book.book('ann').values()].filter((entry) => !entry.evicting)).toHaveLength(3);
  expect(told.filter((line) => line.startsWith('evict'))).toEqual([]);
  await cluster.stop();
});

it('after a full re-admission, a user whose connections are all idle at T loses the longest idle (held here: evicted here)', async () => {
  const { book, cluster, told, orders } = await idleBookWhileLeaseLost('here');
  await vi.waitFor(() =>
    expect(told.filter((line) => line.startsWith('evict'))).toEqual(['evictIfIdle ann c1']),
  );
  expect(book.book('ann').get('c1')?.evicting).toBe(true);
  expect([...book.book('ann').values()].filter((entry) => !entry.evicting)).toHaveLength(3);
  expect(orders).toEqual([]);
  await cluster.stop();
});

it('a connection idle since before a failover, kept for the grace and booked at the next renewal, is judged too: at T the longest idle goes', async () => {
  const c1: HeldConnection = { userId: 'ann', connectionId: 'c1', admittedAt: 0, idleSince: undefined };
  const { book, store, cluster, clock, told, leaseTaken } = bookOnMemoryStore(() => [{ ...c1 }]);
  await expect.poll(leaseTaken).toBe(true);
  const { other, orders } = await startOtherNode(book);

  // limit 5, T 4: c1 here turns idle while alone (no victim), then m1..m3 on node-1, live.
  cluster.admitted('ann', 'c1', await cluster.reserve('ann', 'c1'));
  clock.increment(100);
  c1.idleSince = clock.now();
  cluster.idle('ann', 'c1', c1.idleSince);
  await vi.waitFor(() => expect(book.book('ann').get('c1')?.idleSince).toBe(c1.idleSince));
  for (const id of ['m1', 'm2', 'm3']) await other.admit('ann', id, 5, 4);
  // A failover: the new server lost c1's entry, and node-1 took the slots (m4, m5).
  book.book('ann').delete('c1');
  for (const id of ['m4', 'm5']) await other.admit('ann', id, 5, 4);
  // m1..m3 turn idle (edges that do not judge: 3 idle of 5 live would be at T already).
  for (const id of ['m1', 'm2', 'm3']) {
    clock.increment(100);
    expect(await other.setIdle('ann', id, clock.now())).toEqual([]);
  }

  // The full re-admission after the failover refuses c1 (ann holds 5 of 5): kept for the grace.
  store.failedOver = true;
  clock.increment(20_000);
  await vi.waitFor(() => expect(cluster.stats()).toMatchObject({ unsynced: 1 }));
  expect(told.filter((line) => line.startsWith('evict'))).toEqual([]);

  // node-1's live ones close: the book holds m1..m3, idle.
  for (const id of ['m4', 'm5']) await other.release('ann', id);

  // The next renewal's reconciliation books c1, idle (no edge owed: it turned idle before the
  // failover): 4 entries, all idle, at T 4. c1 is the longest idle, held here.
  clock.increment(20_000);
  await vi.waitFor(() => expect(cluster.stats()).toMatchObject({ unsynced: 0 }));
  await vi.waitFor(() =>
    expect(told.filter((line) => line.startsWith('evict'))).toEqual(['evictIfIdle ann c1']),
  );
  expect(book.book('ann').get('c1')?.evicting).toBe(true);
  expect([...book.book('ann').values()].filter((entry) => !entry.evicting)).toHaveLength(3);
  expect(orders).toEqual([]);
  await cluster.stop();
});

it('a judging edge after a full re-admission that fails is owed, and sent (judged) at the next reconciliation', async () => {
  let failing = false;
  let failed = 0;
  const { book, cluster, clock, orders } = await idleBookWhileLeaseLost('there', (store) => {
    const setIdle = store.setIdle.bind(store);
    store.setIdle = async (...args) => {
      if (failing) {
        failing = false;
        failed += 1;
        throw new SlotStoreUnavailableError('setIdle: no answer within commandTimeoutMs');
      }
      return setIdle(...args);
    };
    failing = true;
  });
  // The judging edge failed: nothing judged yet, the edge owed.
  await vi.waitFor(() => expect(failed).toBe(1));
  expect(orders).toEqual([]);
  expect(book.book('ann').get('m1')?.evicting).toBeUndefined();
  // The next renewal's reconciliation sends it again (the owed edge alone): judged, m1 goes,
  // named once.
  clock.increment(20_000);
  await vi.waitFor(() => expect(orders.map((order) => order.connectionId)).toContain('m1'));
  expect(orders.map((order) => order.connectionId)).toEqual(['m1']);
  expect(book.book('ann').get('m1')?.evicting).toBe(true);
  expect([...book.book('ann').values()].filter((entry) => !entry.evicting)).toHaveLength(3);
  await cluster.stop();
});
