/**
 * ClusterBook (issue 12; src/cluster/edge-queue.ts): on a store of several failure domains (a
 * Redis Cluster's masters, each its own connection), each domain has its own window of edges in
 * flight. Shared, a slow master's edges (answered, but late) filled the window and the other
 * masters' edges waited behind them: with one of three masters stopped 400 ms in every 410,
 * 6,000 edges on a private Redis Cluster, the healthy masters' were all answered after 1.7 to
 * 2.1 s instead of 0.7 to 0.9 s (src/cluster/edge-queue.ts). Here on the in-memory store, master A's setIdle calls are held (answered
 * when the test says) and master B's answer at once.
 */
import { expect, it, vi } from 'vitest';
import { edgesInFlight } from '../../src/cluster/edge-queue.js';
import type { HeldConnection } from '../../src/cluster/slot-store.js';
import { bookOnMemoryStore } from '../helpers/cluster-book.js';

const WINDOW = edgesInFlight(1_000);
/** Users a0… on master A, b0… on B; one connection each. */
const ON_EACH = WINDOW + 100;

async function twoMasters() {
  const held: HeldConnection[] = [];
  for (const master of ['a', 'b'])
    for (let i = 0; i < ON_EACH; i++)
      held.push({
        userId: `${master}${i}`,
        connectionId: `c-${master}${i}`,
        admittedAt: i,
        idleSince: undefined,
      });
  const setup = bookOnMemoryStore(() => held.map((connection) => ({ ...connection })));
  const { book, store, cluster, leaseTaken } = setup;
  const masterOf = new Map<string, string>();
  book.shards = {
    of: (userId) => masterOf.get(userId) ?? (userId.startsWith('a') ? 'A' : 'B'),
    all: () => ['A', 'B'],
  };
  await expect.poll(leaseTaken).toBe(true);
  for (const { userId, connectionId } of held)
    cluster.admitted(userId, connectionId, await cluster.reserve(userId, connectionId));

  // Master A slow: its setIdle calls answered only once open() is called.
  let open: () => void = () => {};
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  const applied: [string, number | undefined][] = [];
  const setIdle = store.setIdle.bind(store);
  store.setIdle = async (userId, connectionId, idleSince, evictAt) => {
    if (store.shardOf(userId) === 'A') await gate;
    applied.push([connectionId, idleSince]);
    return setIdle(userId, connectionId, idleSince, evictAt);
  };
  return { ...setup, applied, open: () => open(), masterOf };
}

it("one master slow: its edges fill its own window only, and the other master's edges are answered meanwhile", async () => {
  const { book, cluster, applied, open } = await twoMasters();
  // A burst, A's edges queued first: before, B's waited behind them all.
  for (let i = 0; i < ON_EACH; i++) cluster.idle(`a${i}`, `c-a${i}`, 1_000 + i);
  for (let i = 0; i < ON_EACH; i++) cluster.idle(`b${i}`, `c-b${i}`, 1_000 + i);

  await vi.waitFor(() => expect(applied.filter(([id]) => id.startsWith('c-b'))).toHaveLength(ON_EACH));
  for (let i = 0; i < ON_EACH; i++) expect(book.book(`b${i}`).get(`c-b${i}`)?.idleSince).toBe(1_000 + i);
  // A's: a window in flight, the rest waiting, none answered yet.
  await vi.waitFor(() => expect(cluster.stats()).toMatchObject({ edgesInFlight: WINDOW, edgesWaiting: 100 }));
  expect(applied.filter(([id]) => id.startsWith('c-a'))).toEqual([]);

  open();
  await vi.waitFor(() => expect(cluster.stats()).toMatchObject({ edgesInFlight: 0, edgesWaiting: 0 }));
  for (let i = 0; i < ON_EACH; i++) expect(book.book(`a${i}`).get(`c-a${i}`)?.idleSince).toBe(1_000 + i);
  expect(cluster.stats()).toMatchObject({ breaker: 'closed', unsynced: 0, pendingReleases: 0 });
  await cluster.stop();
});

it("a user's master changes while its connection's edge waits: the newer edge waits behind it, in order", async () => {
  const { cluster, applied, open, masterOf } = await twoMasters();
  // A's window full; a-last's idle edge waits.
  const last = ON_EACH - 1;
  for (let i = 0; i < ON_EACH; i++) cluster.idle(`a${i}`, `c-a${i}`, 1_000 + i);
  // A failover (a slot moved): its user's book is on B now; it turns live.
  masterOf.set(`a${last}`, 'B');
  cluster.idle(`a${last}`, `c-a${last}`, undefined);
  // Not sent on B's window ahead of its idle edge, which waits on A's.
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  expect(applied.filter(([id]) => id === `c-a${last}`)).toEqual([]);

  open();
  await vi.waitFor(() => expect(cluster.stats()).toMatchObject({ edgesInFlight: 0, edgesWaiting: 0 }));
  expect(applied.filter(([id]) => id === `c-a${last}`).map(([, idleSince]) => idleSince)).toEqual([
    1_000 + last,
    undefined,
  ]);
  await cluster.stop();
});

it("a user's master changes while its connection's edge is in flight: the newer edge waits for its answer, and a live connection is not left idle", async () => {
  const { book, cluster, applied, open, masterOf } = await twoMasters();
  // A's window full, a0's idle edge among those in flight (held: master A stalled).
  for (let i = 0; i < ON_EACH; i++) cluster.idle(`a${i}`, `c-a${i}`, 1_000 + i);
  // A failover: a0's book is on B now (the stalled call would be answered MOVED and sent
  // again to B); a0 turns live. Before, its live edge took B's free window and went out at
  // once, ahead of the idle one still in flight.
  masterOf.set('a0', 'B');
  cluster.idle('a0', 'c-a0', undefined);
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  expect(applied.filter(([id]) => id === 'c-a0')).toEqual([]);
  expect(cluster.stats()).toMatchObject({ edgesInFlight: WINDOW, edgesWaiting: 101 });

  open();
  await vi.waitFor(() => expect(cluster.stats()).toMatchObject({ edgesInFlight: 0, edgesWaiting: 0 }));
  expect(applied.filter(([id]) => id === 'c-a0').map(([, idleSince]) => idleSince)).toEqual([
    1_000,
    undefined,
  ]);
  expect(book.book('a0').get('c-a0')?.idleSince).toBeUndefined();
  await cluster.stop();
});
