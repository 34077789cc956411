/**
 * Plan tiers: `authenticate` returns `{ userId, maxConnectionsPerUser }`, and
 * each user is held to its own limit (README, "The rules"), on real sockets
 * and simulated time. The option (the test preset's 5, T = 4) is the limit
 * of a user without one. Free: 3 (T = 3); Pro: 20 (T = 14).
 *
 * - each admission is decided against its own limit, and a refusal names it;
 * - the user's limit is its latest admission's: a downgrade keeps every
 *   active connection and refuses the next, an upgrade admits at once, and
 *   idle ones go at the new T;
 * - idle eviction, stats, capacity levels and the dashboard's rows are per user;
 * - a value out of the option's range is the app's mistake (500, reported).
 */
import { once } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { SimulatedClock } from 'xstate';
import { statsView } from '../../src/dashboard/activity.js';
import { AppHookError, type CapacityEvent, type UserStats } from '../../src/index.js';
import { MemoryBook } from '../helpers/memory-slot-store.js';
import {
  type Client,
  evictAt,
  idleTimeoutMs,
  limit,
  type RulesServer,
  refusal,
  startRulesServer,
  touch,
} from '../helpers/rules.js';
import { allDisposed, expectNoLeaks, ioWait, userFromQuery } from '../helpers/server.js';

const FREE = 3;
const PRO = 20;

/** A server whose users' limits are `plans` says (the app's plan lookup), or the option's. */
async function startPlansServer(plans: Map<string, unknown>, options: { refuse?: 'close' } = {}) {
  return startRulesServer({
    ...options,
    authenticate: (request) => {
      const userId = userFromQuery(request);
      if (userId === null) return null;
      if (!plans.has(userId)) return userId;
      return { userId, maxConnectionsPerUser: plans.get(userId) as number };
    },
  });
}

async function openMany(t: RulesServer, user: string, count: number): Promise<Client[]> {
  const clients: Client[] = [];
  for (let i = 0; i < count; i++) clients.push(await t.open(user));
  return clients;
}

async function closeAll(t: RulesServer, clients: Client[]): Promise<void> {
  for (const { ws } of clients) ws.close();
  await allDisposed(t.supervisor);
  expectNoLeaks(t.supervisor);
}

/**
 * Cluster mode on an in-memory book (node-0) with each user's plan limit from `plans`, on a
 * SimulatedClock; resolves once its lease is held.
 */
async function startClusterPlansServer(plans: Map<string, unknown>) {
  const clock = new SimulatedClock();
  const book = new MemoryBook(() => clock.now());
  const t = await startRulesServer({
    clock,
    cluster: { store: book.store('node-0', 30_000), nodeId: 'node-0' },
    authenticate: (request) => {
      const userId = userFromQuery(request);
      if (userId === null) return null;
      return { userId, maxConnectionsPerUser: plans.get(userId) as number };
    },
  });
  await vi.waitFor(() => expect(t.supervisor.stats().cluster?.leaseHeld).toBe(true), ioWait);
  return { t, clock };
}

