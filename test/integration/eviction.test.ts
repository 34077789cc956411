/**
 * The eviction invariant and draining, on real sockets (test preset: limit
 * 5, threshold 0.7, so T = ceil(3.5) = 4; idleTimeoutMs 1000):
 *
 * - while a user's live count n is at or above T, none of that user's
 *   connections stays idle: idle ones are evicted, longest idle first, until
 *   n < T or none is idle, and each client sees close 4001 "evicted…";
 * - active connections (an application message in either direction within
 *   idleTimeoutMs) are never evicted; pings and pongs are not activity;
 * - a draining connection frees its user slot at once and is terminated
 *   after drainTimeoutMs if its client never answers the close.
 *
 * Time is a SimulatedClock: `clock.increment(ms)` fires the delays due, at
 * once and in order, so "idle" happens exactly when the test says.
 */
import { once } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import type WebSocket from 'ws';
import {
  type Client,
  closeOf,
  evictAt,
  idleTimeoutMs,
  limit,
  nextEvent,
  type RulesServer,
  refusal,
  resumeReading,
  startRulesServer,
  stopReading,
  touch,
  waitForUser,
} from '../helpers/rules.js';
import { allDisposed, expectNoLeaks, ioWait, userFromQuery } from '../helpers/server.js';

/** Opens `count` clients for `user`, 1 ms of simulated time apart so that no two turn idle at the same instant. */
async function openSpaced(t: RulesServer, user: string, count: number): Promise<Client[]> {
  const clients: Client[] = [];
  for (let i = 0; i < count; i++) {
    if (i > 0) t.clock.increment(1);
    clients.push(await t.open(user));
  }
  return clients;
}

async function closeAll(t: RulesServer, clients: Client[]): Promise<void> {
  for (const { ws } of clients) ws.close();
  await allDisposed(t.supervisor);
}

const evictedIds = (t: RulesServer) => t.events.evicted.map((event) => event.connectionId);

