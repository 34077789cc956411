/**
 * Cluster mode's runtime (issue 12) on real sockets, with three nodes (three
 * supervisors, each with its own HTTP server on port 0) in this process,
 * sharing one in-memory slot book with the rules of the Redis store and one
 * SimulatedClock. What a user checks: one per-user limit across the nodes
 * (429 beyond it), idle connections on other nodes evicted with 4001 at T,
 * the outage policies, a lost lease re-booked, and each node's slots and
 * lease released by its shutdown. The same rules on a real Redis with real
 * processes: processes.test.ts.
 *
 * Test preset: limit 5, T = 4, idleTimeoutMs 1000.
 */
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import type { SimulatedClock } from 'xstate';
import {
  type SlotStoreEvents,
  SlotStoreUnavailableError,
  type StoreEvent,
  type Supervisor,
  type SupervisorOptions,
} from '../../src/index.js';
import { MemoryBook, type MemoryStore } from '../helpers/memory-slot-store.js';
import { closeRefusal, httpRefusal } from '../helpers/refusals.js';
import {
  type Client,
  closeOf,
  idleTimeoutMs,
  limit,
  nextEvent,
  type RulesServer,
  refusal,
  startRulesServer,
  touch,
} from '../helpers/rules.js';
import { expectNoLeaks, ioWait } from '../helpers/server.js';

const leaseTtlMs = 60_000;
/** For the outage tests, whose waits for the breaker advance the clock: nobody turns idle meanwhile. */
const neverIdle = { idleTimeoutMs: 1_000_000_000 };

interface Cluster {
  book: MemoryBook;
  stores: MemoryStore[];
  nodes: RulesServer[];
  clock: SimulatedClock;
  ttl: number;
}

/** Three nodes on one book and one clock; every node's lease is taken before it returns. */
async function startCluster(
  count = 3,
  policy: 'local' | 'reject' = 'local',
  ttl = leaseTtlMs,
  options: Partial<SupervisorOptions> | ((node: number) => Partial<SupervisorOptions>) = {},
): Promise<Cluster> {
  const first = await startRulesServer();
  const clock = first.clock;
  await first.supervisor.shutdown();
  const book = new MemoryBook(() => clock.now());
  const nodes: RulesServer[] = [];
  const stores: MemoryStore[] = [];
  for (let i = 0; i < count; i++) {
    const nodeId = `node-${i}`;
    const store = book.store(nodeId, ttl);
    stores.push(store);
    nodes.push(
      await startRulesServer({
        clock,
        ...(typeof options === 'function' ? options(i) : options),
        cluster: { store, nodeId, leaseTtlMs: ttl, onStoreUnavailable: policy },
      }),
    );
  }
  await vi.waitFor(() => {
    for (const node of nodes) expect(node.supervisor.stats().cluster?.leaseHeld).toBe(true);
  }, ioWait);
  return { book, stores, nodes, clock, ttl };
}

/**
 * Drives simulated time until the store answers `supervisor` again: the
 * breaker (cockatiel) lets a call through a second of real time after it
 * opened, and the lease's renewal tick is that call.
 */
async function untilBreakerCloses(c: Cluster, events: StoreEvent[]): Promise<void> {
  await driveUntil(c, () => expect(events.at(-1)?.breaker).toBe('closed'));
}

/**
 * Advances simulated time one renewal at a time until `check` passes. The memory store answers
 * within the turn (no timer of its own), so a renewal has landed long before the next poll: every
 * 50 ms, not 250, which is what most of these waits spent (the breaker's second of real time
 * is waited out the same; the deadline is unchanged).
 */
async function driveUntil(c: Cluster, check: () => void): Promise<void> {
  await vi.waitFor(
    () => {
      c.clock.increment(c.ttl / 3);
      check();
    },
    { timeout: 5_000, interval: 50 },
  );
}

const node = (c: Cluster, i: number) => c.nodes[i] as RulesServer;
const booked = (c: Cluster, user: string) => c.book.liveCounts().get(user) ?? 0;
const localLive = (c: Cluster, user: string) =>
  c.nodes.reduce((sum, n) => sum + (n.supervisor.userStats(user)?.live ?? 0), 0);

/** The books match the sockets (once the store has applied what is in flight): every live connection is booked, nothing else is. */
async function expectBooksMatchSockets(c: Cluster, user: string): Promise<void> {
  await vi.waitFor(() => {
    expect(booked(c, user)).toBe(localLive(c, user));
    for (const n of c.nodes) {
      expect(n.supervisor.stats().cluster).toMatchObject({ unsynced: 0, pendingReleases: 0 });
    }
  }, ioWait);
}

async function shutdownAll(c: Cluster): Promise<void> {
  await Promise.all(c.nodes.map((n) => n.supervisor.shutdown({ deadlineMs: 200 })));
  for (const n of c.nodes) {
    expectNoLeaks(n.supervisor);
    expect(n.supervisor.stats().cluster?.pendingTimers).toBe(0);
  }
  expect(c.book.liveCounts().size).toBe(0);
  expect([...c.book.leases.keys()].filter((incarnation) => c.book.alive(incarnation))).toEqual([]);
}

/**
 * Holds every re-admission of `store` until `letGo()`, as a slow round trip does, and counts
 * them (`started` resolves when the first begins); `retiredAfter` lists, for each call of
 * retirePrevious(), how many re-admissions had begun by then.
 */
function holdReadmits(store: MemoryStore) {
  const readmit = store.readmit.bind(store);
  const retire = store.retirePrevious.bind(store);
  let open: () => void = () => {};
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  let begun: () => void = () => {};
  const started = new Promise<void>((resolve) => {
    begun = resolve;
  });
  const held = { readmits: 0, retiredAfter: [] as number[], started, letGo: () => open() };
  store.readmit = async (connections, max) => {
    held.readmits += 1;
    begun();
    await gate;
    return readmit(connections, max);
  };
  store.retirePrevious = async () => {
    held.retiredAfter.push(held.readmits);
    await retire();
  };
  return held;
}

/**
 * Two 'local' nodes whose own ws servers hold each handshake in verifyClient once `hold()` is
 * called; node 1 holds one of fay's connections and node 0 the rest of her limit but one, all
 * admitted with the book down (unsynced). `release()` lets the held handshakes through.
 */
async function startHeldHandshakes(options: Partial<SupervisorOptions>) {
  let held: Promise<void> | undefined;
  let release = () => {};
  const c = await startCluster(2, 'local', leaseTtlMs, () => ({
    ...neverIdle,
    connectTimeoutMs: 1_000_000_000, // the waits for the breaker advance the clock
    ...options,
    webSocketServer: new WebSocketServer({
      noServer: true,
      maxPayload: 65_536,
      verifyClient: (_info, done) => {
        if (held === undefined) done(true);
        else void held.then(() => done(true));
      },
    }),
  }));
  const events = storeEvents(node(c, 0).supervisor);
  await node(c, 1).open('fay');
  c.book.down = true;
  for (let i = 0; i < limit - 1; i++) await node(c, 0).open('fay');
  const hold = () => {
    held = new Promise((resolve) => {
      release = resolve;
    });
  };
  return { c, events, hold, release: () => release() };
}

function storeEvents(supervisor: Supervisor): StoreEvent[] {
  const events: StoreEvent[] = [];
  supervisor.on('store', (event) => events.push(event));
  return events;
}

