/**
 * `atLimit: 'replace-oldest'` ("newest login wins"): at the user's limit a newcomer evicts the
 * user's oldest connection (4001 `evicted: replaced`) instead of being refused, but only once
 * every other check has passed. Real servers on port 0, raw `ws` peers (two devices: no client
 * instance in common), and a real ws-supervisor/client for the "does not come back" rule.
 */
import { describe, expect, it } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';
import { SimulatedClock } from 'xstate';
import type {
  AppHookError,
  AtLimitPolicy,
  EvictedEvent,
  RejectedEvent,
  SupervisorOptions,
} from '../../src/index.js';
import { startClient } from '../client/helpers.js';
import { MemoryBook } from '../helpers/memory-slot-store.js';
import {
  closed,
  connect,
  connectRefused,
  expectNoLeaks,
  ioWait,
  nextMessage,
  startServer,
  type TestServer,
  userFromQuery,
} from '../helpers/server.js';

function record(t: TestServer) {
  const evicted: EvictedEvent[] = [];
  const rejected: RejectedEvent[] = [];
  t.supervisor.on('evicted', (event) => evicted.push(event));
  t.supervisor.on('rejected', (event) => rejected.push(event));
  return { evicted, rejected };
}

/** The connection ids of `user`, in the order they were admitted. */
const idsOf = (t: TestServer, user: string) => t.supervisor.connectionsOf(user).map((c) => c.id);

async function closeAll(t: TestServer, sockets: readonly WebSocket[]) {
  for (const ws of sockets) ws.close();
  await expect.poll(() => t.supervisor.stats().connections).toBe(0);
  expectNoLeaks(t.supervisor);
}