describe(`eviction invariant (limit ${limit}, T = ${evictAt})`, () => {
  it('evicts nothing below T, however long the connections stay idle', async () => {
    const t = await startRulesServer();
    const clients = await openSpaced(t, 'ann', evictAt - 1);
    for (let i = 0; i < 10; i++) t.clock.increment(idleTimeoutMs);
    expect(t.supervisor.userStats('ann')).toMatchObject({ live: 3, idle: 3, draining: 0 });
    expect(t.events.evicted).toEqual([]);
    // Still open and usable (and a message makes a connection active again).
    for (const { ws } of clients) await touch(ws);
    expect(t.supervisor.userStats('ann')).toMatchObject({ live: 3, idle: 0 });
    await closeAll(t, clients);
    expectNoLeaks(t.supervisor);
  });

  it('at T, evicts idle connections longest idle first, each closed with 4001 "evicted…"', async () => {
    const t = await startRulesServer();
    const [a, b, c] = await openSpaced(t, 'bea', 3);
    if (a === undefined || b === undefined || c === undefined) throw new Error('unreachable');
    // Activity reorders them: b turns idle first, then a, then c (not the admission order).
    t.clock.increment(300);
    await touch(a.ws);
    t.clock.increment(300);
    await touch(c.ws);
    t.clock.increment(idleTimeoutMs);
    expect(t.supervisor.userStats('bea')).toMatchObject({ live: 3, idle: 3 });
    const closes = [b, a, c].map(({ ws }) => closeOf(ws));

    // Each newcomer would make n = 4 = T: exactly one idle connection goes, the longest idle.
    const d = await t.open('bea');
    expect(evictedIds(t)).toEqual([b.id]);
    expect(t.supervisor.userStats('bea')).toMatchObject({ live: 3, idle: 2 });
    const e = await t.open('bea');
    expect(evictedIds(t)).toEqual([b.id, a.id]);
    const f = await t.open('bea');
    expect(evictedIds(t)).toEqual([b.id, a.id, c.id]);
    expect(t.events.evicted.map((event) => event.cause)).toEqual(['idle', 'idle', 'idle']);
    expect(t.supervisor.userStats('bea')).toMatchObject({ live: 3, idle: 0 });

    for (const { code, reason } of await Promise.all(closes)) {
      expect(code).toBe(4001);
      expect(reason).toBe('evicted: idle'); // the README's close-code table, exactly
    }
    await waitForUser(t.supervisor, 'bea', { draining: 0 });
    expect(t.events.disposed.map((event) => [event.connectionId, event.reason, event.closeCode])).toEqual([
      [b.id, 'evicted', 4001],
      [a.id, 'evicted', 4001],
      [c.id, 'evicted', 4001],
    ]);
    expect(t.events.evicted.every((event) => event.userId === 'bea')).toBe(true);
    expect(t.supervisor.stats().counters).toEqual({ admitted: 6, rejected: 0, evicted: 3, disposed: 3 });
    expect(t.events.rejected).toEqual([]);

    await closeAll(t, [d, e, f]);
    expectNoLeaks(t.supervisor);
  });

  it('a connection that turns idle while n ≥ T is evicted at that very moment', async () => {
    const t = await startRulesServer();
    const clients: Client[] = [];
    for (let i = 0; i < evictAt; i++) clients.push(await t.open('cal')); // all at t = 0
    const [quiet, ...busy] = clients;
    if (quiet === undefined) throw new Error('unreachable');
    t.clock.increment(idleTimeoutMs / 2);
    for (const { ws } of busy) await touch(ws);
    const quietClosed = closeOf(quiet.ws);

    t.clock.increment(idleTimeoutMs / 2 - 1);
    expect(t.events.evicted).toEqual([]);
    expect(t.supervisor.userStats('cal')).toMatchObject({ live: 4, idle: 0 });
    t.clock.increment(1); // quiet's idle timeout: evicted in the same step, before any I/O
    expect(evictedIds(t)).toEqual([quiet.id]);
    expect(t.supervisor.userStats('cal')).toMatchObject({ live: 3, idle: 0, draining: 1 });

    const { code, reason } = await quietClosed;
    expect(code).toBe(4001);
    expect(reason).toMatch(/^evicted/);
    for (const { ws } of busy) await touch(ws);
    await closeAll(t, clients);
    expectNoLeaks(t.supervisor);
  });

  it('evicts only until n < T: from 5 idle, two go and three stay idle', async () => {
    const t = await startRulesServer();
    const clients = await openSpaced(t, 'dan', limit);
    const closes = clients.slice(0, 2).map(({ ws }) => closeOf(ws));
    t.clock.increment(idleTimeoutMs); // they turn idle one by one, oldest first
    expect(evictedIds(t)).toEqual([clients[0]?.id, clients[1]?.id]);
    expect(t.supervisor.userStats('dan')).toMatchObject({ live: 3, idle: 3 });
    expect((await Promise.all(closes)).map(({ code }) => code)).toEqual([4001, 4001]);
    for (const { ws } of clients.slice(2)) await touch(ws);
    await closeAll(t, clients);
    expectNoLeaks(t.supervisor);
  });

  it('never evicts an active connection, whether the activity is inbound or outbound', async () => {
    const t = await startRulesServer();
    const clients = await openSpaced(t, 'eve', limit);
    const [talker, listener, ...silent] = clients;
    if (talker === undefined || listener === undefined) throw new Error('unreachable');
    const silentCloses = silent.slice(0, 2).map(({ ws }) => closeOf(ws));
    const keepBusy = async () => {
      await touch(talker.ws); // the client sends
      const news = once(listener.ws, 'message');
      expect(listener.handle.send('news')).toBe(true); // the server sends; the client only reads
      await news;
    };

    // Ten idle timeouts pass. The two busy ones, the oldest, stay; of the silent
    // three, two are evicted as they turn idle (n = 5, then 4), the last stays idle at n = 3.
    for (let i = 0; i < 20; i++) {
      t.clock.increment(idleTimeoutMs / 2);
      await keepBusy();
    }
    expect(evictedIds(t)).toEqual([silent[0]?.id, silent[1]?.id]);
    expect((await Promise.all(silentCloses)).map(({ code }) => code)).toEqual([4001, 4001]);
    expect(t.supervisor.userStats('eve')).toMatchObject({ live: 3, idle: 1 });

    // A newcomer makes n = 4 = T: the idle one goes, not the older busy ones.
    const newcomer = await t.open('eve');
    expect(evictedIds(t)).toEqual([silent[0]?.id, silent[1]?.id, silent[2]?.id]);
    expect(t.supervisor.userStats('eve')).toMatchObject({ live: 3, idle: 0 });
    await keepBusy();
    await touch(newcomer.ws);

    // With everyone active and n = T, a newcomer finds nothing idle to evict; n goes to the limit.
    const fifth = await t.open('eve');
    expect(t.events.evicted).toHaveLength(3);
    expect(t.supervisor.userStats('eve')).toMatchObject({ live: 4, idle: 0 });
    await closeAll(t, [...clients, newcomer, fifth]);
    expectNoLeaks(t.supervisor);
  });

  it('an idle connection the server sends to is active again, and is not evicted', async () => {
    const t = await startRulesServer();
    const [a, b, c] = await openSpaced(t, 'ned', 3);
    if (a === undefined || b === undefined || c === undefined) throw new Error('unreachable');
    t.clock.increment(idleTimeoutMs);
    expect(t.supervisor.userStats('ned')).toMatchObject({ live: 3, idle: 3 });

    // The oldest idle one gets a message from the server: it is active again.
    const news = once(a.ws, 'message');
    expect(a.handle.send('news')).toBe(true);
    await news;
    expect(t.supervisor.userStats('ned')).toMatchObject({ live: 3, idle: 2 });

    const d = await t.open('ned'); // n = 4 = T: b goes, not a
    const e = await t.open('ned'); // and again: c goes
    expect(evictedIds(t)).toEqual([b.id, c.id]);
    await touch(a.ws);
    await closeAll(t, [a, b, c, d, e]);
    expectNoLeaks(t.supervisor);
  });

  it('pings and pongs prove liveness, not activity: a connection that only answers pings is evicted', async () => {
    const heartbeatIntervalMs = 400;
    const t = await startRulesServer({ heartbeatIntervalMs });
    const clients = await openSpaced(t, 'fay', evictAt); // opened at 0, 1, 2, 3 ms
    let pongs = 0;
    for (const { handle } of clients) handle.socket?.on('pong', () => (pongs += 1));
    const firstClosed = closeOf(clients[0]?.ws as WebSocket);
    const firstDisposed = nextEvent(t.supervisor, 'disposed');

    for (const beat of [1, 2]) {
      t.clock.increment(heartbeatIntervalMs); // every connection is pinged...
      await waitUntil(() => pongs === beat * evictAt); // ...and every client answers
    }
    expect(t.events.evicted).toEqual([]);
    t.clock.increment(idleTimeoutMs - 2 * heartbeatIntervalMs - 3); // t = 1000: the first turns idle
    expect(evictedIds(t)).toEqual([clients[0]?.id]);
    expect((await firstClosed).code).toBe(4001);
    expect(await firstDisposed).toMatchObject({ connectionId: clients[0]?.id, reason: 'evicted' }); // not dead-peer
    await closeAll(t, clients);
    expectNoLeaks(t.supervisor);
  });

  it('the threshold is per user: one user at T does not evict another user’s idle connections', async () => {
    const t = await startRulesServer();
    const quiet = await openSpaced(t, 'gus', evictAt - 1);
    t.clock.increment(idleTimeoutMs);
    expect(t.supervisor.userStats('gus')).toMatchObject({ live: 3, idle: 3 });

    const busy = await openSpaced(t, 'hal', limit);
    for (const { ws } of busy) await touch(ws);
    expect(t.supervisor.userStats('gus')).toMatchObject({ live: 3, idle: 3 });
    expect(t.events.evicted).toEqual([]);
    for (const { ws } of quiet) await touch(ws);
    await closeAll(t, [...quiet, ...busy]);
    expectNoLeaks(t.supervisor);
  });

  it('an idle connection never makes an admission at the limit fail: it is already gone', async () => {
    // By the invariant, n = limit ≥ T means none is idle: the idle one was evicted
    // when it turned idle, so the 6th finds a free slot instead of a 429.
    const t = await startRulesServer();
    const clients = await openSpaced(t, 'ida', limit);
    const [quiet, ...busy] = clients;
    if (quiet === undefined) throw new Error('unreachable');
    expect((await refusal(t.url('ida'))).status).toBe(429); // all five active: refused

    t.clock.increment(idleTimeoutMs / 2);
    for (const { ws } of busy) await touch(ws);
    const quietClosed = closeOf(quiet.ws);
    t.clock.increment(idleTimeoutMs / 2); // quiet turns idle at n = 5
    expect(evictedIds(t)).toEqual([quiet.id]);

    const sixth = await t.open('ida');
    await touch(sixth.ws);
    expect((await quietClosed).code).toBe(4001);
    expect(t.events.rejected.map((event) => event.reason)).toEqual(['user-limit']);
    expect(t.supervisor.userStats('ida')).toMatchObject({ live: 5, idle: 0 });
    expect((await refusal(t.url('ida'))).status).toBe(429);
    await closeAll(t, [...clients, sixth]);
    expectNoLeaks(t.supervisor);
  });
});

