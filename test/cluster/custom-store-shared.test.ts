/**
 * One `cluster.store` object per supervisor. A store is one node of the book (its nodeId,
 * its incarnation, the events start() gets); an app that gave the same object to two
 * supervisors in one process (its tests of cluster mode, say) had both take the same
 * incarnation and the second take over the first's events: eviction orders and
 * cluster-wide sends for the first went to the second. It is refused at createSupervisor(),
 * and the store is free again once the supervisor that used it has shut down.
 */
import { describe, expect, it } from 'vitest';
import { createSupervisor, InvalidOptionError } from '../../src/index.js';
import { MemoryBook } from '../helpers/memory-slot-store.js';
import { userFromQuery } from '../helpers/server.js';

describe('a cluster.store object given to two supervisors', () => {
  it('is refused while the first runs, and taken once it has shut down', async () => {
    const store = new MemoryBook(() => Date.now()).store('web-1', 3_000);
    const first = createSupervisor({ authenticate: userFromQuery, cluster: { store } });
    await first.ready({ signal: AbortSignal.timeout(5_000) });
    let error: unknown;
    try {
      createSupervisor({ authenticate: userFromQuery, cluster: { store } });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as InvalidOptionError).option).toBe('cluster.store');
    expect((error as InvalidOptionError).message).toBe(
      'Invalid option "cluster.store": expected a SlotStore no other running supervisor uses (one store object per supervisor; supervisors share a book through stores of their own over it), received a store that another supervisor uses and has not shut down.',
    );
    // The first one was not disturbed: it still holds its lease.
    expect(first.stats().cluster?.leaseHeld).toBe(true);
    await first.shutdown();
    const second = createSupervisor({ authenticate: userFromQuery, cluster: { store } });
    await second.ready({ signal: AbortSignal.timeout(5_000) });
    expect(second.stats().cluster?.nodeId).toBe('web-1');
    await second.shutdown();
  });
});
