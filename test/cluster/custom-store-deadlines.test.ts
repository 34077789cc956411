/**
 * A deadline on every call to a `cluster.store` of the app's own (issue 12,
 * src/cluster/store-deadlines.ts; docs/cluster-store.md, "Deadlines"). A store on another
 * engine whose call never settles held what waited on it for as long: an admission its
 * client's upgrade, a renewal the lease, stop() the supervisor's shutdown. The runtime
 * now fails such a call at `cluster.commandTimeoutMs` (start and stop: at least 1 s) as
 * a rejection fails it, and drops its late answer.
 *
 * The in-memory book with the store's rules, on a SimulatedClock the test advances:
 * the deadlines' watchdog ticks on the supervisor's clock, so no test waits real time.
 */
import { createServer } from 'node:http';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import { SimulatedClock } from 'xstate';
import {
  type ClusterAdmission,
  createSupervisor,
  type RejectedEvent,
  type StoreUnavailablePolicy,
  type SupervisorError,
} from '../../src/index.js';
import { bookOnMemoryStore } from '../helpers/cluster-book.js';
import { MemoryBook } from '../helpers/memory-slot-store.js';
import { httpRefusal } from '../helpers/refusals.js';
import { closeServer, connect, ioWait, listenOnLoopback, userFromQuery } from '../helpers/server.js';