describe("atLimit: 'replace-oldest'", () => {
  it('limit 1: device B is admitted, device A is evicted with 4001 evicted: replaced', async () => {
    const t = await startServer({ maxConnectionsPerUser: 1, atLimit: 'replace-oldest' });
    const { evicted, rejected } = record(t);
    const a = await connect(t.url('ann'));
    const [aId] = idsOf(t, 'ann');
    const aClosed = closed(a);

    const b = await connect(t.url('ann'));

    expect(rejected).toEqual([]);
    expect(evicted).toEqual([{ connectionId: aId, userId: 'ann', cause: 'replaced' }]);
    expect(await aClosed).toEqual({ code: 4001, reason: 'evicted: replaced' });
    expect(t.supervisor.userStats('ann')).toMatchObject({ live: 1 });
    // B is a connection like any other: it echoes.
    const echoed = nextMessage(b);
    b.send('hi');
    expect(await echoed).toBe('hi');
    await closeAll(t, [a, b]);
  });

  it('limit 3 with 3 active: the oldest (longest admitted) is replaced, the others stay', async () => {
    const t = await startServer({ maxConnectionsPerUser: 3, atLimit: 'replace-oldest' });
    const { evicted, rejected } = record(t);
    const sockets = [await connect(t.url('bob')), await connect(t.url('bob')), await connect(t.url('bob'))];
    const [oldest, second, third] = idsOf(t, 'bob');
    const oldestClosed = closed(sockets[0] as WebSocket);

    const fourth = await connect(t.url('bob'));

    expect(rejected).toEqual([]);
    expect(evicted).toEqual([{ connectionId: oldest, userId: 'bob', cause: 'replaced' }]);
    expect((await oldestClosed).reason).toBe('evicted: replaced');
    expect(idsOf(t, 'bob').slice(0, 2)).toEqual([second, third]);
    expect(t.supervisor.userStats('bob')).toMatchObject({ live: 3 });
    // Then the next oldest, the second.
    const secondClosed = closed(sockets[1] as WebSocket);
    const fifth = await connect(t.url('bob'));
    expect(evicted.map((event) => [event.connectionId, event.cause])).toEqual([
      [oldest, 'replaced'],
      [second, 'replaced'],
    ]);
    expect((await secondClosed).code).toBe(4001);
    await closeAll(t, [...sockets, fourth, fifth]);
  });

  // At the limit no child is idle (n ≥ T: idle ones are evicted as they turn idle), so idle
  // ones meet a replacement only when the ADMIT lowers the user's limit (a plan downgrade).
  describe('with idle connections (a plan downgrade: authenticate returns a lower limit)', () => {
    async function startPlans() {
      const clock = new SimulatedClock();
      const t = await startServer({
        clock,
        atLimit: 'replace-oldest',
        heartbeatIntervalMs: 1_000_000_000,
        authenticate: (request) => {
          const query = new URL(request.url ?? '/', 'http://x').searchParams;
          const limit = query.get('limit');
          return {
            userId: query.get('user') ?? '',
            maxConnectionsPerUser: limit === null ? undefined : Number(limit),
          };
        },
      });
      return { t, clock, ...record(t) };
    }

    it('idle ones go first at T, and the oldest active one only if still at the limit', async () => {
      const { t, clock, evicted, rejected } = await startPlans();
      // Test preset: limit 5, T = 4. A and B stay active, C goes idle (3 live < T: it stays).
      const a = await connect(t.url('cy'));
      const b = await connect(t.url('cy'));
      const c = await connect(t.url('cy'));
      const [aId, bId, cId] = idsOf(t, 'cy');
      clock.increment(t.supervisor.options.idleTimeoutMs - 1);
      for (const ws of [a, b]) {
        const echoed = nextMessage(ws);
        ws.send('active');
        await echoed;
      }
      clock.increment(1);
      await expect.poll(() => t.supervisor.userStats('cy')?.idle).toBe(1);
      const [aClosed, cClosed] = [closed(a), closed(c)];

      // Limit 2 (T = 2): C goes as idle, then A, the oldest, so that the newcomer fits.
      const d = await connect(`${t.url('cy')}&limit=2`);

      expect(rejected).toEqual([]);
      expect(evicted).toEqual([
        { connectionId: cId, userId: 'cy', cause: 'idle' },
        { connectionId: aId, userId: 'cy', cause: 'replaced' },
      ]);
      expect((await cClosed).reason).toBe('evicted: idle');
      expect((await aClosed).reason).toBe('evicted: replaced');
      expect(idsOf(t, 'cy')[0]).toBe(bId);
      expect(t.supervisor.userStats('cy')).toMatchObject({ live: 2, limit: 2 });
      await closeAll(t, [a, b, c, d]);
    });

    it('when evicting idle ones makes room, no active one is replaced', async () => {
      const { t, clock, evicted, rejected } = await startPlans();
      const a = await connect(t.url('dot'));
      const b = await connect(t.url('dot'));
      const [, bId] = idsOf(t, 'dot');
      clock.increment(t.supervisor.options.idleTimeoutMs - 1);
      const echoed = nextMessage(a);
      a.send('active');
      await echoed;
      clock.increment(1);
      await expect.poll(() => t.supervisor.userStats('dot')?.idle).toBe(1);

      // Limit 2 (T = 2): B goes as idle, and A stays.
      const c = await connect(`${t.url('dot')}&limit=2`);

      expect(rejected).toEqual([]);
      expect(evicted).toEqual([{ connectionId: bId, userId: 'dot', cause: 'idle' }]);
      expect(a.readyState).toBe(a.OPEN);
      expect(t.supervisor.userStats('dot')).toMatchObject({ live: 2, idle: 0 });
      await closeAll(t, [a, b, c]);
    });
  });

  it('a newcomer refused by the admission rate replaces nothing: the old session stays', async () => {
    const t = await startServer({
      maxConnectionsPerUser: 1,
      atLimit: 'replace-oldest',
      admissionRate: { perSecond: 0.001, burst: 1 },
    });
    const { evicted, rejected } = record(t);
    const a = await connect(t.url('dee'));

    expect(await connectRefused(t.url('dee'))).toBe(429);

    expect(rejected.map((event) => event.reason)).toEqual(['rate-limited']);
    expect(evicted).toEqual([]);
    expect(a.readyState).toBe(a.OPEN);
    expect(t.supervisor.userStats('dee')).toMatchObject({ live: 1 });
    const echoed = nextMessage(a);
    a.send('still mine');
    expect(await echoed).toBe('still mine');
    await closeAll(t, [a]);
  });

  it('a newcomer refused by the process-wide limit replaces nothing either', async () => {
    const t = await startServer({ maxConnectionsPerUser: 1, atLimit: 'replace-oldest', maxConnections: 1 });
    const { evicted } = record(t);
    const a = await connect(t.url('eve'));
    expect(await connectRefused(t.url('eve'))).toBe(503);
    expect(evicted).toEqual([]);
    expect(t.supervisor.userStats('eve')).toMatchObject({ live: 1 });
    await closeAll(t, [a]);
  });

  it("ws-supervisor/client, when replaced, does not reconnect: it waits for resume() (next 'wait-for-resume')", async () => {
    const t = await startServer({ maxConnectionsPerUser: 1, atLimit: 'replace-oldest' });
    const { evicted } = record(t);
    const c = startClient({ url: t.url('fay') });
    await c.next('open', 0);
    await expect.poll(() => t.supervisor.userStats('fay')?.live).toBe(1);
    const from = c.mark();

    const other = await connect(t.url('fay'));

    const close = await c.next('close', from);
    expect(close).toMatchObject({
      code: 4001,
      reason: 'evicted: replaced',
      kind: 'evicted',
      next: 'wait-for-resume',
    });
    expect(c.client.state).toBe('suspended');
    // Nothing scheduled: no backoff, however long the clock runs.
    c.simulated.increment(10 * 60_000);
    expect(c.events.slice(from).some(([type]) => type === 'reconnecting' || type === 'open')).toBe(false);
    expect(evicted.map((event) => event.cause)).toEqual(['replaced']);
    expect(t.supervisor.userStats('fay')).toMatchObject({ live: 1 });
    c.client.close();
    await closeAll(t, [other]);
  });

  // A connection replaced while still in its handshake (here an app's server whose
  // handleUpgrade defers it) is told so: its client waits for resume() as after 4001
  // `evicted: replaced`, instead of backing off and replacing the newer login ~5 s later.
  describe('a connection replaced while still in its handshake', () => {
    /** A noServer WebSocketServer that completes handshakes of URLs with `slow` 200 ms late. */
    function slowServer() {
      const wss = new WebSocketServer({ noServer: true, maxPayload: 65_536 });
      const complete = wss.handleUpgrade.bind(wss);
      wss.handleUpgrade = (request, socket, head, callback) => {
        const late = request.url?.includes('slow') === true;
        if (late) setTimeout(() => complete(request, socket, head, callback), 200);
        else complete(request, socket, head, callback);
      };
      return wss;
    }

    it.each([
      // Under Node the 403 `evicted: replaced` reads as the close after the handshake (4001), not
      // as 4403 (which an app answers with a new token and resume(): the loop replacing prevents).
      ['http' as const, { code: 4001, reason: 'evicted: replaced', kind: 'evicted' }],
      ['close' as const, { code: 4001, reason: 'evicted: replaced', kind: 'evicted' }],
    ])('refuse: %s: its client does not come back (next wait-for-resume)', async (refuse, told) => {
      const t = await startServer({
        maxConnectionsPerUser: 1,
        atLimit: 'replace-oldest',
        webSocketServer: slowServer(),
        refuse,
      });
      const { evicted } = record(t);
      const c = startClient({ url: `${t.url('hal')}&slow=1` });
      await expect.poll(() => t.supervisor.userStats('hal')?.live).toBe(1);
      const from = c.mark();

      const other = await connect(t.url('hal'));

      const close = await c.next('close', from);
      expect(close).toMatchObject({ ...told, next: 'wait-for-resume' });
      expect(evicted.map((event) => event.cause)).toEqual(['replaced']);
      expect(c.client.state).toBe('suspended');
      // Nothing scheduled after that close (a close-frame refusal opened first): no backoff.
      const after = c.mark();
      c.simulated.increment(10 * 60_000);
      expect(c.events.slice(after).some(([type]) => type === 'reconnecting' || type === 'open')).toBe(false);
      expect(t.supervisor.userStats('hal')).toMatchObject({ live: 1 });
      c.client.close();
      await closeAll(t, [other]);
    });
  });

  it("'refuse' (the default) is unchanged: the newcomer gets 429 and the old one stays", async () => {
    const t = await startServer({ maxConnectionsPerUser: 1 });
    expect(t.supervisor.options.atLimit).toBe('refuse');
    const { evicted, rejected } = record(t);
    const a = await connect(t.url('gus'));
    expect(await connectRefused(t.url('gus'))).toBe(429);
    expect(rejected.map((event) => event.reason)).toEqual(['user-limit']);
    expect(evicted).toEqual([]);
    expect(t.supervisor.userStats('gus')).toMatchObject({ live: 1 });
    await closeAll(t, [a]);
  });
});