describe('a per-user limit from authenticate', () => {
  it('holds free users to 3, pro users to 20 and the rest to the option, in one supervisor', async () => {
    const t = await startPlansServer(
      new Map([
        ['fay', FREE],
        ['pia', PRO],
      ]),
    );
    const clients = [
      ...(await openMany(t, 'fay', FREE)),
      ...(await openMany(t, 'pia', PRO)),
      ...(await openMany(t, 'dan', limit)),
    ];
    expect(await refusal(t.url('fay'))).toEqual({
      status: 429,
      body: 'user has reached the maximum number of connections (3)\n',
    });
    expect(await refusal(t.url('pia'))).toEqual({
      status: 429,
      body: 'user has reached the maximum number of connections (20)\n',
    });
    expect(await refusal(t.url('dan'))).toEqual({
      status: 429,
      body: 'user has reached the maximum number of connections (5)\n',
    });
    expect(t.events.rejected).toMatchObject([
      { reason: 'user-limit', userId: 'fay', live: 3, limit: 3 },
      { reason: 'user-limit', userId: 'pia', live: 20, limit: 20 },
      { reason: 'user-limit', userId: 'dan', live: 5, limit: 5 },
    ]);
    expect(t.supervisor.userStats('fay')).toMatchObject({ live: 3, limit: 3, evictAt: 3 });
    expect(t.supervisor.userStats('pia')).toMatchObject({ live: 20, limit: 20, evictAt: 14 });
    expect(t.supervisor.userStats('dan')).toMatchObject({ live: 5, limit, evictAt });
    const { perUser } = t.supervisor.stats({ perUser: true });
    expect(perUser).toMatchObject({
      fay: { limit: 3, evictAt: 3 },
      pia: { limit: 20, evictAt: 14 },
      dan: { limit: 5, evictAt: 4 },
    });
    // audit() reads each user's band against its own limit, and the limit against its supervisor's.
    expect(t.supervisor.audit().mismatches).toEqual([]);
    expect(t.errors).toEqual([]);
    await closeAll(t, clients);
  });

  it('evicts idle connections at each user’s own point', async () => {
    const t = await startPlansServer(
      new Map([
        ['fay', FREE],
        ['pia', PRO],
      ]),
    );
    const clients = [
      ...(await openMany(t, 'fay', 2)),
      ...(await openMany(t, 'dan', 3)),
      ...(await openMany(t, 'pia', 3)),
    ];
    t.clock.increment(idleTimeoutMs); // all idle, each user below its own T: none goes
    expect(t.events.evicted).toEqual([]);
    // One more each: n + 1 = T for fay (3) and dan (4), not for pia (T 14).
    clients.push(await t.open('fay'), await t.open('dan'), await t.open('pia'));
    expect(t.events.evicted.map((event) => event.userId).sort()).toEqual(['dan', 'fay']);
    expect(t.supervisor.userStats('fay')).toMatchObject({ live: 2, idle: 1 });
    expect(t.supervisor.userStats('dan')).toMatchObject({ live: 3, idle: 2 });
    expect(t.supervisor.userStats('pia')).toMatchObject({ live: 4, idle: 3 });
    await closeAll(t, clients);
  });

  it('a downgrade (20 → 3) keeps the 5 active connections and refuses the next; an upgrade admits at once', async () => {
    const plans = new Map<string, unknown>([['pia', PRO]]);
    const t = await startPlansServer(plans);
    const clients = await openMany(t, 'pia', 5);
    plans.set('pia', FREE);
    expect(await refusal(t.url('pia'))).toEqual({
      status: 429,
      body: 'user has reached the maximum number of connections (3)\n',
    });
    expect(t.events.rejected).toMatchObject([{ reason: 'user-limit', live: 5, limit: 3 }]);
    // Never closed by a lower limit: all five still open, and usable.
    for (const { ws } of clients) await touch(ws);
    expect(clients.every(({ ws }) => ws.readyState === WebSocket.OPEN)).toBe(true);
    expect(t.events.evicted).toEqual([]);
    expect(t.supervisor.userStats('pia')).toMatchObject({ live: 5, limit: 3, evictAt: 3 });
    plans.set('pia', PRO);
    clients.push(await t.open('pia'));
    expect(t.supervisor.userStats('pia')).toMatchObject({ live: 6, limit: 20, evictAt: 14 });
    await closeAll(t, clients);
  });

  it('after a downgrade, idle connections go at the new eviction point, at the next admission', async () => {
    const plans = new Map<string, unknown>([['pia', PRO]]);
    const t = await startPlansServer(plans);
    const clients = await openMany(t, 'pia', 5);
    t.clock.increment(idleTimeoutMs); // five idle: 5 < 14 keeps them
    expect(t.supervisor.userStats('pia')).toMatchObject({ live: 5, idle: 5 });
    plans.set('pia', FREE);
    clients.push(await t.open('pia')); // 0 active < 3: admitted; n must drop below T 3
    expect(t.events.evicted).toHaveLength(4);
    expect(t.events.evicted.map((event) => event.connectionId)).toEqual(clients.slice(0, 4).map((c) => c.id));
    expect(t.supervisor.userStats('pia')).toMatchObject({ live: 2, idle: 1, limit: 3, evictAt: 3 });
    await closeAll(t, clients);
  });

  it.each([
    [0, '0'],
    [1.5, '1.5'],
    ['3', '"3"'],
    [100_001, '100001'],
    [Number.NaN, 'NaN'],
  ])('refuses %s with 500 auth-failed and reports it, allocating nothing', async (value, shown) => {
    const t = await startPlansServer(new Map([['bad', value]]));
    expect(await refusal(t.url('bad'))).toEqual({ status: 500, body: 'authentication failed\n' });
    expect(t.events.rejected).toMatchObject([{ reason: 'auth-failed', userId: 'bad', status: 500 }]);
    expect(t.errors).toHaveLength(1);
    const error = t.errors[0] as AppHookError;
    expect(error).toBeInstanceOf(AppHookError);
    expect(error).toMatchObject({ code: 'WSSUP_APP_HOOK_FAILED', hook: 'authenticate' });
    expect(error.cause).toBeInstanceOf(TypeError);
    const { message } = error.cause as TypeError;
    expect(message).toContain(`maxConnectionsPerUser ${shown}`);
    expect(message).toContain('an integer from 1 to 100000');
    expect(t.supervisor.stats().counters.admitted).toBe(0);
    expect(t.supervisor.stats({ perUser: true }).perUser).toEqual({});
    t.errors.length = 0;
    expectNoLeaks(t.supervisor);
  });

  it("with refuse: 'close', a bad value is closed with 4500", async () => {
    const t = await startPlansServer(new Map([['bad', 0]]), { refuse: 'close' });
    const ws = new WebSocket(t.url('bad'));
    const [code] = (await once(ws, 'close')) as [number, Buffer];
    expect(code).toBe(4500);
    expect(t.events.rejected).toMatchObject([{ reason: 'auth-failed', via: 'close' }]);
    expect(t.errors).toMatchObject([{ code: 'WSSUP_APP_HOOK_FAILED' }]);
    t.errors.length = 0;
    // The refusal's socket is held until the client's close comes back.
    await vi.waitFor(() => expect(t.supervisor.stats().resources.closeRefusals).toBe(0), ioWait);
    expectNoLeaks(t.supervisor);
  });

  it('undefined is the option’s limit', async () => {
    const t = await startPlansServer(new Map([['dan', undefined]]));
    const clients = await openMany(t, 'dan', limit);
    expect((await refusal(t.url('dan'))).status).toBe(429);
    expect(t.events.rejected).toMatchObject([{ limit }]);
    expect(t.errors).toEqual([]);
    await closeAll(t, clients);
  });

  it('capacity levels are fractions of the user’s limit, and a plan change re-reads the user’s band', async () => {
    const plans = new Map<string, unknown>([
      ['fay', FREE],
      ['pia', PRO],
    ]);
    const t = await startPlansServer(plans);
    const alerts: CapacityEvent[] = [];
    t.supervisor.on('capacity', (event) => alerts.push(event));
    const short = () => alerts.map((e) => `${e.userId} ${e.direction} ${e.level} @${e.live}/${e.limit}`);
    // Free (3): 50 % at 2, 80 % and 90 % at 3.
    const clients = await openMany(t, 'fay', 3);
    expect(short()).toEqual(['fay up 0.5 @2/3', 'fay up 0.8 @3/3', 'fay up 0.9 @3/3']);
    // Pro (20): 5 is below 50 % (10).
    clients.push(...(await openMany(t, 'pia', 5)));
    expect(short()).toHaveLength(3);
    expect(t.supervisor.userStats('pia')).toMatchObject({ band: 0 });
    // Downgraded to 3 while holding 5: at every level of the new limit (the refusal says so).
    plans.set('pia', FREE);
    expect((await refusal(t.url('pia'))).status).toBe(429);
    expect(short().slice(3)).toEqual(['pia up 0.5 @5/3', 'pia up 0.8 @5/3', 'pia up 0.9 @5/3']);
    expect(t.supervisor.userStats('pia')).toMatchObject({ band: 3 });
    expect(t.supervisor.stats().capacity.usersByBand).toEqual([0, 0, 0, 2]);
    expect(t.supervisor.audit().mismatches).toEqual([]);
    await closeAll(t, clients);
  });

  it('the upgrade that carries a plan change comes before the capacity events it causes: rejected, then up; admitted, then down', async () => {
    // README, "Capacity alerts": the causing event comes first, a refused upgrade's too.
    const plans = new Map<string, unknown>([['ivy', 10]]);
    const t = await startPlansServer(plans);
    const order: string[] = [];
    t.supervisor.on('admitted', ({ userId }) => order.push(`admitted ${userId}`));
    t.supervisor.on('rejected', ({ userId, limit }) => order.push(`rejected ${userId} ${limit}`));
    t.supervisor.on('capacity', (e) => order.push(`${e.direction} ${e.level} @${e.live}/${e.limit}`));
    // 10: 50 % at 5, so 6 live are in band 1.
    const clients = await openMany(t, 'ivy', 6);
    order.length = 0;
    // Downgraded to 3 while holding 6: refused, and 6 is at every level of 3.
    plans.set('ivy', FREE);
    expect((await refusal(t.url('ivy'))).status).toBe(429);
    expect(order).toEqual(['rejected ivy 3', 'up 0.8 @6/3', 'up 0.9 @6/3']);
    // Upgraded to 20: admitted, and 7 is below every level of 20 (50 % at 10).
    order.length = 0;
    plans.set('ivy', PRO);
    clients.push(await t.open('ivy'));
    expect(order).toEqual(['admitted ivy', 'down 0.9 @7/20', 'down 0.8 @7/20', 'down 0.5 @7/20']);
    expect(t.supervisor.audit().mismatches).toEqual([]);
    await closeAll(t, clients);
  });

  it('a rejected listener that disconnects the user: the refused upgrade’s capacity events, then those of the disconnect, none lost', async () => {
    // The refused upgrade's own step holds its events for its `rejected`; a step the
    // listener takes there is the user's next: what was held comes out first, then its own.
    const plans = new Map<string, unknown>([['ada', 10]]);
    const t = await startPlansServer(plans);
    const order: string[] = [];
    const audits: string[][] = [];
    t.supervisor.on('rejected', ({ userId, limit }) => {
      order.push(`rejected ${userId} ${limit}`);
      if (userId !== 'ada') return;
      audits.push(t.supervisor.audit().mismatches);
      t.supervisor.disconnectUser(userId);
      audits.push(t.supervisor.audit().mismatches);
    });
    t.supervisor.on('capacity', (e) => order.push(`${e.direction} ${e.level} @${e.live}/${e.limit}`));
    const clients = await openMany(t, 'ada', 6);
    order.length = 0;
    const alertsBefore = t.supervisor.stats().capacity.alerts;
    plans.set('ada', FREE);
    expect((await refusal(t.url('ada'))).status).toBe(429);
    expect(order).toEqual([
      'rejected ada 3',
      'up 0.8 @6/3',
      'up 0.9 @6/3',
      expect.stringMatching(/^down 0\.9 @\d\/3$/),
      expect.stringMatching(/^down 0\.8 @\d\/3$/),
      expect.stringMatching(/^down 0\.5 @\d\/3$/),
    ]);
    expect(t.supervisor.stats().capacity.alerts - alertsBefore).toBe(5);
    // Inside the listener the books agree with the actors: before the disconnect and after.
    expect(audits).toEqual([[], []]);
    await closeAll(t, clients);
  });

  it('a capacity listener that disconnects the user on the first up: the rest of the batch, then the disconnect’s events, in order (review)', async () => {
    // Events a listener's own step causes join the end of the line: never in the middle of
    // the batch being told, which would then end with an `up` of a user already gone.
    const plans = new Map<string, unknown>([['ada', 10]]);
    const t = await startPlansServer(plans);
    const order: string[] = [];
    t.supervisor.on('rejected', ({ userId, limit }) => order.push(`rejected ${userId} ${limit}`));
    t.supervisor.on('capacity', (e) => {
      order.push(`${e.direction} ${e.level} band ${e.band}`);
      if (e.direction === 'up' && e.level === 0.8) t.supervisor.disconnectUser(e.userId);
    });
    const clients = await openMany(t, 'ada', 6);
    order.length = 0;
    const alertsBefore = t.supervisor.stats().capacity.alerts;
    plans.set('ada', FREE);
    expect((await refusal(t.url('ada'))).status).toBe(429);
    expect(order).toEqual([
      'rejected ada 3',
      'up 0.8 band 3',
      'up 0.9 band 3',
      'down 0.9 band 1', // 0.9 and 0.8 of 3 share a count: both carry the band after both
      'down 0.8 band 1',
      'down 0.5 band 0',
    ]);
    expect(t.supervisor.stats().capacity.alerts - alertsBefore).toBe(5);
    await closeAll(t, clients);
  });

  it('in cluster mode, a refusal by the cluster-wide book leaves the user’s limit here as it was, until the book admits one', async () => {
    const plans = new Map<string, unknown>([['pia', PRO]]);
    const { t, clock } = await startClusterPlansServer(plans);
    const clients = await openMany(t, 'pia', 5);
    plans.set('pia', FREE);
    // The book refuses (5 ≥ 3) before the machines here see the admission: the refusal names
    // the admission's limit, and the user's limit here is still its last admitted one.
    expect((await refusal(t.url('pia'))).status).toBe(429);
    expect(t.events.rejected).toMatchObject([{ reason: 'user-limit', live: 5, limit: FREE }]);
    expect(t.supervisor.userStats('pia')).toMatchObject({ live: 5, limit: PRO, evictAt: 14, band: 0 });
    clock.increment(idleTimeoutMs); // five idle: 5 < 14 keeps them here
    expect(t.events.evicted).toEqual([]);
    // The next admission: the book evicts idle ones at its T (3) and admits; then the limit is the user's.
    clients.push(await t.open('pia'));
    await vi.waitFor(() => expect(t.events.evicted).toHaveLength(4), ioWait);
    expect(t.supervisor.userStats('pia')).toMatchObject({ live: 2, limit: FREE, evictAt: 3 });
    expect(t.supervisor.audit().mismatches).toEqual([]);
    await closeAll(t, clients);
  });

  it('in cluster mode, the upgrade the book admitted goes the same way: admitted, then the capacity events its plan limit causes', async () => {
    const plans = new Map<string, unknown>([['quin', 10]]);
    const { t } = await startClusterPlansServer(plans);
    const order: string[] = [];
    t.supervisor.on('admitted', ({ userId }) => order.push(`admitted ${userId}`));
    t.supervisor.on('capacity', (e) => order.push(`${e.direction} ${e.level} @${e.live}/${e.limit}`));
    const clients = await openMany(t, 'quin', 6);
    order.length = 0;
    plans.set('quin', PRO);
    clients.push(await t.open('quin'));
    expect(order).toEqual(['admitted quin', 'down 0.5 @7/20']);
    expect(t.supervisor.audit().mismatches).toEqual([]);
    await closeAll(t, clients);
  });

  it('the dashboard draws each user against its own limit and eviction point', async () => {
    const t = await startPlansServer(
      new Map([
        ['fay', FREE],
        ['pia', PRO],
      ]),
    );
    const clients = [...(await openMany(t, 'fay', 1)), ...(await openMany(t, 'pia', 1))];
    const books = ['fay', 'pia'].map((user) => t.supervisor.userStats(user) as UserStats);
    const view = statsView(t.supervisor, books, 10);
    expect(view.perUser).toEqual([
      { userId: 'fay', live: 1, idle: 0, draining: 0, limit: 3, evictAt: 3 },
      { userId: 'pia', live: 1, idle: 0, draining: 0, limit: 20, evictAt: 14 },
    ]);
    // The header still says the option's.
    expect(view).toMatchObject({ limit, evictAt });
    await closeAll(t, clients);
  });
});