/** Advances a SimulatedClock by `ms` in steps, letting what each step settles run before the next. */
async function advance(clock: SimulatedClock, ms: number, step = 250): Promise<void> {
  for (let passed = 0; passed < ms; passed += step) {
    clock.increment(step);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

const never = <T>(): Promise<T> => new Promise<T>(() => {});

/** A supervisor on a store of its own, with the default commandTimeoutMs for one (2000 ms). */
async function startOnOwnStore(policy: StoreUnavailablePolicy) {
  const clock = new SimulatedClock();
  const book = new MemoryBook(() => clock.now());
  const store = book.store('own-store', 60_000);
  const errors: SupervisorError[] = [];
  const supervisor = createSupervisor({
    preset: 'test',
    clock,
    // Only the store's deadlines and the lease act while the test advances the clock.
    idleTimeoutMs: 1_000_000_000,
    heartbeatIntervalMs: 1_000_000_000,
    authenticate: userFromQuery,
    onError: (error) => void errors.push(error),
    cluster: { store, leaseTtlMs: 60_000, onStoreUnavailable: policy },
  });
  const rejected: RejectedEvent[] = [];
  supervisor.on('rejected', (event) => void rejected.push(event));
  const server = createServer((_request, response) => response.end('ok'));
  supervisor.attach(server);
  const port = await listenOnLoopback(server);
  onTestFinished(async () => {
    // Its shutdown's own waits are on the simulated clock: driven until it resolves.
    let done = false;
    const shutdown = supervisor.shutdown({ deadlineMs: 200 }).finally(() => {
      done = true;
    });
    for (let i = 0; i < 100 && !done; i += 1) await advance(clock, 100, 100);
    await shutdown;
    await closeServer(server);
  });
  await supervisor.ready({ signal: AbortSignal.timeout(5_000) });
  return {
    clock,
    book,
    store,
    supervisor,
    errors,
    rejected,
    url: (user: string) => `ws://127.0.0.1:${port}/?user=${user}`,
  };
}

describe('a cluster.store of your own: an admit() that never settles', () => {
  it("'reject': the upgrade is answered 503 with Retry-After at the deadline; the late booking is released", async () => {
    const node = await startOnOwnStore('reject');
    const admit = node.store.admit.bind(node.store);
    let late: (() => Promise<ClusterAdmission>) | undefined;
    node.store.admit = (...args) => {
      late = () => admit(...args);
      return never();
    };
    const refused = httpRefusal(node.url('ann'));
    await vi.waitFor(() => expect(late).toBeDefined(), ioWait);
    await advance(node.clock, 2_500);
    const refusal = await refused;
    expect(refusal.status).toBe(503);
    expect(refusal.headers['retry-after']).toBe('1');
    expect(node.rejected.map((event) => event.reason)).toEqual(['store-unavailable']);
    expect(node.errors.map((error) => `${error.code}: ${error.message}`)).toEqual([
      'WSSUP_STORE_UNAVAILABLE: slot store: admit: no answer within 2000 ms',
    ]);
    // Nothing held for the upgrade; the slot the store may still book is owed a release.
    const stats = node.supervisor.stats();
    expect(stats.resources).toMatchObject({ connectionActors: 0, authenticating: 0 });
    expect(stats.cluster).toMatchObject({ pendingReleases: 1, unsynced: 0, breaker: 'closed' });

    // The store books it after all, late: the answer is dropped, the owed release frees it.
    node.store.admit = admit;
    await (late as () => Promise<ClusterAdmission>)();
    expect(node.book.liveCounts().get('ann')).toBe(1);
    await advance(node.clock, 20_000, 1_000);
    await vi.waitFor(() => expect(node.supervisor.stats().cluster?.pendingReleases).toBe(0), ioWait);
    expect(node.book.liveCounts().get('ann') ?? 0).toBe(0);
    expect(node.errors).toHaveLength(1);
  });

  it("'reject': a booking that lands after the owed release was applied is released again", async () => {
    const node = await startOnOwnStore('reject');
    const admit = node.store.admit.bind(node.store);
    let late: (() => void) | undefined;
    const answered = new Promise<ClusterAdmission>((resolve) => {
      node.store.admit = (...args) => {
        // The store's answer comes when the test says: after the runtime gave up on it.
        const answer = new Promise<ClusterAdmission>((settle) => {
          late = () => settle(admit(...args));
        });
        void answer.then(resolve);
        return answer;
      };
    });
    const refused = httpRefusal(node.url('ann'));
    await vi.waitFor(() => expect(late).toBeDefined(), ioWait);
    await advance(node.clock, 2_500);
    expect((await refused).status).toBe(503);
    node.store.admit = admit;
    // The owed release goes out at a renewal and is applied: nothing booked to free yet.
    await advance(node.clock, 20_000, 1_000);
    await vi.waitFor(() => expect(node.supervisor.stats().cluster?.pendingReleases).toBe(0), ioWait);
    expect(node.book.liveCounts().get('ann') ?? 0).toBe(0);

    // Then the store books it, long after: the runtime releases it again, or the slot
    // stayed booked for as long as this node's lease (the process's life).
    (late as () => void)();
    expect((await answered).admitted).toBe(true);
    await vi.waitFor(() => expect(node.book.liveCounts().get('ann') ?? 0).toBe(0), ioWait);
    expect(node.supervisor.stats().cluster?.pendingReleases).toBe(0);
  });

  it("'local': admitted unsynced at the deadline, and booked once the store answers", async () => {
    const node = await startOnOwnStore('local');
    const admit = node.store.admit.bind(node.store);
    let late: (() => Promise<ClusterAdmission>) | undefined;
    node.store.admit = (...args) => {
      late = () => admit(...args);
      return never();
    };
    const opening = connect(node.url('ann'));
    await vi.waitFor(() => expect(late).toBeDefined(), ioWait);
    await advance(node.clock, 2_500);
    const ws = await opening;
    expect(ws.readyState).toBe(WebSocket.OPEN);
    expect(node.errors.map((error) => error.message)).toEqual([
      'slot store: admit: no answer within 2000 ms',
    ]);
    expect(node.supervisor.stats().cluster).toMatchObject({ unsynced: 1, pendingReleases: 0 });

    // The late answer books it too; the re-admission finds it booked (idempotent): one entry.
    node.store.admit = admit;
    await (late as () => Promise<ClusterAdmission>)();
    await advance(node.clock, 20_000, 1_000);
    await vi.waitFor(() => expect(node.supervisor.stats().cluster?.unsynced).toBe(0), ioWait);
    expect(node.book.liveCounts().get('ann')).toBe(1);
    expect(node.supervisor.stats().connections).toBe(1);
    expect(node.errors).toHaveLength(1);
  });
});

describe('a cluster.store of your own: a renew() that never settles', () => {
  it('fails as a failed renewal: reported, and the next renewal goes out on time; its late answer changes nothing', async () => {
    // commandTimeoutMs 1000, lease 60 s: renewals every 20 s.
    const { book, store, cluster, clock, reported, leaseTaken } = bookOnMemoryStore();
    await expect.poll(leaseTaken).toBe(true);
    const renew = store.renew.bind(store);
    let lateRenewal: ((outcome: 'renewed' | 'lost') => void) | undefined;
    let renewals = 0;
    store.renew = () => {
      renewals += 1;
      if (renewals > 1) return renew();
      return new Promise((resolve) => {
        lateRenewal = resolve;
      });
    };
    await advance(clock, 20_000, 1_000);
    expect(renewals).toBe(1);
    await advance(clock, 1_500);
    expect(reported.map((error) => `${error.code}: ${error.message}`)).toEqual([
      'WSSUP_STORE_UNAVAILABLE: slot store: renew: no answer within 1000 ms',
    ]);
    // The lease actor waits for the next period, as after any failed renewal.
    await advance(clock, 20_000, 1_000);
    expect(renewals).toBe(2);
    // The watchdog sleeps again at its first tick with nothing in flight: the lease's two timers are left.
    await advance(clock, 500);
    expect(cluster.stats()).toMatchObject({ leaseHeld: true, breaker: 'closed', pendingTimers: 2 });

    // 'lost', late: dropped. No re-admission is started for it.
    const readmits = book.calls.readmit ?? 0;
    lateRenewal?.('lost');
    await advance(clock, 1_000);
    expect(book.calls.readmit ?? 0).toBe(readmits);
    expect(reported).toHaveLength(1);
  });

  it('one that never answers again: the lease is not held once its TTL has run out, and renewals go on', async () => {
    const { store, cluster, clock, leaseTaken } = bookOnMemoryStore();
    await expect.poll(leaseTaken).toBe(true);
    let renewals = 0;
    store.renew = () => {
      renewals += 1;
      return never();
    };
    await advance(clock, 61_000, 1_000);
    expect(cluster.stats().leaseHeld).toBe(false);
    // At 20 s, then a period after each one ran out: not one renewal stuck for good.
    expect(renewals).toBeGreaterThanOrEqual(2);
  });
});

describe('a cluster.store of your own: stop() with calls hanging', () => {
  it('resolves at the deadline, reports the stop, leaves no timer, and acts on no late answer', async () => {
    const { store, cluster, clock, told, reported, leaseTaken } = bookOnMemoryStore();
    await expect.poll(leaseTaken).toBe(true);
    const booked = await cluster.reserve('ann', 'c1');
    cluster.admitted('ann', 'c1', booked);
    let answerIdle: (() => void) | undefined;
    store.setIdle = () =>
      new Promise((resolve) => {
        answerIdle = () => resolve([]);
      });
    let answerStop: (() => void) | undefined;
    store.stop = () =>
      new Promise((resolve) => {
        answerStop = resolve;
      });
    cluster.idle('ann', 'c1', clock.now());
    expect(answerIdle).toBeDefined();
    told.length = 0;
    let stopped = false;
    const stopping = cluster.stop().then(() => {
      stopped = true;
    });
    await advance(clock, 1_500);
    expect(stopped).toBe(true);
    await stopping;
    expect(answerStop).toBeDefined();
    expect(reported.map((error) => error.message).slice(-1)).toEqual([
      'slot store: stop: no answer within 1000 ms',
    ]);
    expect(cluster.stats()).toMatchObject({ leaseHeld: false, pendingTimers: 0 });
    const reports = told.length;
    answerIdle?.();
    answerStop?.();
    await advance(clock, 1_000);
    expect(told).toHaveLength(reports);
    expect(cluster.stats().pendingTimers).toBe(0);
  });
});

describe('a cluster.store of your own: a readmit() answered after its deadline', () => {
  it('is dropped: the next reconciliation books again, and the late refusal evicts nothing', async () => {
    const held = [{ userId: 'ann', connectionId: 'c1', admittedAt: 0, idleSince: undefined }];
    const { book, store, cluster, clock, told, reported, leaseTaken } = bookOnMemoryStore(() => held);
    await expect.poll(leaseTaken).toBe(true);
    const booked = await cluster.reserve('ann', 'c1');
    cluster.admitted('ann', 'c1', booked);
    // The lease runs out (a pause): the next renewal takes a new one and books again what is held.
    book.leases.delete(store.incarnation);
    const readmit = store.readmit.bind(store);
    let lateReadmit: ((refused: string[]) => void) | undefined;
    let readmits = 0;
    store.readmit = (...args) => {
      readmits += 1;
      if (readmits > 1) return readmit(...args);
      return new Promise((resolve) => {
        lateReadmit = resolve;
      });
    };
    await advance(clock, 20_000, 1_000);
    expect(readmits).toBe(1);
    await advance(clock, 1_500);
    expect(reported.map((error) => error.message)).toEqual(['slot store: readmit: no answer within 1000 ms']);
    // The next renewal's reconciliation books it under the new incarnation.
    await advance(clock, 20_000, 1_000);
    expect(readmits).toBe(2);
    expect(book.liveCounts().get('ann')).toBe(1);
    // The first answers now, refusing c1: dropped, so c1 is not evicted.
    lateReadmit?.(['c1']);
    await advance(clock, 1_000);
    expect(told.filter((line) => line.startsWith('evictOverLimit'))).toEqual([]);
    expect(cluster.stats()).toMatchObject({ leaseHeld: true, unsynced: 0, pendingReleases: 0 });
    expect(book.liveCounts().get('ann')).toBe(1);
  });
});
