/**
 * Cluster mode: the `offline` event is per process (README, Registry). A user whose last
 * connection on one node is `lingerMs` gone is told offline there, though another node still
 * holds a connection of theirs, and `userStats(id, { cluster: true })` says so: the check the
 * README asks for before a push. Two nodes on one memory store and one simulated clock.
 */
import { expect, it, vi } from 'vitest';
import { SimulatedClock } from 'xstate';
import type { OfflineEvent } from '../../src/index.js';
import { MemoryBook } from '../helpers/memory-slot-store.js';
import { allDisposed, connect, ioWait, startServer } from '../helpers/server.js';

const leaseTtlMs = 30_000;
const lingerMs = 5_000; // below a renewal period (leaseTtlMs / 3): no renewal runs in a linger

it('a node tells offline for its own last connection; the cluster-wide book still counts the other node’s', async () => {
  const clock = new SimulatedClock();
  const book = new MemoryBook(() => clock.now());
  const node = async (nodeId: string) => {
    const t = await startServer({
      clock,
      lingerMs,
      cluster: { store: book.store(nodeId, leaseTtlMs), nodeId, leaseTtlMs },
    });
    await t.supervisor.ready({ signal: AbortSignal.timeout(10_000) });
    const offline: OfflineEvent[] = [];
    t.supervisor.on('offline', (event) => offline.push(event));
    return { ...t, offline };
  };
  const a = await node('node-a');
  const b = await node('node-b');
  const onA = await connect(a.url('alice'));
  const onB = await connect(b.url('alice'));

  onB.close();
  await allDisposed(b.supervisor);
  clock.increment(lingerMs);
  expect(b.offline.map((event) => event.userId)).toEqual(['alice']);
  expect(a.offline).toEqual([]);
  await vi.waitFor(
    async () =>
      expect(await b.supervisor.userStats('alice', { cluster: true })).toMatchObject({
        live: 1,
        byNode: { 'node-a': 1 },
      }),
    ioWait,
  );

  onA.close();
  await allDisposed(a.supervisor);
  clock.increment(lingerMs);
  expect(a.offline.map((event) => event.userId)).toEqual(['alice']);
  await vi.waitFor(
    async () => expect(await a.supervisor.userStats('alice', { cluster: true })).toBeUndefined(),
    ioWait,
  );
});
