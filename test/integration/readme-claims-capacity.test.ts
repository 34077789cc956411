/**
 * README, "Capacity alerts": the claims the other capacity tests leave to the
 * defaults. A `capacityHysteresis` other than 0.1 (0, and one so large that
 * `max(1, …)` decides), the `down` of a connection leaving by a close
 * handshake coming as it starts draining (before its `disposed`, which waits
 * for the drain), and `usersByBand` summing to `users` with several users in
 * several bands. Real sockets; time is the SimulatedClock of startRulesServer.
 */
import { describe, expect, it, vi } from 'vitest';
import type { CapacityEvent, Supervisor, SupervisorEventName } from '../../src/index.js';
import { frame, rawWebSocket, readCloseFrame } from '../helpers/cleanup.js';
import {
  type Client,
  closeOf,
  nextEvent,
  type RulesServer,
  resumeReading,
  startRulesServer,
  stopReading,
} from '../helpers/rules.js';
import { allDisposed, expectNoLeaks, ioWait } from '../helpers/server.js';

function recordCapacity(supervisor: Supervisor): CapacityEvent[] {
  const events: CapacityEvent[] = [];
  supervisor.on('capacity', (event) => events.push(event));
  return events;
}

const short = (events: CapacityEvent[]) => events.map((e) => `${e.direction} ${e.level} @${e.live}`);

async function leave(t: RulesServer, client: Client): Promise<void> {
  const disposed = nextEvent(t.supervisor, 'disposed', (event) => event.connectionId === client.id);
  client.ws.close();
  await disposed;
}

async function closeAll(t: RulesServer, clients: Client[]): Promise<void> {
  for (const client of clients) client.ws.close();
  await allDisposed(t.supervisor);
  expectNoLeaks(t.supervisor);
}

describe('capacityHysteresis: down below max(1, min(ceil(L × limit), ceil((L − h) × limit)))', () => {
  it('0: a level is left as soon as the live count falls below it (limit 10, level 0.5: up at 5, down at 4)', async () => {
    const t = await startRulesServer({
      maxConnectionsPerUser: 10,
      evictionThreshold: 1,
      capacityLevels: [0.5],
      capacityHysteresis: 0,
    });
    const alerts = recordCapacity(t.supervisor);
    const clients: Client[] = [];
    for (let n = 0; n < 5; n += 1) clients.push(await t.open('hal'));
    expect(short(alerts)).toEqual(['up 0.5 @5']);
    await leave(t, clients.pop() as Client);
    expect(short(alerts)).toEqual(['up 0.5 @5', 'down 0.5 @4']);
    clients.push(await t.open('hal'));
    expect(short(alerts)).toEqual(['up 0.5 @5', 'down 0.5 @4', 'up 0.5 @5']);
    await closeAll(t, clients);
    expect(t.supervisor.stats().capacity).toMatchObject({ usersByBand: [0, 0], alerts: 4 });
  });

  it('larger than the level: never below one connection, so the level is left only at 0 (limit 5, level 0.2, h 0.5)', async () => {
    const t = await startRulesServer({ capacityLevels: [0.2], capacityHysteresis: 0.5 });
    const alerts = recordCapacity(t.supervisor);
    const first = await t.open('ivo');
    expect(short(alerts)).toEqual(['up 0.2 @1']);
    const second = await t.open('ivo');
    await leave(t, second);
    expect(short(alerts)).toEqual(['up 0.2 @1']); // 1 is not below max(1, ceil(-1.5)) = 1
    await leave(t, first);
    expect(short(alerts)).toEqual(['up 0.2 @1', 'down 0.2 @0']);
    expectNoLeaks(t.supervisor);
  });

  it('0.3 of a limit of 10 under level 0.5: left below 2, at 1 connection', async () => {
    const t = await startRulesServer({
      maxConnectionsPerUser: 10,
      evictionThreshold: 1,
      capacityLevels: [0.5],
      capacityHysteresis: 0.3,
    });
    const alerts = recordCapacity(t.supervisor);
    const clients: Client[] = [];
    for (let n = 0; n < 5; n += 1) clients.push(await t.open('joy'));
    for (let n = 0; n < 3; n += 1) await leave(t, clients.pop() as Client);
    expect(short(alerts)).toEqual(['up 0.5 @5']); // at 2: not yet
    await leave(t, clients.pop() as Client);
    expect(short(alerts)).toEqual(['up 0.5 @5', 'down 0.5 @1']);
    await closeAll(t, clients);
  });
});

describe('each product rounded to 12 significant digits before ceil', () => {
  it('level 0.28 of a limit of 25 (7.000000000000001 in floating point) is reached at 7, not 8', async () => {
    const t = await startRulesServer({
      maxConnectionsPerUser: 25,
      evictionThreshold: 1,
      capacityLevels: [0.28],
    });
    const alerts = recordCapacity(t.supervisor);
    const clients: Client[] = [];
    for (let n = 0; n < 7; n += 1) clients.push(await t.open('ned'));
    expect(short(alerts)).toEqual(['up 0.28 @7']);
    await closeAll(t, clients);
  });
});

