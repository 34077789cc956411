/**
 * ClusterBook paces the idle ⇄ live edges (issue 12; src/cluster/edge-queue.ts). Each edge is
 * one setIdle call with its own deadline from when it is sent, and edges come in bursts: a
 * broadcast (activity 'both', the default) makes every connection live at once, and idle
 * idleTimeoutMs later, at once again. Sent all at once, 10,000 of them passed their deadline on
 * the Redis store's connection and opened the breaker. Here, on the in-memory store: at most 500
 * setIdle calls in flight (commandTimeoutMs 1 s) while 3,000 connections' edges are due, each
 * connection's edges reach the store in order, a live one not sent yet is replaced by its
 * connection's newer edge and an idle one by a newer idle one (coalesced), never an idle one by
 * a live one (it judges the book at T), and stop() drops what waits.
 */
import { expect, it } from 'vitest';
import type { HeldConnection } from '../../src/cluster/slot-store.js';
import { bookOnMemoryStore } from '../helpers/cluster-book.js';
import type { MemoryStore } from '../helpers/memory-slot-store.js';

const CONNECTIONS = 3_000;

/** Records the setIdle calls (in order) and how many are in flight at once (each held a macrotask, as a round trip is). */
function watchSetIdle(store: MemoryStore) {
  const seen = { max: 0, inFlight: 0, calls: [] as [string, number | undefined][] };
  const original = store.setIdle.bind(store);
  store.setIdle = async (userId, connectionId, idleSince, evictAt) => {
    seen.inFlight += 1;
    seen.max = Math.max(seen.max, seen.inFlight);
    seen.calls.push([connectionId, idleSince]);
    try {
      await new Promise((resolve) => setImmediate(resolve));
      return await original(userId, connectionId, idleSince, evictAt);
    } finally {
      seen.inFlight -= 1;
    }
  };
  return seen;
}

/** The idleSince of each connection's setIdle calls, in the order the store got them. */
function edgesByConnection(calls: readonly (readonly [string, number | undefined])[]) {
  const byConnection = new Map<string, (number | undefined)[]>();
  for (const [connectionId, idleSince] of calls) {
    const edges = byConnection.get(connectionId) ?? [];
    edges.push(idleSince);
    byConnection.set(connectionId, edges);
  }
  return byConnection;
}

async function bookedBook() {
  const held: HeldConnection[] = [];
  for (let c = 0; c < CONNECTIONS; c++)
    held.push({ userId: `u${c}`, connectionId: `c${c}`, admittedAt: c, idleSince: undefined });
  const setup = bookOnMemoryStore(() => held.map((connection) => ({ ...connection })));
  const { cluster, leaseTaken } = setup;
  await expect.poll(leaseTaken).toBe(true);
  for (const { userId, connectionId } of held)
    cluster.admitted(userId, connectionId, await cluster.reserve(userId, connectionId));
  return { ...setup, held };
}

it('3,000 connections going idle then live at once: at most 500 setIdle in flight, in order per connection, every idle edge sent before its live one', async () => {
  const { book, store, cluster, told } = await bookedBook();
  const seen = watchSetIdle(store);

  for (let c = 0; c < CONNECTIONS; c++) cluster.idle(`u${c}`, `c${c}`, 1_000 + c);
  for (let c = 0; c < CONNECTIONS; c++) cluster.idle(`u${c}`, `c${c}`, undefined);
  await expect
    .poll(() => seen.inFlight === 0 && seen.calls.length >= 2 * CONNECTIONS, { timeout: 10_000 })
    .toBe(true);
  await new Promise((resolve) => setImmediate(resolve));

  // Before: all 6,000 at once.
  expect(seen.max).toBe(500);
  // An idle edge judges the user's book at T: one that waits is not replaced by its connection's
  // live edge, which queues behind it (a review found judging edges dropped that way).
  const byConnection = edgesByConnection(seen.calls);
  expect(byConnection.size).toBe(CONNECTIONS);
  for (let c = 0; c < CONNECTIONS; c++) expect(byConnection.get(`c${c}`)).toEqual([1_000 + c, undefined]);
  // The book holds every connection live, and nothing is owed nor reported.
  for (let c = 0; c < CONNECTIONS; c++) expect(book.book(`u${c}`).get(`c${c}`)?.idleSince).toBeUndefined();
  expect(told.filter((line) => line.startsWith('report'))).toEqual([]);
  expect(cluster.stats()).toMatchObject({ breaker: 'closed', unsynced: 0, pendingReleases: 0 });
  await cluster.stop();
});