describe('one per-user limit across nodes', () => {
  it('admits the limit across three nodes and refuses the next with 429 on any node', async () => {
    const c = await startCluster();
    const clients: Client[] = [];
    for (let i = 0; i < limit; i++) {
      clients.push(await node(c, i % 3).open('ann'));
      await touch((clients.at(-1) as Client).ws); // active: nothing is evictable
    }
    expect(booked(c, 'ann')).toBe(limit);
    // Each node is below the per-process limit on its own (2, 2, 1): only the book refuses.
    for (let i = 0; i < 3; i++) {
      expect(await refusal(node(c, i).url('ann'))).toMatchObject({ status: 429 });
      expect(node(c, i).events.rejected.at(-1)).toMatchObject({ reason: 'user-limit', status: 429 });
    }
    expect(booked(c, 'ann')).toBe(limit);
    await expectBooksMatchSockets(c, 'ann');
    // A closed connection frees its slot in the book: the user can connect again.
    (clients[0] as Client).ws.close();
    await vi.waitFor(() => expect(booked(c, 'ann')).toBe(limit - 1), ioWait);
    await node(c, 2).open('ann');
    await expectBooksMatchSockets(c, 'ann');
    await shutdownAll(c);
  });

  it('at T, evicts the longest idle connection on another node with 4001', async () => {
    const c = await startCluster();
    const a = await node(c, 0).open('bea');
    c.clock.increment(1);
    const b = await node(c, 1).open('bea');
    c.clock.increment(1);
    const d = await node(c, 2).open('bea');
    c.clock.increment(idleTimeoutMs); // all three idle; n = 3 < T
    await vi.waitFor(() => expect(c.book.users.get('bea')?.get(a.id)?.idleSince).toBeDefined(), ioWait);
    await vi.waitFor(() => expect(c.book.users.get('bea')?.get(d.id)?.idleSince).toBeDefined(), ioWait);
    const closedA = closeOf(a.ws);
    // The newcomer on node 2 makes n = 4 = T: the longest idle (a, on node 0) goes.
    const e = await node(c, 2).open('bea');
    expect(await closedA).toEqual({ code: 4001, reason: 'evicted: idle' });
    expect(node(c, 0).events.evicted).toEqual([{ connectionId: a.id, userId: 'bea', cause: 'idle' }]);
    await vi.waitFor(() => expect(localLive(c, 'bea')).toBe(3), ioWait);
    // a's entry holds its slot until node 0 releases it (after the close), not before.
    await vi.waitFor(() => expect(booked(c, 'bea')).toBe(3), ioWait);
    expect(b.ws.readyState).toBe(b.ws.OPEN);
    expect(e.ws.readyState).toBe(e.ws.OPEN);
    await expectBooksMatchSockets(c, 'bea');
    await shutdownAll(c);
  });

  it('keeps a connection that turned active before the order arrived, and books it again', async () => {
    const c = await startCluster(2);
    const a = await node(c, 0).open('cy');
    c.clock.increment(1);
    await node(c, 1).open('cy');
    await node(c, 1).open('cy');
    c.clock.increment(idleTimeoutMs);
    await vi.waitFor(() => expect(c.book.users.get('cy')?.get(a.id)?.idleSince).toBeDefined(), ioWait);
    // The book still says idle, but the connection talks before the order reaches it.
    c.book.users.get('cy')?.get(a.id);
    const order = c.book.subscribers.get('node-0');
    const kept = new Promise<void>((resolve) => {
      c.book.subscribers.set('node-0', {
        ...(order as NonNullable<typeof order>),
        evictionOrdered: (o) => {
          void touch(a.ws).then(() => {
            order?.evictionOrdered(o);
            resolve();
          });
        },
      });
    });
    await node(c, 1).open('cy'); // n = 4 = T: the book evicts a (node 0) and orders node 0
    await kept;
    // a is booked again; n = 4 = T once more, so the longest idle one left (on node 1) goes.
    await vi.waitFor(() => expect(node(c, 1).events.evicted).toHaveLength(1), ioWait);
    await vi.waitFor(() => expect(c.book.users.get('cy')?.has(a.id)).toBe(true), ioWait);
    expect(a.ws.readyState).toBe(a.ws.OPEN);
    expect(node(c, 0).events.evicted).toEqual([]);
    await vi.waitFor(() => expect(localLive(c, 'cy')).toBe(3), ioWait);
    await expectBooksMatchSockets(c, 'cy');
    await shutdownAll(c);
  });
});

describe('an eviction order lost on its way', () => {
  it('never lets the user past the limit: the victim keeps its slot, and the order is sent again', async () => {
    const c = await startCluster();
    const a = await node(c, 0).open('eve');
    c.clock.increment(idleTimeoutMs); // a is idle
    await vi.waitFor(() => expect(c.book.users.get('eve')?.get(a.id)?.idleSince).toBeDefined(), ioWait);
    // Node 0 hears no order for now (its pub/sub connection is reconnecting).
    const subscriber = c.book.subscribers.get('node-0') as NonNullable<
      ReturnType<typeof c.book.subscribers.get>
    >;
    const lost: string[] = [];
    c.book.subscribers.set('node-0', {
      ...subscriber,
      evictionOrdered: (order) => lost.push(order.connectionId),
    });
    const active: Client[] = [];
    for (let i = 0; i < 3; i++) {
      active.push(await node(c, 1).open('eve'));
      await touch((active.at(-1) as Client).ws);
    }
    // The third made n = 4 = T: a was named, and its order lost.
    await vi.waitFor(() => expect(lost).toContain(a.id), ioWait);
    active.push(await node(c, 2).open('eve'));
    await touch((active.at(-1) as Client).ws);
    // Five sockets, a among them: the next one is refused, not a sixth socket.
    expect(await refusal(node(c, 1).url('eve'))).toMatchObject({ status: 429 });
    expect(localLive(c, 'eve')).toBe(limit);
    expect(a.ws.readyState).toBe(a.ws.OPEN);
    // Node 0 hears again: the next admission names a once more, and a goes (4001).
    c.book.subscribers.set('node-0', subscriber);
    const closedA = closeOf(a.ws);
    expect(await refusal(node(c, 1).url('eve'))).toMatchObject({ status: 429 });
    expect(await closedA).toMatchObject({ code: 4001 });
    await vi.waitFor(() => expect(booked(c, 'eve')).toBe(limit - 1), ioWait);
    await node(c, 1).open('eve');
    await expectBooksMatchSockets(c, 'eve');
    await shutdownAll(c);
  });
});

describe('a connection id the book holds for another owner', () => {
  it('is refused as the internal error it is (500, internal-error), reported as a bug, never admitted as a retry', async () => {
    const c = await startCluster(1);
    const store = c.stores[0] as MemoryStore;
    // A custom store (or a bug in minting ids) answers that another owner booked this id.
    const admit = store.admit.bind(store);
    store.admit = async () => {
      store.admit = admit;
      return { admitted: false, reason: 'duplicate-connection', live: 1 };
    };
    // Not the user's limit (429 would tell the client to wait for a slot): a bug of ours or the store's.
    expect(await httpRefusal(node(c, 0).url('dee'))).toMatchObject({ status: 500, body: 'internal error\n' });
    expect(node(c, 0).events.rejected).toMatchObject([
      { reason: 'internal-error', status: 500, userId: 'dee', retryAfterMs: undefined },
    ]);
    expect(node(c, 0).errors.splice(0)).toEqual([
      expect.objectContaining({ code: 'WSSUP_INTERNAL', message: expect.stringMatching(/already booked/) }),
    ]);
    expect(booked(c, 'dee')).toBe(0);
    // The next attempt has an id of its own.
    await node(c, 0).open('dee');
    await expectBooksMatchSockets(c, 'dee');
    await shutdownAll(c);
  });
});

