/**
 * Capacity alerts (issue 11, item 6) at the exact crossings, on real
 * sockets: with a limit of 10 and the default levels (50, 80, 90 %) and
 * hysteresis (10 % of the limit), a level is reached at 5, 8 and 9 live
 * connections, and left only below 4, 7 and 8. And inside every listener
 * (`admitted`, `evicted`, `capacity`, `disposed`) the books already reflect
 * the event: the stale view the issue reports (one behind inside
 * `admitted`, the evicted connection still idle-live inside `evicted`)
 * must not come back.
 */
import { describe, expect, it, vi } from 'vitest';
import { WebSocketServer } from 'ws';
import { SimulatedClock } from 'xstate';
import type { CapacityEvent, Supervisor } from '../../src/index.js';
import { type Client, nextEvent, type RulesServer, startRulesServer } from '../helpers/rules.js';
import { allDisposed, connectRefused, expectNoLeaks, ioWait, startServer } from '../helpers/server.js';

function recordCapacity(supervisor: Supervisor): CapacityEvent[] {
  const events: CapacityEvent[] = [];
  supervisor.on('capacity', (event) => events.push(event));
  return events;
}

/** The client closes; resolves once its connection is disposed. */
async function leave(t: RulesServer, client: Client): Promise<void> {
  const disposed = nextEvent(t.supervisor, 'disposed', (event) => event.connectionId === client.id);
  client.ws.close();
  await disposed;
}

const short = (events: CapacityEvent[]) => events.map((e) => `${e.direction} ${e.level} @${e.live}`);

async function closeAll(t: RulesServer, clients: Client[]): Promise<void> {
  for (const client of clients) client.ws.close();
  await allDisposed(t.supervisor);
  expectNoLeaks(t.supervisor);
}