it('stats().cluster shows the backlog as it is: 500 in flight and the rest waiting, both 0 once answered, and stop() leaves none waiting', async () => {
  const { store, cluster } = await bookedBook();
  const seen = watchSetIdle(store);
  expect(cluster.stats()).toMatchObject({ edgesInFlight: 0, edgesWaiting: 0 });

  for (let c = 0; c < CONNECTIONS; c++) cluster.idle(`u${c}`, `c${c}`, 1_000 + c);
  expect(cluster.stats()).toMatchObject({ edgesInFlight: 500, edgesWaiting: CONNECTIONS - 500 });
  // Each live edge queues behind its idle one (in flight, or waiting: never replaced)...
  for (let c = 0; c < CONNECTIONS; c++) cluster.idle(`u${c}`, `c${c}`, undefined);
  expect(cluster.stats()).toMatchObject({ edgesInFlight: 500, edgesWaiting: 2 * CONNECTIONS - 500 });
  // ...and a newer live edge takes the place of the live one that waits: no more waiting.
  for (let c = 0; c < CONNECTIONS; c++) cluster.idle(`u${c}`, `c${c}`, undefined);
  expect(cluster.stats()).toMatchObject({ edgesInFlight: 500, edgesWaiting: 2 * CONNECTIONS - 500 });
  // A connection released: its waiting edges go (c2999's idle and live ones).
  cluster.released('u2999', 'c2999');
  expect(cluster.stats()).toMatchObject({ edgesInFlight: 500, edgesWaiting: 2 * CONNECTIONS - 502 });

  await expect
    .poll(() => seen.inFlight === 0 && seen.calls.length >= 2 * (CONNECTIONS - 1), { timeout: 10_000 })
    .toBe(true);
  await new Promise((resolve) => setImmediate(resolve));
  expect(cluster.stats()).toMatchObject({ edgesInFlight: 0, edgesWaiting: 0 });

  for (let c = 0; c < CONNECTIONS - 1; c++) cluster.idle(`u${c}`, `c${c}`, 5_000 + c);
  expect(cluster.stats()).toMatchObject({ edgesInFlight: 500, edgesWaiting: CONNECTIONS - 501 });
  await cluster.stop();
  expect(cluster.stats()).toMatchObject({ edgesWaiting: 0 });
  await expect.poll(() => cluster.stats().edgesInFlight).toBe(0);
});

it('idle, live, idle again while they wait: the newer idle edge takes the place of both, and the store never gets an older edge after a newer one', async () => {
  const { book, store, cluster } = await bookedBook();
  const seen = watchSetIdle(store);

  for (let c = 0; c < CONNECTIONS; c++) cluster.idle(`u${c}`, `c${c}`, 1_000 + c);
  for (let c = 0; c < CONNECTIONS; c++) cluster.idle(`u${c}`, `c${c}`, undefined);
  for (let c = 0; c < CONNECTIONS; c++) cluster.idle(`u${c}`, `c${c}`, 2_000 + c);
  await expect
    .poll(() => seen.inFlight === 0 && seen.calls.length >= CONNECTIONS + 500, { timeout: 10_000 })
    .toBe(true);
  await new Promise((resolve) => setImmediate(resolve));

  expect(seen.max).toBe(500);
  const byConnection = edgesByConnection(seen.calls);
  for (let c = 0; c < CONNECTIONS; c++) {
    // The first 500 idle edges went at once; for the others the newest state alone.
    expect(byConnection.get(`c${c}`)).toEqual(c < 500 ? [1_000 + c, 2_000 + c] : [2_000 + c]);
  }
  expect(seen.calls.length).toBe(CONNECTIONS + 500);
  expect(book.book('u2999').get('c2999')?.idleSince).toBe(4_999);
  await cluster.stop();
});

it('a connection closed while its edge waits: the edge is not sent', async () => {
  const { store, cluster } = await bookedBook();
  const seen = watchSetIdle(store);
  for (let c = 0; c < CONNECTIONS; c++) cluster.idle(`u${c}`, `c${c}`, 1_000 + c);
  cluster.released('u2999', 'c2999');
  await expect
    .poll(() => seen.inFlight === 0 && seen.calls.length >= CONNECTIONS - 1, { timeout: 10_000 })
    .toBe(true);
  await new Promise((resolve) => setImmediate(resolve));
  expect(seen.calls.some(([connectionId]) => connectionId === 'c2999')).toBe(false);
  expect(seen.calls.length).toBe(CONNECTIONS - 1);
  await cluster.stop();
});

it('stop() drops the edges that wait: only those in flight reach the store, and stop() settles', async () => {
  const { store, cluster, told } = await bookedBook();
  const seen = watchSetIdle(store);
  for (let c = 0; c < CONNECTIONS; c++) cluster.idle(`u${c}`, `c${c}`, 1_000 + c);
  const sentBeforeStop = seen.calls.length;
  await cluster.stop();
  await expect.poll(() => seen.inFlight).toBe(0);
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  // Before: all 3,000 sent at once, none left to drop.
  expect(sentBeforeStop).toBe(500);
  expect(seen.calls.length).toBe(500);
  expect(told.filter((line) => line.startsWith('report'))).toEqual([]);
});
