/**
 * The Prometheus metrics of a node in cluster mode (issue 12), on real
 * sockets and one simulated clock: two nodes share an in-memory slot book
 * with the Redis store's rules (test/helpers/memory-slot-store.ts). What an
 * SRE alerts on: the evictions the cluster's limit ordered, told from the
 * idle ones, and the node's place in the cluster (breaker, lease, work left
 * from an outage) as stats().cluster says it. Test preset: limit 5, T = 4.
 */
import { Registry } from 'prom-client';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import type { SimulatedClock } from 'xstate';
import type { StoreEvent } from '../../src/index.js';
import { registerMetrics } from '../../src/metrics/index.js';
import { MemoryBook } from '../helpers/memory-slot-store.js';
import { parseExposition } from '../helpers/prometheus.js';
import {
  type Client,
  closeOf,
  idleTimeoutMs,
  limit,
  type RulesServer,
  startRulesServer,
  touch,
} from '../helpers/rules.js';
import { expectNoLeaks, ioWait } from '../helpers/server.js';

const leaseTtlMs = 60_000;
/** The waits for the breaker advance the clock: nobody turns idle meanwhile. */
const neverIdle = { idleTimeoutMs: 1_000_000_000 };

/** Two nodes on one book and one clock ('local' outage policy), each lease taken. */
async function startTwoNodes(): Promise<{
  book: MemoryBook;
  clock: SimulatedClock;
  nodes: [RulesServer, RulesServer];
}> {
  const first = await startRulesServer();
  const clock = first.clock;
  await first.supervisor.shutdown();
  const book = new MemoryBook(() => clock.now());
  const start = (nodeId: string) =>
    startRulesServer({
      clock,
      ...neverIdle,
      cluster: { store: book.store(nodeId, leaseTtlMs), nodeId, leaseTtlMs, onStoreUnavailable: 'local' },
    });
  const nodes: [RulesServer, RulesServer] = [await start('node-0'), await start('node-1')];
  await vi.waitFor(() => {
    for (const node of nodes) expect(node.supervisor.stats().cluster?.leaseHeld).toBe(true);
  }, ioWait);
  return { book, clock, nodes };
}

/**
 * Advances simulated time one renewal at a time until `check` passes: the
 * breaker (cockatiel) lets a call through a second of real time after it
 * opened, and the lease's renewal tick is that call.
 */
async function driveUntil(clock: SimulatedClock, check: () => void): Promise<void> {
  await vi.waitFor(
    () => {
      clock.increment(leaseTtlMs / 3);
      check();
    },
    { timeout: 5_000, interval: 250 },
  );
}