describe('draining frees the slot at once', () => {
  it('an evicted connection whose client never answers: slot free at once, terminated after drainTimeoutMs', async () => {
    const drainTimeoutMs = 200;
    const t = await startRulesServer({ drainTimeoutMs });
    const clients = await openSpaced(t, 'jan', evictAt);
    const [deaf, ...busy] = clients;
    if (deaf === undefined) throw new Error('unreachable');
    stopReading(deaf.ws);
    t.clock.increment(idleTimeoutMs / 2);
    for (const { ws } of busy) await touch(ws);
    t.clock.increment(idleTimeoutMs / 2); // deaf turns idle at n = T: evicted

    expect(evictedIds(t)).toEqual([deaf.id]);
    expect(t.supervisor.userStats('jan')).toMatchObject({ live: 3, draining: 1 });
    expect(t.supervisor.stats()).toMatchObject({ connections: 4, byState: { active: 3, draining: 1 } });

    // Two newcomers fill the user to the limit while the evicted one still drains.
    const newcomers = [await t.open('jan'), await t.open('jan')];
    for (const { ws } of newcomers) await touch(ws);
    expect(t.supervisor.userStats('jan')).toMatchObject({ live: 5, draining: 1 });
    expect(t.supervisor.stats()).toMatchObject({ connections: 6, byState: { active: 5, draining: 1 } });
    expect((await refusal(t.url('jan'))).status).toBe(429);

    t.clock.increment(drainTimeoutMs - 1);
    expect(t.events.disposed).toEqual([]);
    t.clock.increment(1); // terminated: disposed in this same step
    expect(t.events.disposed).toMatchObject([
      { connectionId: deaf.id, reason: 'evicted', closeCode: 4001, lifetimeMs: t.clock.now() }, // admitted at 0
    ]);
    // Its socket said nothing before the supervisor ended it: no cleanup latency to report.
    expect(t.events.disposed[0]?.cleanupMs).toBeUndefined();
    expect(t.supervisor.stats()).toMatchObject({ connections: 5, byState: { active: 5, draining: 0 } });

    // The client, reading again, finds the close frame and then the end of the connection.
    const deafClosed = closeOf(deaf.ws);
    resumeReading(deaf.ws);
    expect((await deafClosed).code).toBe(4001);
    await closeAll(t, [...clients, ...newcomers]);
    expectNoLeaks(t.supervisor);
  });

  it('a connection closed by the app whose client never answers: slot free at once, no more messages delivered, terminated after drainTimeoutMs', async () => {
    const drainTimeoutMs = 200;
    const delivered: string[] = [];
    const t = await startRulesServer({
      drainTimeoutMs,
      onMessage: (connection, data) => {
        delivered.push(data.toString());
        connection.send(data);
      },
    });
    const clients = await openSpaced(t, 'kit', limit);
    const [deaf] = clients;
    if (deaf === undefined) throw new Error('unreachable');
    expect((await refusal(t.url('kit'))).status).toBe(429);

    stopReading(deaf.ws);
    deaf.handle.close(4000, 'done with you');
    // Synchronously: the slot is free before any I/O happens.
    expect(t.supervisor.userStats('kit')).toMatchObject({ live: 4, draining: 1 });
    expect(deaf.handle.send('more?')).toBe(false);

    // The draining connection delivers no more messages (the ping after it proves it was read).
    const serverSocket = deaf.handle.socket;
    if (serverSocket === undefined) throw new Error('unreachable');
    const pinged = once(serverSocket, 'ping');
    deaf.ws.send('late');
    deaf.ws.ping();
    await pinged;
    expect(delivered).toEqual([]);

    const newcomer = await t.open('kit'); // admitted while the old one still drains
    await touch(newcomer.ws);
    expect(delivered).toEqual(['touch']);
    expect(t.supervisor.stats().byState).toEqual({ connecting: 0, active: 5, draining: 1 });

    t.clock.increment(drainTimeoutMs - 1);
    expect(t.events.disposed).toEqual([]);
    t.clock.increment(1);
    expect(t.events.disposed).toMatchObject([
      { connectionId: deaf.id, reason: 'app-close', closeCode: 4000, lifetimeMs: t.clock.now() },
    ]);
    const deafClosed = closeOf(deaf.ws);
    resumeReading(deaf.ws);
    expect(await deafClosed).toEqual({ code: 4000, reason: 'done with you' });
    await closeAll(t, [...clients, newcomer]);
    expectNoLeaks(t.supervisor);
  });

  it('stats(): a draining connection counts in connections, not in users; the process-wide limit still counts it', async () => {
    const t = await startRulesServer({ drainTimeoutMs: 200, maxConnections: 1 });
    const deaf = await t.open('lea');
    stopReading(deaf.ws);
    deaf.handle.close(4000, 'bye');
    expect(t.supervisor.stats()).toMatchObject({
      connections: 1,
      users: 0,
      byState: { connecting: 0, active: 0, draining: 1 },
    });
    expect((await refusal(t.url('max'))).status).toBe(503); // process-limit, until it is disposed
    t.clock.increment(200);
    expect(t.supervisor.stats()).toMatchObject({ connections: 0, users: 0 });
    const admitted = await t.open('max');
    expect(t.events.rejected.map((event) => event.reason)).toEqual(['process-limit']);
    await closeAll(t, [admitted]);
    expectNoLeaks(t.supervisor);
  });
});