describe('capacity levels (limit 10: up at 5, 8, 9; down below 4, 7, 8)', () => {
  it('fires up exactly at 5, 8 and 9 live connections, and not at 10', async () => {
    const t = await startRulesServer({ maxConnectionsPerUser: 10, evictionThreshold: 1 });
    const alerts = recordCapacity(t.supervisor);
    const clients: Client[] = [];
    const firedAt: Record<number, string[]> = {};
    for (let n = 1; n <= 10; n += 1) {
      const before = alerts.length;
      clients.push(await t.open('ada'));
      firedAt[n] = short(alerts.slice(before));
    }
    expect(firedAt).toEqual({
      1: [],
      2: [],
      3: [],
      4: [],
      5: ['up 0.5 @5'],
      6: [],
      7: [],
      8: ['up 0.8 @8'],
      9: ['up 0.9 @9'],
      10: [],
    });
    expect(alerts[2]).toEqual({ userId: 'ada', direction: 'up', level: 0.9, band: 3, live: 9, limit: 10 });
    expect(t.supervisor.stats().capacity).toEqual({
      levels: [0.5, 0.8, 0.9],
      usersByBand: [0, 0, 0, 1],
      alerts: 3,
    });
    expect(t.supervisor.userStats('ada')).toMatchObject({ live: 10, band: 3 });
    await closeAll(t, clients);
    // Leaving crossed every level back down.
    expect(short(alerts.slice(3))).toEqual(['down 0.9 @7', 'down 0.8 @6', 'down 0.5 @3']);
    expect(t.supervisor.stats().capacity).toMatchObject({ usersByBand: [0, 0, 0, 0], alerts: 6 });
  });

  it('a user hovering at a boundary does not flood: down only a margin below the level', async () => {
    const t = await startRulesServer({ maxConnectionsPerUser: 10, evictionThreshold: 1 });
    const alerts = recordCapacity(t.supervisor);
    const clients: Client[] = [];
    for (let n = 1; n <= 9; n += 1) clients.push(await t.open('bea'));
    expect(short(alerts)).toEqual(['up 0.5 @5', 'up 0.8 @8', 'up 0.9 @9']);

    // Hover between 8 and 9, five times: the 90 % level is held until the count falls below 8.
    for (let i = 0; i < 5; i += 1) {
      await leave(t, clients.pop() as Client);
      expect(t.supervisor.userStats('bea')).toMatchObject({ live: 8, band: 3 });
      clients.push(await t.open('bea'));
    }
    expect(alerts).toHaveLength(3);

    const steps: Record<number, string[]> = {};
    for (let live = 8; live >= 3; live -= 1) {
      const before = alerts.length;
      await leave(t, clients.pop() as Client);
      steps[live] = short(alerts.slice(before));
    }
    expect(steps).toEqual({
      8: [],
      7: ['down 0.9 @7'],
      6: ['down 0.8 @6'],
      5: [],
      4: [],
      3: ['down 0.5 @3'],
    });
    expect(t.supervisor.stats().capacity).toMatchObject({ usersByBand: [1, 0, 0, 0], alerts: 6 });
    await closeAll(t, clients);
    expect(alerts).toHaveLength(6);
  });

  it('counts users per band in O(1), one band per user', async () => {
    const t = await startRulesServer({ maxConnectionsPerUser: 10, evictionThreshold: 1 });
    const clients: Client[] = [];
    for (let n = 0; n < 5; n += 1) clients.push(await t.open('cal'));
    for (let n = 0; n < 8; n += 1) clients.push(await t.open('dan'));
    clients.push(await t.open('eli'));
    expect(t.supervisor.stats()).toMatchObject({ users: 3, capacity: { usersByBand: [1, 1, 1, 0] } });
    expect(t.supervisor.audit().mismatches).toEqual([]);
    await closeAll(t, clients);
  });

  it('levels that share a count fire together, lowest first; [] turns alerts off', async () => {
    const t = await startRulesServer({ maxConnectionsPerUser: 2, evictionThreshold: 1 });
    const alerts = recordCapacity(t.supervisor);
    const first = await t.open('fay');
    expect(short(alerts)).toEqual(['up 0.5 @1']);
    const second = await t.open('fay');
    // 80 % and 90 % of 2 are both 2 connections.
    expect(alerts.slice(1)).toEqual([
      { userId: 'fay', direction: 'up', level: 0.8, band: 3, live: 2, limit: 2 },
      { userId: 'fay', direction: 'up', level: 0.9, band: 3, live: 2, limit: 2 },
    ]);
    await closeAll(t, [first, second]);

    const off = await startRulesServer({ capacityLevels: [] });
    const none = recordCapacity(off.supervisor);
    const clients = [];
    for (let n = 0; n < 5; n += 1) clients.push(await off.open('gus'));
    expect(none).toEqual([]);
    expect(off.supervisor.stats().capacity).toEqual({ levels: [], usersByBand: [1], alerts: 0 });
    await closeAll(off, clients);
  });

  it('on the way down, levels that share a count fire together, highest first', async () => {
    const t = await startRulesServer({ maxConnectionsPerUser: 2, evictionThreshold: 1 });
    const order: string[] = [];
    t.supervisor.on('disposed', ({ userId }) => order.push(`disposed ${userId}`));
    t.supervisor.on('capacity', ({ direction, level, band, live }) =>
      order.push(`${direction} ${level} band=${band} @${live}`),
    );
    const [first, second] = [await t.open('fay'), await t.open('fay')] as [Client, Client];
    order.length = 0;
    // No close frame: the connection goes from active to disposed in one step, so
    // its disposed event comes first, then the step's alerts (band: after the step).
    const gone = nextEvent(t.supervisor, 'disposed');
    second.ws.terminate();
    await gone;
    expect(order).toEqual(['disposed fay', 'down 0.9 band=1 @1', 'down 0.8 band=1 @1']);
    order.length = 0;
    // A close frame frees the slot when it arrives (the connection drains), so the
    // alert comes then, before the close handshake ends and the connection is disposed.
    await leave(t, first);
    expect(order).toEqual(['down 0.5 band=0 @0', 'disposed fay']);
    expectNoLeaks(t.supervisor);
  });

  it('a shutdown announces the down of every level the user had reached, highest first', async () => {
    const t = await startRulesServer({ maxConnectionsPerUser: 10, evictionThreshold: 1 });
    const alerts = recordCapacity(t.supervisor);
    for (let n = 1; n <= 9; n += 1) await t.open('gil');
    expect(short(alerts)).toEqual(['up 0.5 @5', 'up 0.8 @8', 'up 0.9 @9']);
    await t.supervisor.shutdown({ deadlineMs: 1_000 });
    expect(alerts.slice(3).map(({ direction, level }) => `${direction} ${level}`)).toEqual([
      'down 0.9',
      'down 0.8',
      'down 0.5',
    ]);
    expect(t.supervisor.stats().capacity).toMatchObject({ usersByBand: [0, 0, 0, 0], alerts: 6 });
    expectNoLeaks(t.supervisor);
  });

  it('an eviction and an admission in one step that leave the count where it was announce nothing', async () => {
    // Limit 4, T = 2, one level at 25 % (1 connection): the second admission evicts the idle first.
    const t = await startRulesServer({
      maxConnectionsPerUser: 4,
      evictionThreshold: 0.5,
      capacityLevels: [0.25],
    });
    const alerts = recordCapacity(t.supervisor);
    const first = await t.open('hal');
    t.clock.increment(t.supervisor.options.idleTimeoutMs);
    expect(t.supervisor.userStats('hal')).toMatchObject({ live: 1, idle: 1 });
    const evicted = nextEvent(t.supervisor, 'evicted');
    const second = await t.open('hal');
    expect((await evicted).connectionId).toBe(first.id);
    expect(short(alerts)).toEqual(['up 0.25 @1']); // 1 → 0 → 1 in one step: no down, no second up
    await closeAll(t, [first, second]);
  });

  it('… nor where the count the eviction passes through is below the hysteresis', async () => {
    // Limit 10, T = 5, one level at 50 %: reached at 5, left below 4. At 4 live (band 1 kept
    // by the hysteresis) and idle, an admission evicts one (4 → 3 → 4): still 4, still band 1.
    const t = await startRulesServer({
      maxConnectionsPerUser: 10,
      evictionThreshold: 0.5,
      capacityLevels: [0.5],
    });
    const alerts = recordCapacity(t.supervisor);
    const clients: Client[] = [];
    for (let n = 0; n < 5; n += 1) clients.push(await t.open('ike'));
    const [leaving, ...held] = clients as [Client, ...Client[]];
    await leave(t, leaving);
    expect(t.supervisor.userStats('ike')).toMatchObject({ live: 4, band: 1 });
    t.clock.increment(t.supervisor.options.idleTimeoutMs);
    expect(t.supervisor.userStats('ike')).toMatchObject({ live: 4, idle: 4 });
    const evicted = nextEvent(t.supervisor, 'evicted');
    const newcomer = await t.open('ike');
    await evicted;
    expect(t.supervisor.userStats('ike')).toMatchObject({ live: 4, band: 1 });
    expect(short(alerts)).toEqual(['up 0.5 @5']);
    expect(t.supervisor.audit().mismatches).toEqual([]);
    await closeAll(t, [...held, newcomer]);
  });
});

