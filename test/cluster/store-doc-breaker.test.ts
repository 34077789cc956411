/**
 * docs/cluster-store.md, "The breaker and outage policies": the store-wide breaker's cycle
 * (3 failures open it, 1 s later one call goes through), and "A `userBook` read is refused
 * while its master's breaker is not closed but does not count towards it", on a store of
 * several failure domains (a Redis Cluster's masters), through a SlotStore of one's own
 * that opts in with shardOf() and shards() (the in-memory store of test/helpers).
 */
import { expect, it, onTestFinished, vi } from 'vitest';
import { bookOnMemoryStore } from '../helpers/cluster-book.js';

/** ann's book on master A, everyone else's on B. */
const shards = { of: (userId: string) => (userId === 'ann' ? 'A' : 'B'), all: () => ['A', 'B'] };

it("a userBook read about a master that is away fails, and however many fail, that master's breaker never opens", async () => {
  const { book, cluster, told, leaseTaken } = bookOnMemoryStore(() => [], 'reject');
  book.shards = shards;
  await expect.poll(leaseTaken).toBe(true);
  book.downShards.add('A');
  for (let i = 0; i < 5; i++) {
    await expect(cluster.userBook('ann')).rejects.toMatchObject({ code: 'WSSUP_STORE_UNAVAILABLE' });
  }
  expect(book.calls.userBook).toBe(5); // each reached the store: none was refused by a breaker
  expect(cluster.stats()).toMatchObject({ breaker: 'closed', unavailableShards: [] });
  expect(told.filter((line) => line.startsWith('breaker'))).toEqual([]);
  // The master answers again: so does the read, at once.
  book.downShards.delete('A');
  expect(await cluster.userBook('ann')).toBeUndefined();
  await cluster.stop();
});

it("a userBook read is refused without reaching the store while its master's breaker is open; another master's users are read", async () => {
  const { book, cluster, leaseTaken } = bookOnMemoryStore(() => [], 'reject');
  book.shards = shards;
  await expect.poll(leaseTaken).toBe(true);
  expect(await cluster.reserve('bob', 'b0')).toEqual({ outcome: 'booked' });
  book.downShards.add('A');
  // Three admissions about ann fail in a row: A's breaker opens.
  for (let i = 0; i < 3; i++) {
    expect(await cluster.reserve('ann', `a${i}`)).toMatchObject({ outcome: 'unavailable' });
  }
  expect(cluster.stats().unavailableShards).toEqual(['A']);
  book.downShards.delete('A'); // A answers again, but its breaker is still open
  const calls = book.calls.userBook ?? 0;
  await expect(cluster.userBook('ann')).rejects.toMatchObject({ code: 'WSSUP_STORE_UNAVAILABLE' });
  expect(book.calls.userBook ?? 0).toBe(calls);
  expect(await cluster.userBook('bob')).toMatchObject({ userId: 'bob', live: 1 });
  expect(book.calls.userBook).toBe(calls + 1);
  await cluster.stop();
});

it('the store-wide breaker: opens after 3 calls in a row fail, each reported; refuses at once while open; after 1 s lets one call through, whose success closes it and renews the lease', async () => {
  const { book, cluster, told, reported, leaseTaken } = bookOnMemoryStore(() => [], 'reject');
  await expect.poll(leaseTaken).toBe(true);
  // The breaker's clock (Date) stands still unless the test moves it: no real second decides.
  vi.useFakeTimers({ toFake: ['Date'] });
  onTestFinished(() => {
    vi.useRealTimers();
  });
  book.down = true;
  for (let i = 0; i < 2; i++) {
    expect(await cluster.reserve('ann', `a${i}`)).toMatchObject({ outcome: 'unavailable' });
  }
  expect(cluster.stats().breaker).toBe('closed');
  expect(await cluster.reserve('ann', 'a2')).toMatchObject({ outcome: 'unavailable' });
  expect(cluster.stats().breaker).toBe('open');
  expect(told.filter((line) => line.startsWith('breaker'))).toEqual(['breaker open']);
  expect(reported.map((error) => error.code)).toEqual(Array(3).fill('WSSUP_STORE_UNAVAILABLE'));
  // Open: refused without reaching the store, and not reported (the event said so).
  book.down = false;
  const admits = book.calls.admit ?? 0;
  const renewals = book.calls.renew ?? 0;
  vi.advanceTimersByTime(999);
  expect(await cluster.reserve('ann', 'a3')).toMatchObject({ outcome: 'unavailable' });
  expect(book.calls.admit ?? 0).toBe(admits);
  expect(reported).toHaveLength(3);
  // A second later, the next call goes through; its success closes the breaker.
  vi.advanceTimersByTime(1);
  expect(await cluster.reserve('ann', 'a4')).toEqual({ outcome: 'booked' });
  expect(book.calls.admit).toBe(admits + 1);
  expect(cluster.stats().breaker).toBe('closed');
  expect(told.filter((line) => line.startsWith('breaker'))).toEqual(['breaker open', 'breaker closed']);
  await vi.waitFor(() => expect(book.calls.renew ?? 0).toBeGreaterThan(renewals));
  await cluster.stop();
});
