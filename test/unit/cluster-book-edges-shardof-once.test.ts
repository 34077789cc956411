/**
 * ClusterBook (issue 12) on an app's own SlotStore whose shardOf throws (a bug of its own):
 * each idle ⇄ live edge sent reports it once to onError, as every other call about a user's
 * book does, and the edge still reaches the store (through the store-wide breaker). The edge
 * queue asks the user's domain for its lane too (src/cluster/edge-queue.ts): that ask reported
 * it a second time per edge, and once more per edge coalesced.
 */
import { expect, it, vi } from 'vitest';
import type { HeldConnection } from '../../src/cluster/slot-store.js';
import { bookOnMemoryStore } from '../helpers/cluster-book.js';

const ann: HeldConnection = { userId: 'ann', connectionId: 'c1', admittedAt: 0, idleSince: undefined };

it('a shardOf that throws is reported once per edge sent, none for an edge replaced before its turn', async () => {
  const { book, store, cluster, reported, leaseTaken } = bookOnMemoryStore(() => [ann]);
  let broken = false;
  /** The in-memory store asks its shards too: the throw is the runtime's alone. */
  let inStore = false;
  book.shards = {
    of: () => {
      if (broken && !inStore) throw new Error('no such tenant');
      return 'A';
    },
    all: () => ['A'],
  };
  await expect.poll(leaseTaken).toBe(true);
  cluster.admitted('ann', 'c1', await cluster.reserve('ann', 'c1'));
  const shardOfReports = () =>
    reported.filter((error) => /shardOf failed: no such tenant/.test(error.message));

  // The store answers c1's first edge only when the test says: its next edges wait meanwhile.
  let open: () => void = () => {};
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  const applied: (number | undefined)[] = [];
  const setIdle = store.setIdle.bind(store);
  store.setIdle = async (userId, connectionId, idleSince, evictAt) => {
    if (applied.length === 0) await gate;
    applied.push(idleSince);
    inStore = true;
    try {
      return setIdle(userId, connectionId, idleSince, evictAt);
    } finally {
      inStore = false;
    }
  };

  broken = true;
  cluster.idle('ann', 'c1', 1_000);
  // Two live edges while it is in flight: the second replaces the first, never sent.
  cluster.idle('ann', 'c1', undefined);
  cluster.idle('ann', 'c1', undefined);
  expect(cluster.stats()).toMatchObject({ edgesInFlight: 1, edgesWaiting: 1 });
  open();
  await vi.waitFor(() => expect(applied).toEqual([1_000, undefined]));
  await vi.waitFor(() => expect(cluster.stats()).toMatchObject({ edgesInFlight: 0, edgesWaiting: 0 }));
  // Two edges sent, two reports (before: five, the queue's own asks adding one per idle()).
  expect(shardOfReports()).toHaveLength(2);
  expect(reported.map((error) => error.code)).toEqual(['WSSUP_STORE_UNAVAILABLE', 'WSSUP_STORE_UNAVAILABLE']);
  expect(book.book('ann').get('c1')?.idleSince).toBeUndefined();
  await cluster.stop();
});

it('a shardOf that throws: one edge, one report (before: two, its lane asked as well as its call)', async () => {
  const { book, cluster, reported, leaseTaken } = bookOnMemoryStore(() => [ann]);
  let broken = false;
  book.shards = {
    of: () => {
      if (broken) throw new Error('no such tenant');
      return 'A';
    },
    all: () => ['A'],
  };
  await expect.poll(leaseTaken).toBe(true);
  cluster.admitted('ann', 'c1', await cluster.reserve('ann', 'c1'));
  broken = true;
  cluster.idle('ann', 'c1', 1_000);
  await vi.waitFor(() => expect(cluster.stats()).toMatchObject({ edgesInFlight: 0, edgesWaiting: 0 }));
  expect(reported.filter((error) => /shardOf failed: no such tenant/.test(error.message))).toHaveLength(1);
  await cluster.stop();
});