describe('listeners see the books as they are after the event (issue 11, item 6)', () => {
  it('inside admitted, evicted, capacity and disposed', async () => {
    // Test preset: limit 5, T = 4; levels reached at 3, 4 and 5.
    const t = await startRulesServer();
    const { supervisor } = t;
    const seen: string[] = [];
    const problems: string[] = [];
    const check = (what: string, ok: boolean) => {
      if (!ok) problems.push(what);
    };
    supervisor.on('admitted', ({ connectionId, userId }) => {
      const book = supervisor.userStats(userId);
      seen.push(`admitted live=${book?.live}`);
      check(
        'admitted: counted',
        supervisor.stats().counters.admitted === seen.filter((s) => s.startsWith('admitted')).length,
      );
      check('admitted: registered', supervisor.connection(connectionId) !== undefined);
      check(
        'admitted: listed',
        supervisor.connectionsOf(userId).some((c) => c.id === connectionId),
      );
      const stats = supervisor.stats();
      check('admitted: totals', stats.connections === stats.counters.admitted - stats.counters.disposed);
    });
    supervisor.on('evicted', ({ connectionId, userId }) => {
      const book = supervisor.userStats(userId);
      seen.push(`evicted live=${book?.live} idle=${book?.idle} draining=${book?.draining}`);
      check('evicted: not listed', !supervisor.connectionsOf(userId).some((c) => c.id === connectionId));
      check('evicted: counted', supervisor.stats().counters.evicted >= 1);
    });
    supervisor.on('capacity', ({ userId, band, live }) => {
      const book = supervisor.userStats(userId);
      seen.push(`capacity band=${band} live=${live}`);
      check('capacity: band', book?.band === band && (book?.live ?? 0) === live);
      check(
        'capacity: usersByBand',
        (supervisor.stats().capacity.usersByBand[band] ?? 0) >= (live > 0 ? 1 : 0),
      );
      // After the supervisor's step: even the walk of every actor agrees with the books.
      check('capacity: audit', supervisor.audit().ok);
    });
    supervisor.on('disposed', ({ connectionId, userId }) => {
      const book = supervisor.userStats(userId);
      seen.push(`disposed live=${book?.live ?? 0} draining=${book?.draining ?? 0}`);
      check('disposed: unregistered', supervisor.connection(connectionId) === undefined);
      const stats = supervisor.stats();
      check('disposed: totals', stats.connections === stats.counters.admitted - stats.counters.disposed);
    });

    const clients: Client[] = [];
    for (let n = 0; n < 3; n += 1) clients.push(await t.open('ivy'));
    t.clock.increment(t.supervisor.options.idleTimeoutMs); // all three idle
    const evicted = nextEvent(supervisor, 'evicted');
    // Listen before the newcomer opens: the evicted client's close handshake runs
    // on another socket, and may end before the newcomer's 'open' reaches us.
    const disposed = nextEvent(supervisor, 'disposed');
    clients.push(await t.open('ivy')); // live would be 4 = T: the longest idle goes
    await evicted;
    await disposed;
    expect(seen).toEqual([
      'admitted live=1',
      'admitted live=2',
      'admitted live=3',
      'capacity band=1 live=3',
      // Eviction, then admission, in one step: the evicted one is already out of live and idle.
      'evicted live=2 idle=2 draining=1',
      'admitted live=3',
      'disposed live=3 draining=0',
    ]);
    expect(problems).toEqual([]);
    await closeAll(t, clients);
    expect(problems).toEqual([]);
  });
});