describe('registerMetrics in cluster mode', () => {
  it('evicted_total tells the evictions the cluster-wide limit ordered (over-limit) from the idle ones', async () => {
    const { book, clock, nodes } = await startTwoNodes();
    const [here, there] = nodes;
    const registry = new Registry();
    onTestFinished(registerMetrics(here.supervisor, { registry }));
    const scrape = async () => parseExposition(await registry.metrics());
    const breaker: StoreEvent[] = [];
    here.supervisor.on('store', (event) => breaker.push(event));

    // One connection booked on the other node, then five here while the store is away:
    // six for a limit of five once it answers again.
    await there.open('dan');
    book.down = true;
    const during: Client[] = [];
    for (let i = 0; i < limit; i++) during.push(await here.open('dan'));
    expect(breaker.map((event) => event.breaker)).toEqual(['open']);
    const newest = closeOf((during.at(-1) as Client).ws);
    book.down = false;
    await driveUntil(clock, () => expect(breaker.at(-1)?.breaker).toBe('closed'));
    expect(await newest).toEqual({ code: 4001, reason: 'evicted: over the limit' });
    expect(here.events.evicted).toMatchObject([{ cause: 'over-limit' }]);

    const m = await scrape();
    expect(m.value('ws_supervisor_evicted_total', { cause: 'over-limit' })).toBe(1);
    expect(m.value('ws_supervisor_evicted_total', { cause: 'idle' })).toBe(0);
    expect(m.families.get('ws_supervisor_evicted_total')?.help).not.toMatch(/^Idle connections/);

    await Promise.all(nodes.map((node) => node.supervisor.shutdown({ deadlineMs: 200 })));
    for (const node of nodes) expectNoLeaks(node.supervisor);
  });

  it("exports the node's breaker, lease and outage work as stats().cluster says them, before, during and after an outage", async () => {
    const { book, clock, nodes } = await startTwoNodes();
    const [here, there] = nodes;
    const registry = new Registry();
    onTestFinished(registerMetrics(here.supervisor, { registry }));
    const breaker: StoreEvent[] = [];
    here.supervisor.on('store', (event) => breaker.push(event));
    /** The cluster gauges, scraped, next to what stats().cluster says at the same moment. */
    const both = async () => {
      const m = parseExposition(await registry.metrics());
      const states = m.families.get('ws_supervisor_cluster_store_breaker')?.samples ?? [];
      return {
        scraped: {
          breaker: states.filter(({ value }) => value === 1).map(({ labels }) => labels.state),
          leaseHeld: m.value('ws_supervisor_cluster_lease_held') === 1,
          unsynced: m.value('ws_supervisor_cluster_unsynced_connections'),
          pendingReleases: m.value('ws_supervisor_cluster_pending_releases'),
          edgesWaiting: m.value('ws_supervisor_cluster_edges', { state: 'waiting' }),
          edgesInFlight: m.value('ws_supervisor_cluster_edges', { state: 'in-flight' }),
        },
        states: states.map(({ labels }) => labels.state).sort(),
        stats: here.supervisor.stats().cluster,
      };
    };

    let now = await both();
    expect(now.scraped).toEqual({
      breaker: ['closed'],
      leaseHeld: true,
      unsynced: 0,
      pendingReleases: 0,
      edgesWaiting: 0,
      edgesInFlight: 0,
    });
    expect(now.states).toEqual(['closed', 'half-open', 'isolated', 'open']); // every state, at 0 or 1
    expect(now.stats).toMatchObject({ ...now.scraped, breaker: 'closed' });

    book.down = true;
    const during: Client[] = [];
    for (let i = 0; i < 3; i++) during.push(await here.open('eve'));
    expect(breaker.map((event) => event.breaker)).toEqual(['open']);
    now = await both();
    expect(now.scraped).toMatchObject({ breaker: ['open'], unsynced: 3 });
    expect(now.stats).toMatchObject({ ...now.scraped, breaker: 'open' });

    book.down = false;
    await driveUntil(clock, () => expect(breaker.at(-1)?.breaker).toBe('closed'));
    await vi.waitFor(() => expect(here.supervisor.stats().cluster?.unsynced).toBe(0), ioWait);
    now = await both();
    expect(now.scraped).toEqual({
      breaker: ['closed'],
      leaseHeld: true,
      unsynced: 0,
      pendingReleases: 0,
      edgesWaiting: 0,
      edgesInFlight: 0,
    });

    // After shutdown a scrape still answers: the lease is given back.
    await Promise.all(nodes.map((node) => node.supervisor.shutdown({ deadlineMs: 200 })));
    now = await both();
    expect(now.scraped.leaseHeld).toBe(false);
    expect(now.stats).toMatchObject({ leaseHeld: false });
    expect(there.supervisor.stats().cluster?.leaseHeld).toBe(false);
    for (const node of nodes) expectNoLeaks(node.supervisor);
  });
  it("cluster_edges counts a connection's idle edge in flight and its live edge waiting for its answer, then none", async () => {
    const first = await startRulesServer();
    const clock = first.clock;
    await first.supervisor.shutdown();
    const book = new MemoryBook(() => clock.now());
    const store = book.store('node-0', leaseTtlMs);
    // The store answers setIdle only when the test says (a slow master).
    let open: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const applied: (number | undefined)[] = [];
    const setIdle = store.setIdle.bind(store);
    store.setIdle = async (userId, connectionId, idleSince, evictAt) => {
      await gate;
      applied.push(idleSince);
      return setIdle(userId, connectionId, idleSince, evictAt);
    };
    const here = await startRulesServer({
      clock,
      cluster: { store, nodeId: 'node-0', leaseTtlMs, onStoreUnavailable: 'local' },
    });
    await vi.waitFor(() => expect(here.supervisor.stats().cluster?.leaseHeld).toBe(true), ioWait);
    const registry = new Registry();
    onTestFinished(registerMetrics(here.supervisor, { registry }));
    const edges = async () => {
      const m = parseExposition(await registry.metrics());
      return {
        waiting: m.value('ws_supervisor_cluster_edges', { state: 'waiting' }),
        inFlight: m.value('ws_supervisor_cluster_edges', { state: 'in-flight' }),
      };
    };

    const lastActive = clock.now();
    const fay = await here.open('fay');
    clock.increment(idleTimeoutMs);
    await vi.waitFor(async () => expect(await edges()).toEqual({ waiting: 0, inFlight: 1 }), ioWait);
    // Live again while its idle edge is unanswered: its live edge waits for that answer.
    await touch(fay.ws);
    await vi.waitFor(async () => expect(await edges()).toEqual({ waiting: 1, inFlight: 1 }), ioWait);
    expect(here.supervisor.stats().cluster).toMatchObject({ edgesWaiting: 1, edgesInFlight: 1 });

    open();
    await vi.waitFor(async () => expect(await edges()).toEqual({ waiting: 0, inFlight: 0 }), ioWait);
    expect(applied).toEqual([lastActive, undefined]);
    expect(book.book('fay').get(fay.id)?.idleSince).toBeUndefined();
    await here.supervisor.shutdown({ deadlineMs: 200 });
    expectNoLeaks(here.supervisor);
  });
});
