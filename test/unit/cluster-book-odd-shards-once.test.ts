/**
 * docs/cluster-store.md, "The breaker and outage policies": "An answer of the wrong type (a
 * `shardOf` that is not a string or undefined, a `shards` that is not an array or undefined) is
 * reported once to `onError` as `WSSUP_INVALID_OPTION` (`cluster.store`), and the store is taken
 * as one failure domain". Once: not once per call, however many calls and renewals ask it.
 */
import { expect, it, vi } from 'vitest';
import { bookOnMemoryStore } from '../helpers/cluster-book.js';

/** The renewal period of bookOnMemoryStore's lease (a third of its 60 s TTL). */
const RENEW_MS = 20_000;

it.each([
  ['shardOf answering a number', { of: () => 7 as unknown as string, all: () => ['A'] }],
  ['shards answering a string', { of: () => 'A', all: () => 'A' as unknown as string[] }],
])('%s: one WSSUP_INVALID_OPTION naming cluster.store, however often it is asked', async (_, shards) => {
  const { book, cluster, clock, reported, leaseTaken } = bookOnMemoryStore(() => []);
  book.shards = shards;
  await expect.poll(leaseTaken).toBe(true);
  for (let i = 0; i < 5; i++) {
    expect(await cluster.reserve(`user${i}`, `c${i}`)).toEqual({ outcome: 'booked' });
    cluster.stats();
    cluster.refusesAdmissions();
  }
  // Three renewals more, each of which reads shards() to prune the breakers.
  const renewals = book.calls.renew ?? 0;
  await vi.waitFor(() => {
    clock.increment(RENEW_MS);
    expect(book.calls.renew ?? 0).toBeGreaterThanOrEqual(renewals + 3);
  });
  const contract = reported.filter((error) => error.code === 'WSSUP_INVALID_OPTION');
  expect(contract).toHaveLength(1);
  expect(contract[0]?.message).toContain('cluster.store');
  // One failure domain: nothing listed as unavailable, readiness as on a single Redis.
  expect(cluster.stats().unavailableShards).toEqual([]);
  await cluster.stop();
});