async function waitUntil(condition: () => boolean): Promise<void> {
  await vi.waitFor(() => expect(condition()).toBe(true), ioWait);
}

describe('inside an evicted listener', () => {
  it('the evicted connection is draining already: send() returns false and its client gets only the 4001', async () => {
    const t = await startRulesServer();
    const clients: Client[] = [];
    for (let i = 0; i < evictAt - 1; i++) clients.push(await t.open('eve'));
    t.clock.increment(idleTimeoutMs); // all idle; the next admission reaches T and evicts the oldest
    const [oldest] = clients as [Client];
    const sent: boolean[] = [];
    t.supervisor.on('evicted', ({ connectionId }) => {
      sent.push(t.supervisor.connection(connectionId)?.send('after eviction') ?? true);
    });
    const received: string[] = [];
    oldest.ws.on('message', (data) => received.push(String(data)));
    const closing = closeOf(oldest.ws);
    clients.push(await t.open('eve'));
    expect((await closing).code).toBe(4001);
    expect({ sent, received }).toEqual({ sent: [false], received: [] });
    for (const { ws } of clients) ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  // At its idle edge the evicted connection's own step is still running (its idle delay
  // fired): its actor takes the EVICT only after that step. A trial found send() and join()
  // true in that listener, and the client got the message ahead of its 4001.
  it('evicted at its own idle edge: send() and join() return false and its client gets only the 4001', async () => {
    const t = await startRulesServer();
    const clients: Client[] = [];
    for (let i = 0; i < evictAt; i++) {
      if (i > 0) t.clock.increment(1);
      clients.push(await t.open('ida')); // n = T: none idle yet, none evicted
    }
    for (const { handle } of clients) expect(handle.join('hall')).toBe(true);
    const [first, ...others] = clients as [Client, ...Client[]];
    const seen: unknown[] = [];
    t.supervisor.on('evicted', ({ connectionId }) => {
      const handle = t.supervisor.connection(connectionId);
      seen.push({
        id: connectionId,
        send: handle?.send('after eviction'),
        join: handle?.join('late'),
        toHall: t.supervisor.sendToRoom('hall', 'to the hall'),
        book: t.supervisor.userStats('ida'),
      });
    });
    const received: string[] = [];
    first.ws.on('message', (data) => received.push(String(data)));
    const closing = closeOf(first.ws);
    t.clock.increment(idleTimeoutMs - evictAt + 1); // the first turns idle at n = T: it goes
    expect(seen).toEqual([
      {
        id: first.id,
        send: false,
        join: false,
        toHall: evictAt - 1,
        book: expect.objectContaining({ live: evictAt - 1, draining: 1 }),
      },
    ]);
    expect(await closing).toEqual({ code: 4001, reason: 'evicted: idle' });
    expect(received).toEqual([]);
    expect(t.supervisor.roomMembers('late')).toEqual([]);
    for (const { ws } of others) ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it("two evicted in one step: inside the first one's evicted listener, the second refuses sends too", async () => {
    // ida's next upgrade carries a plan limit of 3 (T = 3): with 3 idle, its admission evicts 2.
    let plan: number | undefined;
    const t = await startRulesServer({
      authenticate: (request) => {
        const userId = userFromQuery(request);
        if (userId === null || plan === undefined) return userId;
        return { userId, maxConnectionsPerUser: plan };
      },
    });
    const idle: Client[] = [];
    for (let i = 0; i < 3; i++) {
      if (i > 0) t.clock.increment(1);
      idle.push(await t.open('ida'));
    }
    t.clock.increment(idleTimeoutMs); // all three idle, below T (4): none evicted
    expect(t.supervisor.userStats('ida')).toMatchObject({ live: 3, idle: 3 });
    const received = new Map<string, string[]>(idle.map(({ id }) => [id, []]));
    for (const { id, ws } of idle) ws.on('message', (data) => received.get(id)?.push(String(data)));
    const closings = idle.map(({ ws }) => closeOf(ws));
    const sends: { from: string; to: string; sent: boolean | undefined }[] = [];
    const evicted: string[] = [];
    t.supervisor.on('evicted', ({ connectionId }) => {
      evicted.push(connectionId);
      // Every other victim of the step, whether announced yet or not.
      for (const { id } of idle)
        if (id !== connectionId && !t.supervisor.connectionsOf('ida').some((handle) => handle.id === id))
          sends.push({ from: connectionId, to: id, sent: t.supervisor.connection(id)?.send('late') });
    });
    plan = 3;
    await t.open('ida');
    expect(evicted).toHaveLength(2);
    // Each listener saw the other victim draining already (not listed): its send refused.
    expect(sends).toEqual([
      { from: evicted[0], to: evicted[1], sent: false },
      { from: evicted[1], to: evicted[0], sent: false },
    ]);
    for (const [i, { id }] of idle.entries()) {
      if (!evicted.includes(id)) continue;
      expect(await closings[i]).toEqual({ code: 4001, reason: 'evicted: idle' });
      expect(received.get(id)).toEqual([]);
    }
    await t.supervisor.shutdown();
    expectNoLeaks(t.supervisor);
  });
});