describe("authenticate's atLimit: the policy of one admission", () => {
  /** authenticate gives each user `policies.get(user)` as its atLimit (limit 1 for all). */
  async function startPolicies(policies: Map<string, unknown>, options: Partial<SupervisorOptions> = {}) {
    const t = await startServer({
      maxConnectionsPerUser: 1,
      authenticate: (request) => {
        const userId = userFromQuery(request);
        if (userId === null) return null;
        return { userId, atLimit: policies.get(userId) as AtLimitPolicy | undefined };
      },
      ...options,
    });
    return { t, ...record(t) };
  }

  it("'replace-oldest' for one user replaces under an atLimit 'refuse' supervisor; the others are refused", async () => {
    const { t, evicted, rejected } = await startPolicies(new Map([['gamer', 'replace-oldest']]));
    const gamer = await connect(t.url('gamer'));
    const other = await connect(t.url('other'));
    const gamerClosed = closed(gamer);
    const again = await connect(t.url('gamer'));
    expect((await gamerClosed).reason).toBe('evicted: replaced');
    expect(evicted.map((event) => [event.userId, event.cause])).toEqual([['gamer', 'replaced']]);
    expect(await connectRefused(t.url('other'))).toBe(429);
    expect(rejected.map((event) => [event.userId, event.reason])).toEqual([['other', 'user-limit']]);
    await closeAll(t, [gamer, other, again]);
  });

  it("'refuse' for one user refuses under an atLimit 'replace-oldest' supervisor", async () => {
    const { t, evicted } = await startPolicies(new Map([['careful', 'refuse']]), {
      atLimit: 'replace-oldest',
    });
    const first = await connect(t.url('careful'));
    expect(await connectRefused(t.url('careful'))).toBe(429);
    expect(evicted).toEqual([]);
    await closeAll(t, [first]);
  });

  it.each([
    ['replace', '"replace"', "(did you mean 'replace-oldest'?)"],
    ['newest', '"newest"', "'refuse' or 'replace-oldest'"],
    [true, 'true', "'refuse' or 'replace-oldest'"],
  ])(
    'a bad value (%s) refuses the upgrade with 500 auth-failed, reports it, and replaces nothing',
    async (value, shown, says) => {
      const policies = new Map<string, unknown>([['bad', 'refuse']]);
      const { t, evicted, rejected } = await startPolicies(policies);
      const first = await connect(t.url('bad'));
      policies.set('bad', value);
      expect(await connectRefused(t.url('bad'))).toBe(500);
      expect(rejected).toMatchObject([{ reason: 'auth-failed', userId: 'bad' }]);
      expect(evicted).toEqual([]);
      expect(t.errors).toHaveLength(1);
      const error = t.errors[0] as AppHookError;
      expect(error).toMatchObject({ code: 'WSSUP_APP_HOOK_FAILED', hook: 'authenticate' });
      const { message } = error.cause as TypeError;
      expect(message).toContain(`atLimit ${shown}`);
      expect(message).toContain(says);
      t.errors.length = 0;
      expect(t.supervisor.userStats('bad')).toMatchObject({ live: 1 });
      await closeAll(t, [first]);
    },
  );

  // The app's own server's verifyClient runs after the decision to replace: a newcomer it
  // refused would leave the user with nothing. Refused as in cluster mode, before anything is replaced.
  it("'replace-oldest' with a webSocketServer that has verifyClient is refused (500 auth-failed, reported)", async () => {
    const webSocketServer = new WebSocketServer({
      noServer: true,
      maxPayload: 65_536,
      verifyClient: () => true,
    });
    const policies = new Map<string, unknown>([['ann', 'refuse']]);
    const { t, evicted } = await startPolicies(policies, { webSocketServer });
    const a = await connect(t.url('ann'));
    policies.set('ann', 'replace-oldest');
    expect(await connectRefused(t.url('ann'))).toBe(500);
    expect(evicted).toEqual([]);
    expect(t.errors).toMatchObject([{ code: 'WSSUP_APP_HOOK_FAILED', hook: 'authenticate' }]);
    expect(((t.errors[0] as AppHookError).cause as TypeError).message).toMatch(
      /verifyClient.*into authenticate/,
    );
    t.errors.length = 0;
    expect(t.supervisor.userStats('ann')).toMatchObject({ live: 1 });
    await closeAll(t, [a]);
  });

  // createSupervisor() checks the server's verifyClient once; one set on it afterwards is
  // caught at the upgrade, whose policy is the option's here (authenticate returns none).
  it("the option 'replace-oldest' with a verifyClient set on the server after createSupervisor() is refused (500, reported once)", async () => {
    const webSocketServer = new WebSocketServer({ noServer: true, maxPayload: 65_536 });
    const { t, evicted, rejected } = await startPolicies(new Map(), {
      webSocketServer,
      atLimit: 'replace-oldest',
    });
    const a = await connect(t.url('ann'));
    (webSocketServer.options as { verifyClient?: unknown }).verifyClient = () => true;
    expect(await connectRefused(t.url('ann'))).toBe(500);
    expect(await connectRefused(t.url('ann'))).toBe(500);
    expect(evicted).toEqual([]);
    expect(rejected).toMatchObject([{ reason: 'internal-error' }, { reason: 'internal-error' }]);
    expect(t.errors).toMatchObject([{ code: 'WSSUP_INVALID_OPTION', option: 'atLimit' }]);
    expect((t.errors[0] as Error).message).toMatch(/verifyClient.*into authenticate/);
    t.errors.length = 0;
    expect(t.supervisor.userStats('ann')).toMatchObject({ live: 1 });
    await closeAll(t, [a]);
  });

  it("'replace-oldest' in cluster mode is refused (500 auth-failed, reported): not supported with cluster yet", async () => {
    const book = new MemoryBook(() => Date.now());
    const { t, evicted } = await startPolicies(new Map([['ann', 'replace-oldest']]), {
      cluster: { store: book.store('node-0', 30_000), nodeId: 'node-0' },
    });
    await expect.poll(() => t.supervisor.stats().cluster?.leaseHeld, ioWait).toBe(true);
    expect(await connectRefused(t.url('ann'))).toBe(500);
    expect(evicted).toEqual([]);
    expect(t.errors).toMatchObject([{ code: 'WSSUP_APP_HOOK_FAILED', hook: 'authenticate' }]);
    expect(((t.errors[0] as AppHookError).cause as TypeError).message).toContain(
      'not supported with cluster yet',
    );
    t.errors.length = 0;
    expectNoLeaks(t.supervisor);
  });
});
