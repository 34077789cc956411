/**
 * A re-admission pass sends each eviction order once (found by a review): a slice is booked
 * again in two readmit calls (its active connections, then its idle ones), and both read the
 * same users' books, so both name again another owner's entry marked superseded earlier (its
 * order may have been lost). Each call's orders went out, and that node was told twice per pass.
 *
 * One memory book (test/helpers/memory-slot-store.ts) on a simulated clock: node b (a bare
 * store that records the orders it is sent) holds an entry superseded by a reconnect of its
 * client instance; node a, a supervisor, holds an active and an idle connection of the same
 * user, and loses its lease.
 */
import { describe, expect, it, vi } from 'vitest';
import { SimulatedClock } from 'xstate';
import type { EvictionOrder, ReadmitAnswer } from '../../src/cluster/slot-store.js';
import { MemoryBook } from '../helpers/memory-slot-store.js';
import { connect, ioWait, startServer } from '../helpers/server.js';

const leaseTtlMs = 30_000;
const idleTimeoutMs = 100_000;
const phone = 'phone-instance-0001';

describe('cluster mode: a re-admission pass sends each order once', () => {
  it("another owner's superseded entry, named by both readmit calls of a slice: its node is told once", async () => {
    const clock = new SimulatedClock();
    const book = new MemoryBook(() => clock.now());
    const b = book.store('b', 3_600_000);
    const toB: EvictionOrder[] = [];
    await b.start({ evictionOrdered: (order) => toB.push(order), incarnationChanged: () => {} });
    // p1's client reconnects (r1), then closes: p1 stays marked superseded, its order lost.
    expect(await b.admit('ann', 'p1', 10, 10, { id: phone, attemptAt: 100 })).toMatchObject({
      admitted: true,
    });
    expect(await b.admit('ann', 'r1', 10, 10, { id: phone, attemptAt: 200 })).toMatchObject({
      admitted: true,
    });
    await b.release('ann', 'r1');

    const store = book.store('a', leaseTtlMs);
    /** What each of a's readmit and setIdle calls named p1 in (counted, not changed). */
    const named = { readmit: 0, setIdle: 0 };
    const namesP1 = (orders: readonly EvictionOrder[] | undefined) =>
      (orders ?? []).some((order) => order.connectionId === 'p1');
    const readmit = store.readmit.bind(store);
    store.readmit = async (...args): Promise<ReadmitAnswer> => {
      const answer = await readmit(...args);
      if (namesP1(answer.evict)) named.readmit += 1;
      return answer;
    };
    const setIdle = store.setIdle.bind(store);
    store.setIdle = async (...args) => {
      const orders = await setIdle(...args);
      if (namesP1(orders)) named.setIdle += 1;
      return orders;
    };
    const a = await startServer({
      clock,
      maxConnectionsPerUser: 10,
      idleTimeoutMs,
      heartbeatIntervalMs: 3_600_000,
      cluster: { store, nodeId: 'a', leaseTtlMs },
    });
    await a.supervisor.ready({ signal: AbortSignal.timeout(10_000) });
    const first = a.supervisor.stats().cluster?.incarnation as number;
    /** Renewal periods pass on the simulated clock (each lets the renewal's answer land). */
    const renewals = async (n: number) => {
      for (let i = 0; i < n; i++) {
        clock.increment(leaseTtlMs / 3 + 1);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    const entriesOfA = () => [...book.book('ann').values()].filter((entry) => entry.nodeId === 'a');

    // One connection of ann's goes idle, then a second one opens (active).
    await connect(a.url('ann'));
    await vi.waitFor(async () => {
      await renewals(1);
      expect(entriesOfA().map((entry) => entry.idleSince !== undefined)).toEqual([true]);
    }, ioWait);
    await connect(a.url('ann'));
    await vi.waitFor(() => expect(entriesOfA()).toHaveLength(2), ioWait);
    expect(entriesOfA().filter((entry) => entry.idleSince === undefined)).toHaveLength(1);

    // a loses its lease: at its next renewal it books both again, the active one, then the idle one.
    named.readmit = 0;
    named.setIdle = 0;
    toB.length = 0;
    (book.leases.get(first) as { expiresAt: number }).expiresAt = 0;
    await vi.waitFor(async () => {
      await renewals(1);
      expect(a.supervisor.stats().cluster?.incarnation).not.toBe(first);
      expect(entriesOfA().filter((entry) => entry.incarnation !== first)).toHaveLength(2);
    }, ioWait);
    // Both readmit calls named p1; b is told once for them (and once per setIdle that named it:
    // the edge judging the book after the re-admission).
    const toldP1 = () => toB.filter((order) => order.connectionId === 'p1').length;
    await vi.waitFor(async () => {
      await renewals(1);
      expect(named.readmit).toBe(2);
      expect(toldP1()).toBe(1 + named.setIdle);
    }, ioWait);
    await renewals(2);
    expect(named.readmit).toBe(2);
    expect(toldP1()).toBe(1 + named.setIdle);
    expect(toB.every((order) => order.connectionId === 'p1' && order.cause === 'superseded')).toBe(true);
  });
});