describe('the admission rate limit in cluster mode', () => {
  it("counts a new user's first connections that wait for the book together: one token, one admission", async () => {
    const c = await startCluster(1, 'local', leaseTtlMs, { admissionRate: { perSecond: 0.01, burst: 1 } });
    // The book answers only once both first connections of the new user wait for it.
    const store = c.stores[0] as MemoryStore;
    const admitNow = store.admit.bind(store);
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    let waiting = 0;
    store.admit = async (...args) => {
      waiting += 1;
      await gate;
      return admitNow(...args);
    };
    const outcome = (url: string) =>
      new Promise<number | 'open'>((resolve, reject) => {
        const ws = new WebSocket(url);
        onTestFinished(() => ws.terminate());
        ws.once('open', () => resolve('open'));
        ws.once('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
        ws.once('error', (error) => {
          if (!/Unexpected server response/.test(error.message)) reject(error);
        });
      });
    const both = Promise.all([outcome(node(c, 0).url('hal')), outcome(node(c, 0).url('hal'))]);
    await vi.waitFor(() => expect(waiting).toBe(2), ioWait);
    open();
    expect((await both).sort()).toEqual([429, 'open']);
    expect(node(c, 0).events.rejected).toMatchObject([{ userId: 'hal', reason: 'rate-limited' }]);
    // The refused one's reservation was given back: the book holds the one connection.
    await expectBooksMatchSockets(c, 'hal');
    expect(booked(c, 'hal')).toBe(1);
    await shutdownAll(c);
  });
});

describe('outage policy', () => {
  it("'local': admits against the process's own limit while the store is down, then books them", async () => {
    const c = await startCluster(2, 'local', leaseTtlMs, neverIdle);
    const events = storeEvents(node(c, 0).supervisor);
    await node(c, 1).open('dan');
    c.book.down = true;
    const during: Client[] = [];
    for (let i = 0; i < limit; i++) during.push(await node(c, 0).open('dan'));
    expect(events.map((e) => e.breaker)).toEqual(['open']);
    expect(node(c, 0).supervisor.stats().cluster).toMatchObject({ breaker: 'open', unsynced: limit });
    // The process's own limit still holds.
    expect(await refusal(node(c, 0).url('dan'))).toMatchObject({ status: 429 });

    const newest = closeOf((during.at(-1) as Client).ws);
    c.book.down = false;
    await untilBreakerCloses(c, events);
    expect(events.map((e) => e.breaker)).toEqual(['open', 'closed']);
    // 6 connections for a limit of 5: the newest unsynced one is evicted, for the
    // limit, not for idleness (it is active): its close reason says which.
    expect(await newest).toEqual({ code: 4001, reason: 'evicted: over the limit' });
    expect(node(c, 0).events.evicted).toMatchObject([{ cause: 'over-limit' }]);
    await vi.waitFor(() => expect(localLive(c, 'dan')).toBe(limit), ioWait);
    await expectBooksMatchSockets(c, 'dan');
    await shutdownAll(c);
  });

  it("'local': admits against each admission's own limit (authenticate's) while the store is down, and books the user against it after", async () => {
    // fay's plan: 2 (the option: 5).
    const plan: Partial<SupervisorOptions> = {
      ...neverIdle,
      authenticate: (request) => {
        const userId = new URL(request.url ?? '/', 'http://x').searchParams.get('user');
        return userId === null ? null : { userId, maxConnectionsPerUser: userId === 'fay' ? 2 : undefined };
      },
    };
    const c = await startCluster(2, 'local', leaseTtlMs, plan);
    await node(c, 1).open('fay');
    c.book.down = true;
    const during = [await node(c, 0).open('fay'), await node(c, 0).open('fay')];
    expect(node(c, 0).supervisor.stats().cluster).toMatchObject({ unsynced: 2 });
    // The process's own limit is the admission's: 2, not the option's 5.
    expect(await refusal(node(c, 0).url('fay'))).toEqual({
      status: 429,
      body: 'user has reached the maximum number of connections (2)\n',
    });
    expect(node(c, 0).events.rejected).toMatchObject([{ reason: 'user-limit', limit: 2 }]);

    const newest = closeOf((during.at(-1) as Client).ws);
    c.book.down = false;
    await driveUntil(c, () => expect(node(c, 0).supervisor.stats().cluster?.unsynced).toBe(0));
    // Booked again against fay's 2: three across the nodes, so the newest unsynced one goes.
    expect(await newest).toEqual({ code: 4001, reason: 'evicted: over the limit' });
    await vi.waitFor(() => expect(localLive(c, 'fay')).toBe(2), ioWait);
    await expectBooksMatchSockets(c, 'fay');
    await shutdownAll(c);
  });

  it("'local': a connection still in its handshake when the book refuses it again is evicted, and its handshake aborted", async () => {
    // Each node's own ws server, whose verifyClient holds the handshake once asked to.
    const { c, events, hold, release: letThrough } = await startHeldHandshakes({});
    hold();
    const stuck = httpRefusal(node(c, 0).url('fay'));
    await vi.waitFor(() => expect(node(c, 0).supervisor.stats().byState.connecting).toBe(1), {
      timeout: 5_000,
    });
    const disposed = nextEvent(node(c, 0).supervisor, 'disposed');
    const evicted = nextEvent(node(c, 0).supervisor, 'evicted');

    // 6 for a limit of 5 once the book answers: the newest, still in its handshake, goes.
    c.book.down = false;
    await untilBreakerCloses(c, events);
    // Over the user's limit: the user-limit hint, as a 429 at the limit has (every 503 has one),
    // and that reason by name, as the user's next request at the limit gets it.
    expect(await stuck).toMatchObject({
      status: 503,
      headers: { 'retry-after': '5', 'ws-supervisor-refusal': 'user-limit' },
    });
    const gone = await disposed;
    // The event says what the client got: no close frame, an HTTP 503.
    expect(gone).toMatchObject({ userId: 'fay', reason: 'evicted', closeCode: undefined, httpStatus: 503 });
    expect(await evicted).toMatchObject({ userId: 'fay', connectionId: gone.connectionId });
    letThrough(); // ws's verdict comes after the abort: nothing opens
    await vi.waitFor(() => expect(localLive(c, 'fay')).toBe(limit), ioWait);
    expect(node(c, 0).supervisor.stats().byState.connecting).toBe(0);
    await expectBooksMatchSockets(c, 'fay');
    await shutdownAll(c);
  });

  it("'local': under refuse: 'close', the handshake the book evicts over the limit is told user-limit in its 4503's reason", async () => {
    // As above, its refusal a close frame: the socket opens, then closes with the reason's tokens.
    const {
      c,
      events,
      hold,
      release: letThrough,
    } = await startHeldHandshakes({
      refuse: 'close',
      // The refusal waits for the socket ws opens once verifyClient lets it through (its
      // timeout on the same clock would answer over HTTP instead).
      closeRefusalTimeoutMs: 1_000_000_000,
    });
    hold();
    const stuck = closeRefusal(node(c, 0).url('fay'));
    await vi.waitFor(() => expect(node(c, 0).supervisor.stats().byState.connecting).toBe(1), {
      timeout: 5_000,
    });
    const disposed = nextEvent(node(c, 0).supervisor, 'disposed');

    c.book.down = false;
    await untilBreakerCloses(c, events);
    // ws's verdict comes after the abort: the socket it opens is the refusal's, closed at once.
    letThrough();
    // The reason names user-limit, before the user-limit hint, as a 4429 at the limit would.
    expect(await stuck).toEqual({
      code: 4503,
      reason: 'connection was not established refusal=user-limit retry-after=5',
      retryAfter: 5,
    });
    expect(await disposed).toMatchObject({ userId: 'fay', reason: 'evicted', closeCode: 4503 });
    await vi.waitFor(() => expect(localLive(c, 'fay')).toBe(limit), ioWait);
    expect(node(c, 0).supervisor.stats().byState.connecting).toBe(0);
    await expectBooksMatchSockets(c, 'fay');
    await shutdownAll(c);
  });

  it("'local': an admitted handshake that the app's server fails at once leaves nothing to book later", async () => {
    // A `headers` listener of the app's own server throws for this user's
    // requests: the connection is admitted (unsynced, the store is down),
    // then disposed inside its own admission.
    const c = await startCluster(1, 'local', leaseTtlMs, () => ({
      ...neverIdle,
      webSocketServer: new WebSocketServer({ noServer: true, maxPayload: 65_536 }).on(
        'headers',
        (_headers, request) => {
          if (request.url?.includes('user=gil') === true) throw new Error('handshake hook bug');
        },
      ),
    }));
    c.book.down = true;
    const disposed = nextEvent(node(c, 0).supervisor, 'disposed');
    expect(await refusal(node(c, 0).url('gil'))).toMatchObject({ status: 503 });
    expect(await disposed).toMatchObject({ userId: 'gil', reason: 'error' });
    // Nothing left for reconciliation to book once the store answers again. One
    // release is owed: the failed admission reached the store, which may have
    // booked the slot all the same (a timeout), so its release is retried at
    // the next renewal (a third of this test's 60 s lease: not waited for here).
    expect(node(c, 0).supervisor.stats().cluster).toMatchObject({ unsynced: 0, pendingReleases: 1 });
    c.book.down = false;
    expect(booked(c, 'gil')).toBe(0);
    expect(localLive(c, 'gil')).toBe(0);
    await shutdownAll(c);
  });

  it("'local': a connection closed from the admitted event, inside its own admission, leaves nothing to book later", async () => {
    const c = await startCluster(1, 'local', leaseTtlMs, neverIdle);
    const { supervisor } = node(c, 0);
    supervisor.on('admitted', ({ connectionId }) =>
      supervisor.connection(connectionId)?.close(4003, 'kicked'),
    );
    c.book.down = true;
    const disposed = nextEvent(supervisor, 'disposed');
    expect(await refusal(node(c, 0).url('hana'))).toEqual({ status: 403, body: 'kicked\n' });
    expect(await disposed).toMatchObject({ userId: 'hana', reason: 'app-close' });
    expect(supervisor.stats().cluster).toMatchObject({ unsynced: 0 });
    c.book.down = false;
    // Its release, which the store did not get, is done again at the next renewal.
    await driveUntil(c, () => expect(supervisor.stats().cluster).toMatchObject({ pendingReleases: 0 }));
    await expectBooksMatchSockets(c, 'hana');
    expect(booked(c, 'hana')).toBe(0);
    await shutdownAll(c);
  });

  it("'local': a connection closed while its re-admission is on its way leaves no slot booked", async () => {
    const c = await startCluster(1, 'local', leaseTtlMs, neverIdle);
    c.book.down = true;
    // Three failed admissions open the breaker: the fourth never reaches the store.
    for (let i = 0; i < 3; i++) await node(c, 0).open('gus');
    const gone = await node(c, 0).open('gus');
    expect(node(c, 0).supervisor.stats().cluster).toMatchObject({ breaker: 'open', unsynced: 4 });
    c.book.down = false;
    // The store applies the re-admission at once (Redis runs commands in order) but its
    // answer is slow to come back; the connection closes meanwhile.
    const store = c.stores[0] as MemoryStore;
    const readmit = store.readmit.bind(store);
    let applied = false;
    let answer = () => {};
    const answered = new Promise<void>((resolve) => {
      answer = resolve;
    });
    store.readmit = async (held, limit) => {
      const refused = await readmit(held, limit);
      applied = true;
      await answered;
      return refused;
    };
    await driveUntil(c, () => expect(applied).toBe(true));
    expect(booked(c, 'gus')).toBe(4);
    gone.ws.close();
    await vi.waitFor(() => expect(node(c, 0).events.disposed).toHaveLength(1), ioWait);
    answer();
    // Its release follows the re-admission: the slot it booked is freed.
    await expectBooksMatchSockets(c, 'gus');
    expect(booked(c, 'gus')).toBe(3);
    await shutdownAll(c);
  });

  it("'local': an idle connection closed while the active ones are re-admitted is not booked after its release", async () => {
    // Room for 4 idle connections without a local eviction (T = 7).
    const c = await startCluster(1, 'local', leaseTtlMs, { maxConnectionsPerUser: 10 });
    c.book.down = true;
    for (let i = 0; i < 3; i++) await node(c, 0).open('hal');
    const gone = await node(c, 0).open('hal'); // the breaker is open: never reached the store
    c.book.down = false;
    // Every one is idle by the time the store is back (the clock jumps a renewal at a time),
    // so the re-admission of the active ones books none; its answer is slow to come back.
    const store = c.stores[0] as MemoryStore;
    const readmit = store.readmit.bind(store);
    const calls: number[] = [];
    let answer = () => {};
    const answered = new Promise<void>((resolve) => {
      answer = resolve;
    });
    store.readmit = async (held, limit) => {
      calls.push(held.length);
      const refused = await readmit(held, limit);
      if (calls.length === 1) await answered;
      return refused;
    };
    await driveUntil(c, () => expect(calls).toEqual([0]));
    gone.ws.close();
    await vi.waitFor(() => expect(node(c, 0).events.disposed).toHaveLength(1), ioWait);
    answer();
    // The idle ones are booked after that, without the one already released.
    await vi.waitFor(() => expect(calls).toEqual([0, 3]), ioWait);
    await expectBooksMatchSockets(c, 'hal');
    expect(booked(c, 'hal')).toBe(3);
    await shutdownAll(c);
  });

  it("'reject': refuses with 503 and Retry-After while the store is down, and keeps existing connections", async () => {
    const c = await startCluster(1, 'reject', leaseTtlMs, neverIdle);
    const events = storeEvents(node(c, 0).supervisor);
    const kept = await node(c, 0).open('eve');
    c.book.down = true;
    for (let i = 0; i < 4; i++) {
      const answer = await refusal(node(c, 0).url('eve'));
      expect(answer.status).toBe(503);
    }
    // The hint is when the breaker next tries the store (1 s, as the README says), not `retryAfterMs`.
    expect(node(c, 0).events.rejected.at(-1)).toMatchObject({
      reason: 'store-unavailable',
      status: 503,
      retryAfterMs: 1_000,
    });
    expect(events.map((e) => e.breaker)).toEqual(['open']);
    await touch(kept.ws);
    c.book.down = false;
    await untilBreakerCloses(c, events);
    expect(events.map((e) => e.breaker)).toEqual(['open', 'closed']);
    await node(c, 0).open('eve');
    await expectBooksMatchSockets(c, 'eve');
    await shutdownAll(c);
  });
});

describe('leases', () => {
  it('a node cut off past its lease loses its slots; back, it fences itself, books again and evicts what is over', async () => {
    const ttl = 3_000;
    const c = await startCluster(2, 'local', ttl, neverIdle);
    for (let i = 0; i < 3; i++) await node(c, 0).open('fay');
    const before = node(c, 0).supervisor.stats().cluster?.incarnation ?? 0;
    (c.stores[0] as MemoryStore).partitioned = true; // renewals fail...
    c.clock.increment(ttl + 1); // ...until the lease is gone, and node 0's slots with it
    expect(booked(c, 'fay')).toBe(0);
    // Node 1 is not cut off: its slots are never reclaimed, and the freed ones are its to take.
    for (let i = 0; i < 4; i++) await node(c, 1).open('fay');
    expect(booked(c, 'fay')).toBe(4);

    (c.stores[0] as MemoryStore).partitioned = false;
    // Node 0 takes a new incarnation and books what it holds: one fits, two are evicted.
    await driveUntil(c, () => expect(localLive(c, 'fay')).toBe(limit));
    expect(node(c, 0).supervisor.stats().cluster?.incarnation).toBeGreaterThan(before);
    expect(node(c, 0).events.evicted).toHaveLength(2);
    expect(node(c, 1).supervisor.userStats('fay')?.live).toBe(4);
    await expectBooksMatchSockets(c, 'fay');
    await shutdownAll(c);
  });

  /**
   * Node 0 holds limit − 1 of gus's sockets and one more admitted last; node 1's socket
   * has closed. Then a failover to a server that lost node 1's release (its entry is
   * back, under its lease, alive there) and node 0's last admission, and node 0 renews
   * on it first: it fences and books again what it holds, against node 1's stale entry.
   */
  async function failoverAfterLostRelease() {
    const ttl = 3_000;
    const c = await startCluster(2, 'local', ttl, neverIdle);
    for (let i = 0; i < limit - 1; i++) await node(c, 0).open('gus');
    const leaving = await node(c, 1).open('gus');
    leaving.ws.close();
    await vi.waitFor(() => expect(booked(c, 'gus')).toBe(limit - 1), ioWait);
    const late = await node(c, 0).open('gus');
    expect(booked(c, 'gus')).toBe(limit);
    const book = c.book.users.get('gus') as Map<string, unknown>;
    book.delete(late.id);
    book.set(leaving.id, {
      nodeId: 'node-1',
      incarnation: (c.stores[1] as MemoryStore).incarnation,
      admittedAt: 0,
      idleSince: undefined,
    });
    (c.stores[0] as MemoryStore).failedOver = true;
    c.clock.increment(ttl / 3);
    return { c, late };
  }

  it("after a failover, a socket refused for another node's lost release is kept a renewal, and booked once that node has fenced", async () => {
    const { c, late } = await failoverAfterLostRelease();
    // The last one does not fit: kept (unsynced), not evicted.
    await vi.waitFor(() => expect(node(c, 0).supervisor.stats().cluster?.unsynced).toBe(1), ioWait);
    expect(node(c, 0).events.evicted).toEqual([]);
    expect(late.ws.readyState).toBe(WebSocket.OPEN);
    // Node 1 renews on the new server within that period and fences too (its stale entry
    // dies with its old lease): node 0's next renewal books the kept socket.
    (c.stores[1] as MemoryStore).failedOver = true;
    await driveUntil(c, () => expect(node(c, 0).supervisor.stats().cluster?.unsynced).toBe(0));
    expect(node(c, 0).events.evicted).toEqual([]);
    expect(late.ws.readyState).toBe(WebSocket.OPEN);
    expect(booked(c, 'gus')).toBe(limit);
    await expectBooksMatchSockets(c, 'gus');
    await shutdownAll(c);
  });

  it('after a failover, a kept socket still refused at the next renewal is evicted: the limit holds', async () => {
    const { c } = await failoverAfterLostRelease();
    await vi.waitFor(() => expect(node(c, 0).supervisor.stats().cluster?.unsynced).toBe(1), ioWait);
    // Node 1 never fences (its entry stays): at node 0's next renewal the book still
    // refuses the kept socket, and it is evicted as over the limit.
    await driveUntil(c, () => expect(node(c, 0).events.evicted).toHaveLength(1));
    expect(node(c, 0).events.evicted[0]).toMatchObject({ userId: 'gus', cause: 'over-limit' });
    await vi.waitFor(() => expect(localLive(c, 'gus')).toBe(limit - 1), ioWait);
    expect(booked(c, 'gus')).toBe(limit);
    await shutdownAll(c);
  });

  it("after a failover, a socket that closes while the re-admission that refuses it is on its way is not kept (it stayed unsynced for good: 'reject', a planned Sentinel failover)", async () => {
    const ttl = 3_000;
    const c = await startCluster(2, 'reject', ttl, neverIdle);
    for (let i = 0; i < limit - 1; i++) await node(c, 0).open('gus');
    const leaving = await node(c, 1).open('gus');
    leaving.ws.close();
    await vi.waitFor(() => expect(booked(c, 'gus')).toBe(limit - 1), ioWait);
    const late = await node(c, 0).open('gus');
    // The new server lost node 1's release and node 0's last admission (as in failoverAfterLostRelease).
    const book = c.book.users.get('gus') as Map<string, unknown>;
    book.delete(late.id);
    book.set(leaving.id, {
      nodeId: 'node-1',
      incarnation: (c.stores[1] as MemoryStore).incarnation,
      admittedAt: 0,
      idleSince: undefined,
    });
    const store = c.stores[0] as MemoryStore;
    const held = holdReadmits(store);
    store.failedOver = true;
    c.clock.increment(ttl / 3);
    await held.started;
    // The re-admission, which the book will answer with a refusal of `late`, is on its way:
    // `late` closes meanwhile (a churning client), and leaves this node's books.
    late.ws.close();
    await vi.waitFor(() => expect(localLive(c, 'gus')).toBe(limit - 1), ioWait);
    held.letGo();
    await vi.waitFor(() => expect(held.retiredAfter).toEqual([1]), ioWait);
    // Nothing to keep: the refused socket is gone, not unsynced (no renewal could ever book it).
    expect(node(c, 0).supervisor.stats().cluster).toMatchObject({ unsynced: 0, pendingReleases: 0 });
    // Node 1 fences too: its stale entry dies with its old lease, and the book matches the sockets.
    const other = c.stores[1] as MemoryStore;
    const before = other.incarnation;
    other.failedOver = true;
    await driveUntil(c, () => expect(other.incarnation).toBeGreaterThan(before));
    await expectBooksMatchSockets(c, 'gus');
    expect(node(c, 0).events.evicted).toEqual([]);
    await shutdownAll(c);
  });

  /**
   * A store of one's own may still call back while its stop() is on its way (its
   * connection came back, a renewal in flight took a new incarnation), or even after.
   * The node stopped its lease first: nothing may reach that stopped actor, which in
   * development XState reports with "Event … was sent to stopped actor" on the console.
   */
  it('a store that calls back while it stops, or after, sends nothing to the stopped lease', async () => {
    const warn = vi.spyOn(console, 'warn');
    onTestFinished(() => warn.mockRestore());
    const c = await startCluster(1);
    const store = c.stores[0] as MemoryStore;
    const events = c.book.subscribers.get('node-0') as SlotStoreEvents;
    const callBack = () => {
      events.reconnected?.();
      events.incarnationChanged(store.incarnation + 1, store.incarnation, 'failover');
    };
    const stop = store.stop.bind(store);
    store.stop = async () => {
      callBack();
      await stop();
    };
    await shutdownAll(c);
    callBack();
    expect(node(c, 0).supervisor.stats().cluster).toMatchObject({ leaseHeld: false, pendingTimers: 0 });
    expect(warn.mock.calls.map((args) => String(args[0]).split('\n')[0])).toEqual([]);
  });

  it('a store that lost its order channel’s subscription: onError gets its WSSUP_STORE_UNAVAILABLE error, once per loss', async () => {
    const c = await startCluster(1);
    const events = c.book.subscribers.get('node-0') as SlotStoreEvents;
    const lost = new SlotStoreUnavailableError('lost the subscription to wssup:{n:node-0}:orders');
    events.subscriptionLost?.(lost);
    expect(node(c, 0).errors.splice(0)).toEqual([lost]);
    await shutdownAll(c);
  });

  it('a store that calls back while it stops, or after, reports nothing and holds no lease from the start of its stop', async () => {
    const c = await startCluster(1);
    const store = c.stores[0] as MemoryStore;
    const events = c.book.subscribers.get('node-0') as SlotStoreEvents;
    const callBack = () => {
      events.duplicateNodeId?.(store.incarnation + 1);
      // Another version's message (a close code this one refuses): reported while running.
      events.deliveryArrived?.({ kind: 'disconnect', userId: 'ann', code: 1, reason: '' });
      events.evictionOrdered({ nodeId: 'node-0', incarnation: store.incarnation, connectionId: 'gone' });
      events.subscriptionLost?.(new SlotStoreUnavailableError('lost the subscription'));
    };
    const leaseHeldAtStop: (boolean | undefined)[] = [];
    const stop = store.stop.bind(store);
    store.stop = () => {
      // The store is told to give the lease back: the node no longer claims to hold it.
      leaseHeldAtStop.push(node(c, 0).supervisor.stats().cluster?.leaseHeld);
      callBack();
      return stop();
    };
    await shutdownAll(c);
    callBack();
    expect(leaseHeldAtStop).toEqual([false]);
    expect(node(c, 0).errors).toEqual([]);
  });
});

describe('cluster-wide reads', () => {
  it('stats({ cluster: true }) and userStats(id, { cluster: true }) read the global book', async () => {
    const c = await startCluster(2);
    await node(c, 0).open('hal');
    await node(c, 1).open('hal');
    const stats = await node(c, 0).supervisor.stats({ cluster: true });
    expect(stats.global).toMatchObject({ users: 1, connections: 2 });
    expect(stats.global.nodes.map((n) => n.nodeId).sort()).toEqual(['node-0', 'node-1']);
    expect(stats.connections).toBe(1);
    expect(await node(c, 1).supervisor.userStats('hal', { cluster: true })).toMatchObject({
      live: 2,
      byNode: { 'node-0': 1, 'node-1': 1 },
    });
    // The plain calls stay synchronous and local.
    expect(node(c, 0).supervisor.userStats('hal')).toMatchObject({ live: 1 });
    // A bad id never reaches the store.
    const calls = c.book.calls.userBook;
    await expect(node(c, 0).supervisor.userStats('', { cluster: true })).rejects.toMatchObject({
      code: 'WSSUP_INVALID_ARGUMENT',
    });
    expect(c.book.calls.userBook).toBe(calls);
    await shutdownAll(c);
  });

  it('rejects { cluster: true } without the cluster option', async () => {
    const t = await startRulesServer();
    await expect(t.supervisor.stats({ cluster: true })).rejects.toMatchObject({
      code: 'WSSUP_INVALID_ARGUMENT',
    });
    expect(t.supervisor.stats().cluster).toBeUndefined();
  });
});

describe('a store of several failure domains (a Redis Cluster’s masters): one breaker each', () => {
  /** ann's book on shard A, bob's on shard B, as a Redis Cluster puts users' books on masters. */
  function shardUsers(c: Cluster, all: () => readonly string[] = () => ['A', 'B']): void {
    c.book.shards = { of: (userId) => (userId === 'bob' ? 'B' : 'A'), all };
  }
  const clusterStats = (c: Cluster) => node(c, 0).supervisor.stats().cluster;

  it("'reject': one shard down refuses only its users with 503; the others are admitted and booked, and the node stays ready", async () => {
    const c = await startCluster(1, 'reject', leaseTtlMs, neverIdle);
    shardUsers(c);
    const events = storeEvents(node(c, 0).supervisor);
    c.book.downShards.add('A');
    for (let i = 0; i < 4; i++) expect((await refusal(node(c, 0).url('ann'))).status).toBe(503);
    expect(events).toEqual([{ breaker: 'open', shard: 'A', nodeId: 'node-0', policy: 'reject' }]);
    // Before: one breaker, opened by ann's three failures, refused bob too.
    await node(c, 0).open('bob');
    await node(c, 0).open('bob');
    expect(booked(c, 'bob')).toBe(2);
    expect(clusterStats(c)).toMatchObject({ breaker: 'closed', unavailableShards: ['A'] });
    expect(node(c, 0).supervisor.stats().admission).toEqual({ admitting: true, reason: null });

    c.book.downShards.delete('A');
    await driveUntil(c, () => expect(events.at(-1)).toMatchObject({ breaker: 'closed', shard: 'A' }));
    await node(c, 0).open('ann');
    expect(clusterStats(c)?.unavailableShards).toEqual([]);
    await expectBooksMatchSockets(c, 'ann');
    await expectBooksMatchSockets(c, 'bob');
    await shutdownAll(c);
  });

  it('between a failover’s fence and its re-admission, a user at the limit on the fenced node gets no socket on another node; the old lease ends only once everything is booked again', async () => {
    const c = await startCluster(2, 'reject', leaseTtlMs, neverIdle);
    for (let i = 0; i < limit; i++) await node(c, 0).open('ann');
    const store = c.stores[0] as MemoryStore;
    const first = store.incarnation;
    const held = holdReadmits(store);
    store.failedOver = true;
    c.clock.increment(c.ttl / 3);
    await vi.waitFor(() => expect(held.readmits).toBe(1), ioWait);
    expect(store.incarnation).toBeGreaterThan(first);
    // Fenced, not booked again yet: the old incarnation's entries still count on every node.
    expect(c.book.alive(first)).toBe(true);
    expect(await refusal(node(c, 1).url('ann'))).toMatchObject({ status: 429 });
    expect(held.retiredAfter).toEqual([]);
    held.letGo();
    await vi.waitFor(() => expect(held.retiredAfter).toEqual([1]), ioWait);
    expect(c.book.alive(first)).toBe(false);
    expect(node(c, 0).events.evicted).toEqual([]);
    expect(booked(c, 'ann')).toBe(limit);
    for (const entry of c.book.book('ann').values()) expect(entry.incarnation).toBe(store.incarnation);
    await expectBooksMatchSockets(c, 'ann');
    await shutdownAll(c);
  });

  it('an admission the book answered under the old incarnation, whose socket opens after the fence’s re-admission read the held sockets: booked again before the old lease ends (it was retired with it, one past the limit)', async () => {
    const c = await startCluster(2, 'reject', leaseTtlMs, neverIdle);
    for (let i = 0; i < limit - 1; i++) await node(c, 0).open('ann');
    const store = c.stores[0] as MemoryStore;
    const first = store.incarnation;
    const held = holdReadmits(store);
    // The book admits the newcomer under the old incarnation; the fencing renewal's answer is
    // handled before the upgrade goes on (both replies in one read): its re-admission reads the
    // held sockets without the newcomer, whose socket opens while that re-admission is on its way.
    const admit = store.admit.bind(store);
    store.admit = async (userId, connectionId, max, evictAt) => {
      const answer = await admit(userId, connectionId, max, evictAt);
      store.admit = admit;
      store.failedOver = true;
      expect(await store.renew()).toBe('lost');
      await held.started;
      return answer;
    };
    await node(c, 0).open('ann');
    expect(store.incarnation).toBeGreaterThan(first);
    expect(localLive(c, 'ann')).toBe(limit);
    held.letGo();
    // Retired after a second full re-admission, which books the newcomer under the new incarnation.
    await driveUntil(c, () => expect(held.retiredAfter).toEqual([2]));
    expect(c.book.alive(first)).toBe(false);
    await expectBooksMatchSockets(c, 'ann');
    for (const entry of c.book.book('ann').values()) expect(entry.incarnation).toBe(store.incarnation);
    expect(await refusal(node(c, 1).url('ann'))).toMatchObject({ status: 429 });
    expect(node(c, 0).events.evicted).toEqual([]);
    await shutdownAll(c);
  });

  it('between a failover’s fence and its re-admission, an order naming the old incarnation (another node’s newcomer at T) evicts the idle socket at once', async () => {
    const c = await startCluster(2);
    const a = await node(c, 0).open('bea');
    c.clock.increment(1);
    await node(c, 0).open('bea');
    c.clock.increment(1);
    await node(c, 0).open('bea');
    c.clock.increment(idleTimeoutMs); // all three idle; n = 3 < T
    await vi.waitFor(() => expect(c.book.users.get('bea')?.get(a.id)?.idleSince).toBeDefined(), ioWait);
    const store = c.stores[0] as MemoryStore;
    const first = store.incarnation;
    const held = holdReadmits(store);
    store.failedOver = true;
    expect(await store.renew()).toBe('lost');
    await vi.waitFor(() => expect(held.readmits).toBe(1), ioWait);
    expect(c.book.users.get('bea')?.get(a.id)?.incarnation).toBe(first);
    // The newcomer on node 1 makes n = 4 = T: a (node 0's, still under the old incarnation) goes.
    const closedA = closeOf(a.ws);
    await node(c, 1).open('bea');
    await vi.waitFor(
      () => expect(node(c, 0).events.evicted).toEqual([{ connectionId: a.id, userId: 'bea', cause: 'idle' }]),
      ioWait,
    );
    expect(await closedA).toEqual({ code: 4001, reason: 'evicted: idle' });
    held.letGo();
    await expectBooksMatchSockets(c, 'bea');
    await shutdownAll(c);
  });

  it('a fence books again shard by shard: a socket closed while an earlier shard is booked again is not booked after its release (it leaked a slot for good)', async () => {
    const c = await startCluster(1, 'reject', leaseTtlMs, neverIdle);
    shardUsers(c);
    const store = c.stores[0] as MemoryStore;
    const sockets = { ann: await node(c, 0).open('ann'), bob: await node(c, 0).open('bob') };
    // The first shard's re-admission waits, as a master's round trip does, until the other
    // shard's user has closed its socket.
    const readmit = store.readmit.bind(store);
    let letFirstGo: () => void = () => {};
    const firstWaits = new Promise<void>((resolve) => {
      letFirstGo = resolve;
    });
    let first: string | undefined;
    let answered = 0;
    store.readmit = async (held, limit) => {
      if (first === undefined) {
        first = held[0]?.userId;
        await firstWaits;
      }
      return readmit(held, limit).finally(() => {
        answered += 1;
      });
    };
    store.failedOver = true;
    c.clock.increment(c.ttl / 3);
    await vi.waitFor(() => expect(first).toBeDefined(), ioWait);
    const other = first === 'ann' ? 'bob' : 'ann';
    const releases = c.book.calls.release ?? 0;
    sockets[other].ws.close();
    // Gone here, and its release applied (its old entry is dead already: the fence).
    await vi.waitFor(() => {
      expect(localLive(c, other)).toBe(0);
      expect(c.book.calls.release).toBe(releases + 1);
    }, ioWait);
    letFirstGo();
    // The other shard's re-admission, after that release, must not book the closed socket.
    await vi.waitFor(() => expect(answered).toBeGreaterThanOrEqual(1), ioWait);
    // The next shard's goes out within the same turn (the store answers in memory).
    await new Promise((resolve) => setImmediate(resolve));
    await expectBooksMatchSockets(c, other);
    await expectBooksMatchSockets(c, first as string);
    await shutdownAll(c);
  });

  it("'reject': every shard down refuses every upgrade and the node is not ready; one back, it is", async () => {
    const c = await startCluster(1, 'reject', leaseTtlMs, neverIdle);
    shardUsers(c);
    c.book.downShards.add('A');
    c.book.downShards.add('B');
    for (let i = 0; i < 3; i++) {
      expect((await refusal(node(c, 0).url('ann'))).status).toBe(503);
      expect((await refusal(node(c, 0).url('bob'))).status).toBe(503);
    }
    expect(clusterStats(c)?.unavailableShards).toEqual(['A', 'B']);
    expect(node(c, 0).supervisor.stats().admission).toEqual({
      admitting: false,
      reason: 'store-unavailable',
    });
    c.book.downShards.delete('B');
    // The next trial of B's breaker is an admission of one of its users (renewals go through the store-wide one).
    await vi.waitFor(async () => {
      c.clock.increment(1_000);
      await node(c, 0).open('bob');
    }, ioWait);
    expect(node(c, 0).supervisor.stats().admission).toEqual({ admitting: true, reason: null });
    expect(clusterStats(c)?.unavailableShards).toEqual(['A']);
    await shutdownAll(c);
  });

  it("'local': a shard back while another is still down gets its outage's connections booked at once; the other's wait, then are booked too", async () => {
    const c = await startCluster(1, 'local', leaseTtlMs, neverIdle);
    shardUsers(c);
    const events = storeEvents(node(c, 0).supervisor);
    const annFirst = await node(c, 0).open('ann');
    c.book.downShards.add('A');
    c.book.downShards.add('B');
    for (let i = 0; i < 3; i++) await node(c, 0).open('bob');
    for (let i = 0; i < 3; i++) await node(c, 0).open('ann');
    // ann's first connection closes in the outage: its release is owed to shard A.
    annFirst.ws.close();
    await vi.waitFor(
      () => expect(clusterStats(c)).toMatchObject({ unsynced: 6, pendingReleases: 1 }),
      ioWait,
    );
    expect(events.map((e) => `${e.breaker} ${e.shard}`).sort()).toEqual(['open A', 'open B']);

    c.book.downShards.delete('B');
    await driveUntil(c, () => expect(booked(c, 'bob')).toBe(3));
    // A's work is still owed, and was never sent while its breaker refused it.
    expect(clusterStats(c)).toMatchObject({ unsynced: 3, pendingReleases: 1, unavailableShards: ['A'] });
    expect(booked(c, 'ann')).toBe(1);

    c.book.downShards.delete('A');
    await driveUntil(c, () => expect(clusterStats(c)).toMatchObject({ unsynced: 0, pendingReleases: 0 }));
    await expectBooksMatchSockets(c, 'ann');
    await expectBooksMatchSockets(c, 'bob');
    expect(booked(c, 'ann')).toBe(3);
    expect(clusterStats(c)?.unavailableShards).toEqual([]);
    await shutdownAll(c);
  });

  it('a shard that leaves the store’s layout (its master replaced) while its breaker is open: forgotten at the next renewal, and told closed', async () => {
    const c = await startCluster(1, 'local', leaseTtlMs, neverIdle);
    let shards = ['A', 'B'];
    shardUsers(c, () => shards);
    const events = storeEvents(node(c, 0).supervisor);
    c.book.downShards.add('A');
    for (let i = 0; i < 3; i++) await node(c, 0).open('ann');
    expect(clusterStats(c)?.unavailableShards).toEqual(['A']);
    // The failover: ann's book now lives on A2, which answers.
    shards = ['A2', 'B'];
    c.book.shards = { of: (userId) => (userId === 'bob' ? 'B' : 'A2'), all: () => shards };
    await driveUntil(c, () => expect(clusterStats(c)).toMatchObject({ unsynced: 0, unavailableShards: [] }));
    expect(events.map((e) => `${e.breaker} ${e.shard}`)).toEqual(['open A', 'closed A']);
    await expectBooksMatchSockets(c, 'ann');
    await shutdownAll(c);
  });

  it("'reject': shards whose calls that failed were only reads (userStats { cluster: true }) do not keep the node unready once they answer", async () => {
    const c = await startCluster(1, 'reject', leaseTtlMs, neverIdle);
    shardUsers(c);
    c.book.downShards.add('A');
    c.book.downShards.add('B');
    // An app (or the dashboard) reading users' books through the outage; no upgrade comes.
    for (let i = 0; i < 3; i++) {
      for (const user of ['ann', 'bob']) {
        await expect(node(c, 0).supervisor.userStats(user, { cluster: true })).rejects.toMatchObject({
          code: 'WSSUP_STORE_UNAVAILABLE',
        });
      }
    }
    c.book.downShards.clear();
    // The store answers again and the renewals go on: nothing is owed to either shard, and a
    // node out of the balancer gets no upgrade to try them with. It must be ready again.
    await driveUntil(c, () =>
      expect(node(c, 0).supervisor.stats().admission).toEqual({ admitting: true, reason: null }),
    );
    expect(clusterStats(c)?.unavailableShards).toEqual([]);
    await node(c, 0).open('ann');
    await node(c, 0).open('bob');
    await shutdownAll(c);
  });
});

describe('eviction orders that cannot be sent (a node’s channel on a master that is away)', () => {
  it('keep failing without opening the store-wide breaker: renewals and admissions go on, each failure reported', async () => {
    const c = await startCluster(2, 'local', leaseTtlMs);
    const events = storeEvents(node(c, 1).supervisor);
    // Three idle connections on node 0; node 1's admissions at T name them for eviction.
    for (let i = 0; i < 3; i++) await node(c, 0).open('bea');
    c.clock.increment(idleTimeoutMs);
    await vi.waitFor(
      () =>
        expect([...(c.book.users.get('bea')?.values() ?? [])].every((e) => e.idleSince !== undefined)).toBe(
          true,
        ),
      ioWait,
    );
    c.book.ordersDown = true;
    await node(c, 1).open('bea'); // n = 4 = T: the longest idle is named, its order fails
    // Each admission names it again (still booked, an order may have been lost): more failed orders.
    for (let i = 0; i < 4; i++) await refusal(node(c, 1).url('bea')).catch(() => undefined);
    await vi.waitFor(() => {
      const failed = node(c, 1).errors.filter((e) => /order channel is down/.test(e.message));
      expect(failed.length).toBeGreaterThanOrEqual(3);
    }, ioWait);
    // Before: three failed orders in a row opened the one breaker of the store, which then
    // refused the renewals and admitted by policy (unsynced), as if Redis were down.
    expect(events).toEqual([]);
    expect(node(c, 1).supervisor.stats().cluster).toMatchObject({ breaker: 'closed', unsynced: 0 });
    const expiry = () => c.book.leases.get(c.stores[1]?.incarnation ?? 0)?.expiresAt ?? 0;
    const before = expiry();
    c.clock.increment(c.ttl / 3);
    await vi.waitFor(() => expect(expiry()).toBeGreaterThan(before), ioWait); // renewed
    c.book.ordersDown = false;
    await shutdownAll(c);
  });

  it("one node's channel away does not stop the orders to the others: their idle connections are still evicted at T", async () => {
    const c = await startCluster(3, 'local', leaseTtlMs);
    // Three idle connections of bea on node 2, whose channel's master goes away, and three of
    // cid on node 0, whose channel answers. Node 1 admits both users.
    const cids: Client[] = [];
    for (let i = 0; i < 3; i++) {
      await node(c, 2).open('bea');
      cids.push(await node(c, 0).open('cid'));
      c.clock.increment(1);
    }
    c.clock.increment(idleTimeoutMs);
    const allIdle = (user: string) =>
      [...(c.book.users.get(user)?.values() ?? [])].every((e) => e.idleSince !== undefined);
    await vi.waitFor(() => expect(allIdle('bea') && allIdle('cid')).toBe(true), ioWait);
    c.book.ordersDownTo.add('node-2');
    // bea's admissions at T name node 2's idle connections: a stream of orders that fail.
    await node(c, 1).open('bea');
    for (let i = 0; i < 4; i++) await refusal(node(c, 1).url('bea')).catch(() => undefined);
    await vi.waitFor(() => {
      const failed = node(c, 1).errors.filter((e) => /order channel is down \(node-2\)/.test(e.message));
      expect(failed.length).toBeGreaterThanOrEqual(3);
    }, ioWait);
    // cid at T on node 1: its longest idle connection, on healthy node 0, goes as usual; and
    // each admission at T evicts another, so cid reaches the limit with live connections only.
    // Before: node 2's failed orders opened the one breaker of every order, which refused
    // these unsent (and unreported): all three were named, none closed, and cid got 429 at
    // 5 of 5 with three of them idle, until an order happened to be the breaker's trial.
    const closes: unknown[] = [];
    for (const client of cids) void closeOf(client.ws).then((close) => closes.push(close));
    const evicted = { code: 4001, reason: 'evicted: idle' };
    await node(c, 1).open('cid');
    await vi.waitFor(() => expect(closes).toEqual([evicted]), ioWait);
    await node(c, 1).open('cid');
    await vi.waitFor(() => expect(closes).toEqual([evicted, evicted]), ioWait);
    expect(node(c, 0).events.evicted.map((e) => e.connectionId)).toEqual([cids[0]?.id, cids[1]?.id]);
    c.book.ordersDownTo.clear();
    await expectBooksMatchSockets(c, 'cid');
    await shutdownAll(c);
  });
});