describe('the down alert of a user whose supervisor ends in the same step', () => {
  it('sees the supervisor gone, in the books and in audit()', async () => {
    // One connection reaches the level (ceil(0.2 × 5) = 1); with lingerMs 0 (test preset) the
    // step that disposes it also ends the user's supervisor.
    const t = await startRulesServer({ capacityLevels: [0.2] });
    const { supervisor } = t;
    const inside: Array<{ direction: string; userSupervisors: number; mismatches: string[] }> = [];
    supervisor.on('capacity', ({ direction }) => {
      inside.push({
        direction,
        userSupervisors: supervisor.stats().resources.userSupervisors,
        mismatches: supervisor.audit().mismatches,
      });
    });
    const client = await t.open('ivo');
    const disposed = nextEvent(supervisor, 'disposed', (event) => event.connectionId === client.id);
    client.ws.terminate(); // no close frame: active → disposed in one step, the last child
    await disposed;
    expect(inside).toEqual([
      { direction: 'up', userSupervisors: 1, mismatches: [] },
      { direction: 'down', userSupervisors: 0, mismatches: [] },
    ]);
    expectNoLeaks(supervisor);
  });
});

describe('the down alert of a shutdown that ends a connection still connecting', () => {
  it('sees it disposed, in the books and in audit()', async () => {
    // The app's server holds the handshake (its asynchronous verifyClient, two parameters,
    // never answers): the connection stays connecting. Shutdown's drain ends it at once, in
    // the step that drains the user.
    const webSocketServer = new WebSocketServer({
      noServer: true,
      maxPayload: 65_536,
      verifyClient: (_info, _answer) => {},
    });
    const clock = new SimulatedClock();
    const t = await startServer({ webSocketServer, clock, capacityLevels: [0.2] });
    const inside: Array<{ direction: string; byState: object; mismatches: string[] }> = [];
    t.supervisor.on('capacity', ({ direction }) => {
      const { byState } = t.supervisor.stats();
      inside.push({ direction, byState, mismatches: t.supervisor.audit().mismatches });
    });
    const refused = connectRefused(t.url('wes'));
    await vi.waitFor(() => expect(t.supervisor.stats().byState.connecting).toBe(1), ioWait);
    const done = t.supervisor.shutdown({ deadlineMs: 100 });
    clock.increment(100);
    await done;
    expect(inside).toEqual([
      { direction: 'up', byState: { connecting: 1, active: 0, draining: 0 }, mismatches: [] },
      { direction: 'down', byState: { connecting: 0, active: 0, draining: 0 }, mismatches: [] },
    ]);
    expect(await refused).toBe(503);
    expectNoLeaks(t.supervisor);
  });
});