describe('a connection leaving by a close handshake: its down comes as it starts draining, before its disposed', () => {
  // Level 0.2 of the test preset's limit 5 is reached at 1 connection and left at 0.
  it.each([
    ['the app closes it', (client: Client) => void client.handle.close(4000, 'bye')],
    [
      'disconnectUser',
      (client: Client, t: RulesServer) => void t.supervisor.disconnectUser(client.handle.userId),
    ],
  ] as const)(
    '%s; the client does not answer: down at once, disposed at drainTimeoutMs',
    async (_name, close) => {
      const t = await startRulesServer({ capacityLevels: [0.2] });
      const order: string[] = [];
      const names: SupervisorEventName[] = ['capacity', 'disposed'];
      for (const name of names) t.supervisor.on(name, () => order.push(name));
      const client = await t.open('kai');
      expect(order).toEqual(['capacity']);
      stopReading(client.ws);
      close(client, t);
      // Synchronously, as the close starts: the user holds no live connection any more.
      expect(order).toEqual(['capacity', 'capacity']);
      expect(t.supervisor.userStats('kai')).toMatchObject({ live: 0, draining: 1, band: 0 });
      t.clock.increment(t.supervisor.options.drainTimeoutMs - 1);
      expect(order).toEqual(['capacity', 'capacity']);
      t.clock.increment(1);
      expect(order).toEqual(['capacity', 'capacity', 'disposed']);
      const closing = closeOf(client.ws);
      resumeReading(client.ws);
      await closing;
      expectNoLeaks(t.supervisor);
    },
  );

  it("the peer's close frame, its TCP connection kept open: down at the close frame, disposed at drainTimeoutMs", async () => {
    const t = await startRulesServer({ capacityLevels: [0.2] });
    const order: string[] = [];
    t.supervisor.on('capacity', ({ direction }) => order.push(`capacity ${direction}`));
    t.supervisor.on('disposed', () => order.push('disposed'));
    const peer = await rawWebSocket(t.port, 'lux', { allowHalfOpen: true });
    await vi.waitFor(() => expect(order).toEqual(['capacity up']), ioWait);
    const answer = readCloseFrame(peer);
    peer.write(frame(0x8, Buffer.from([0x03, 0xe8]))); // close 1000, masked; the peer keeps its side open
    expect(await answer).toBe(1000);
    await vi.waitFor(() => expect(order).toEqual(['capacity up', 'capacity down']), ioWait);
    expect(t.supervisor.userStats('lux')).toMatchObject({ live: 0, draining: 1 });
    t.clock.increment(t.supervisor.options.drainTimeoutMs);
    await vi.waitFor(() => expect(order).toEqual(['capacity up', 'capacity down', 'disposed']), ioWait);
    expectNoLeaks(t.supervisor);
  });
});

describe('stats().capacity.usersByBand', () => {
  it('sums to stats().users, whatever band each user is in, draining connections not counted', async () => {
    // Test preset, limit 5: levels 0.5, 0.8, 0.9 reached at 3, 4 and 5.
    const t = await startRulesServer({ evictionThreshold: 1 });
    const clients: Client[] = [];
    const openMany = async (user: string, count: number) => {
      for (let n = 0; n < count; n += 1) clients.push(await t.open(user));
    };
    await openMany('u1', 1); // band 0
    await openMany('u2', 3); // band 1
    await openMany('u3', 4); // band 2
    await openMany('u4', 5); // band 3
    await openMany('u5', 5); // band 3
    const { capacity, users } = t.supervisor.stats();
    expect(capacity.usersByBand).toEqual([1, 1, 1, 2]);
    expect(capacity.usersByBand.reduce((a, b) => a + b, 0)).toBe(users);
    expect(users).toBe(5);
    expect(['u1', 'u2', 'u3', 'u4', 'u5'].map((u) => t.supervisor.userStats(u)?.band)).toEqual([
      0, 1, 2, 3, 3,
    ]);

    // u1's only connection drains: u1 holds no live connection, is in no band and no longer a user.
    const u1 = clients[0] as Client;
    stopReading(u1.ws);
    u1.handle.close();
    expect(t.supervisor.stats()).toMatchObject({ users: 4, capacity: { usersByBand: [0, 1, 1, 2] } });
    t.clock.increment(t.supervisor.options.drainTimeoutMs);
    resumeReading(u1.ws);
    await closeAll(t, clients);
    expect(t.supervisor.stats()).toMatchObject({ users: 0, capacity: { usersByBand: [0, 0, 0, 0] } });
  });
});

describe('a capacity event comes after the event that caused it', () => {
  it('an idle eviction at T, with no admission: evicted, then its down', async () => {
    // Test preset: limit 5, T = 4; level 0.8 is reached at 4 and left below ceil(0.7 × 5) = 4.
    const t = await startRulesServer({ capacityLevels: [0.8] });
    const order: string[] = [];
    t.supervisor.on('evicted', ({ cause }) => order.push(`evicted ${cause}`));
    t.supervisor.on('capacity', ({ direction, live }) => order.push(`capacity ${direction} @${live}`));
    const clients: Client[] = [];
    for (let n = 0; n < 4; n += 1) {
      if (n > 0) t.clock.increment(1);
      clients.push(await t.open('max'));
    }
    expect(order).toEqual(['capacity up @4']);
    t.clock.increment(t.supervisor.options.idleTimeoutMs); // the first turns idle at n = T: it goes
    expect(order).toEqual(['capacity up @4', 'evicted idle', 'capacity down @3']);
    await closeAll(t, clients);
  });
});
