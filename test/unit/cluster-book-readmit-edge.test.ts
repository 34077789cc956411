/**
 * ClusterBook (issue 12): a connection admitted unsynced in an outage ('local') is
 * booked again by the reconciliation, with the idle ⇄ live state the re-admission read
 * when it began. An edge while that re-admission is on its way must reach the book
 * after it: else the book keeps the older state for as long as the connection does
 * not change again (idle, marked live: no other node can evict it at T).
 */
import { expect, it, vi } from 'vitest';
import type { HeldConnection } from '../../src/cluster/slot-store.js';
import { bookOnMemoryStore } from '../helpers/cluster-book.js';

it('an idle edge while its unsynced connection is being re-admitted reaches the book after the re-admission', async () => {
  const ann: HeldConnection = { userId: 'ann', connectionId: 'c1', admittedAt: 0, idleSince: undefined };
  const { book, store, cluster, clock, leaseTaken } = bookOnMemoryStore(() => [{ ...ann }]);
  book.shards = { of: (userId) => (userId === 'bob' ? 'B' : 'A'), all: () => ['A', 'B'] };
  await expect.poll(leaseTaken).toBe(true);
  // Master A away: c1 is admitted unsynced.
  book.downShards.add('A');
  cluster.admitted('ann', 'c1', await cluster.reserve('ann', 'c1'));
  expect(cluster.stats().unsynced).toBe(1);
  book.downShards.delete('A');

  // The re-admission is answered late (Redis booked c1 as live, the state it was sent).
  let answer: () => void = () => {};
  const late = new Promise<void>((resolve) => {
    answer = resolve;
  });
  const readmit = store.readmit.bind(store);
  let readmits = 0;
  store.readmit = async (connections, limit) => {
    readmits += 1;
    const refused = await readmit(connections, limit);
    await late;
    return refused;
  };
  clock.increment(20_000); // a renewal, then the reconciliation
  await vi.waitFor(() => expect(readmits).toBe(1));
  // Meanwhile c1 turns idle.
  ann.idleSince = clock.now();
  cluster.idle('ann', 'c1', ann.idleSince);
  answer();

  // Before: the edge was dropped (c1 was still unsynced), and the book said live for good.
  await vi.waitFor(() => expect(book.book('ann').get('c1')?.idleSince).toBe(ann.idleSince));
  expect(cluster.stats()).toMatchObject({ unsynced: 0, pendingReleases: 0 });
  await cluster.stop();
});
