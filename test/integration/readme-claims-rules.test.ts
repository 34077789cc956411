/**
 * README, "The rules", **Draining**: "a connection that is leaving
 * (evicted, closed by the app, slow, shutting down) no longer delivers
 * inbound messages, and `send()` returns false". The app's own close and a
 * slow consumer are covered in eviction.test.ts and backpressure.test.ts;
 * here the other ways of leaving: an idle eviction, `disconnectUser`, and
 * shutdown. The client does not read (it never sees the close frame) and
 * sends a message then a ping: the ping reaching the server proves the
 * message before it was read, and not delivered.
 *
 * That idle is not a timeout: below T an idle connection stays, and evictionThreshold 0 (T = 0) is
 * the recipe.
 *
 * And the rules at the production preset's own numbers (limit 20, threshold
 * 0.7, so T = 14: the README's example), end to end; the other rule tests
 * use the test preset (limit 5, T = 4).
 */
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import type { Supervisor, SupervisorOptions } from '../../src/index.js';
import { httpRefusal } from '../helpers/refusals.js';
import {
  type Client,
  closeOf,
  idleTimeoutMs,
  resumeReading,
  startRulesServer,
  stopReading,
} from '../helpers/rules.js';
import { allDisposed, expectNoLeaks, userFromQuery } from '../helpers/server.js';

type Leave = (supervisor: Supervisor, clients: Client[], increment: (ms: number) => void) => Client;

const ways: [string, Leave, number][] = [
  [
    'an idle eviction',
    (_supervisor, clients, increment) => {
      // Test preset: T = 4. All four turn idle, the first one first: it goes, then n < T.
      increment(idleTimeoutMs);
      return clients[0] as Client;
    },
    4001,
  ],
  [
    'disconnectUser',
    (supervisor, clients) => {
      expect(supervisor.disconnectUser('dan', 4000, 'kicked')).toBe(clients.length);
      return clients[0] as Client;
    },
    4000,
  ],
  [
    'shutdown',
    (supervisor, clients) => {
      void supervisor.shutdown({ deadlineMs: 60_000 });
      return clients[0] as Client;
    },
    1001,
  ],
];

describe('a leaving connection delivers no more inbound messages, and send() returns false', () => {
  it.each(ways)('%s', async (_name, leave, code) => {
    const delivered: string[] = [];
    const t = await startRulesServer({
      drainTimeoutMs: 60_000,
      onMessage: (connection, data) => {
        delivered.push(`${connection.id} ${data.toString()}`);
      },
    });
    const clients: Client[] = [];
    for (let n = 0; n < 4; n += 1) {
      if (n > 0) t.clock.increment(1); // so that the first is the longest idle
      clients.push(await t.open('dan'));
      if (n === 0) {
        // A client that does not read still sends: delivered while the connection is open.
        const first = clients[0] as Client;
        stopReading(first.ws);
        const pinged = once(first.handle.socket as WebSocket, 'ping');
        first.ws.send('before');
        first.ws.ping();
        await pinged;
        expect(delivered).toEqual([`${first.id} before`]);
        delivered.length = 0;
      }
    }
    for (const { ws } of clients.slice(1)) stopReading(ws);

    const leaving = leave(t.supervisor, clients, (ms) => t.clock.increment(ms));
    expect(leaving).toBe(clients[0]);
    expect(t.supervisor.userStats('dan')?.draining ?? 0).toBeGreaterThanOrEqual(1);
    expect(leaving.handle.send('anything?')).toBe(false);

    const serverSocket = leaving.handle.socket as WebSocket;
    const pinged = once(serverSocket, 'ping');
    leaving.ws.send('late');
    leaving.ws.ping();
    await pinged;
    expect(delivered).toEqual([]);

    const closing = closeOf(leaving.ws);
    resumeReading(leaving.ws);
    expect((await closing).code).toBe(code);
    for (const { ws } of clients) {
      resumeReading(ws);
      ws.close();
    }
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });
});

describe("the production preset's numbers: limit 20, threshold 0.7, T = 14", () => {
  it('13 idle stay; from the 14th on each admission evicts the longest idle; the 21st live is refused with 429', async () => {
    // The production preset's limits and idleTimeoutMs (300 s); heartbeats off, so the clock can jump.
    const t = await startRulesServer({ preset: 'production', idleTimeoutMs: 300_000, drainTimeoutMs: 5_000 });
    expect(t.supervisor.options).toMatchObject({ maxConnectionsPerUser: 20, evictionThreshold: 0.7 });
    const old: Client[] = [];
    for (let n = 0; n < 13; n += 1) {
      if (n > 0) t.clock.increment(1);
      old.push(await t.open('pro'));
    }
    t.clock.increment(300_000); // all 13 idle, below T: none goes
    expect(t.supervisor.userStats('pro')).toMatchObject({ live: 13, idle: 13, limit: 20, evictAt: 14 });
    expect(t.events.evicted).toEqual([]);

    const fresh: Client[] = [];
    for (let n = 0; n < 13; n += 1) {
      fresh.push(await t.open('pro')); // counting the newcomer, n = 14 = T: one idle goes
      expect(t.events.evicted.map((event) => event.connectionId)).toEqual(
        old.slice(0, n + 1).map((c) => c.id),
      );
    }
    // No idle one is left: at T and above, active connections stay, up to the limit.
    for (let n = 0; n < 7; n += 1) fresh.push(await t.open('pro'));
    expect(t.supervisor.userStats('pro')).toMatchObject({ live: 20, idle: 0 });
    const refused = await httpRefusal(t.url('pro'));
    expect(refused.status).toBe(429);
    expect(refused.headers['retry-after']).toBe('5');
    expect(refused.body).toBe('user has reached the maximum number of connections (20)\n');
    expect(t.events.rejected).toMatchObject([{ reason: 'user-limit', status: 429, userId: 'pro' }]);

    for (const { ws } of [...old, ...fresh]) ws.close();
    await allDisposed(t.supervisor);
    t.clock.increment(5_000); // the production preset's lingerMs
    expectNoLeaks(t.supervisor);
  });
});

describe('idle is not a timeout', () => {
  it('below T an idle connection stays open; with evictionThreshold 0 (T = 0) it goes with 4001, at the limit of 100,000 and at plan limits too', async () => {
    const below = await startRulesServer({ evictionThreshold: 0.7 }); // T = 4
    const kept = await below.open('kim');
    below.clock.increment(idleTimeoutMs * 10);
    expect(below.supervisor.userStats('kim')).toMatchObject({ live: 1, idle: 1, evictAt: 4 });
    expect(kept.ws.readyState).toBe(kept.ws.OPEN);
    expect(below.events.evicted).toEqual([]);
    kept.ws.close();
    await allDisposed(below.supervisor);
    expectNoLeaks(below.supervisor);

    // The option's limit, and plan limits that authenticate returns (the option's stays 5).
    const plans: [string, Partial<SupervisorOptions>][] = [
      ['the option at 5', { maxConnectionsPerUser: 5 }],
      ['the option at 100,000', { maxConnectionsPerUser: 100_000 }],
      ...[1, 3, 7, 100_000].map((plan): [string, Partial<SupervisorOptions>] => [
        `a plan of ${plan}`,
        {
          authenticate: (request) => {
            const userId = userFromQuery(request);
            return userId === null ? null : { userId, maxConnectionsPerUser: plan };
          },
        },
      ]),
    ];
    for (const [, limits] of plans) {
      const t = await startRulesServer({ evictionThreshold: 0, ...limits });
      const alone = await t.open('kim');
      expect(t.supervisor.userStats('kim')).toMatchObject({ live: 1, evictAt: 0 });
      expect(t.supervisor.stats({ perUser: true }).perUser).toMatchObject({ kim: { evictAt: 0 } });
      const closed = closeOf(alone.ws);
      t.clock.increment(idleTimeoutMs - 1);
      expect(t.events.evicted).toEqual([]); // not idle yet: T = 0 evicts idle ones, not young ones
      t.clock.increment(1);
      expect(await closed).toMatchObject({ code: 4001 });
      expect(t.events.evicted).toMatchObject([{ connectionId: alone.id, cause: 'idle' }]);
      await allDisposed(t.supervisor);
      expectNoLeaks(t.supervisor);
    }
  });

  it('with evictionThreshold 0, a connection that sends stays open; its quiet sibling goes at idleTimeoutMs', async () => {
    const t = await startRulesServer({ evictionThreshold: 0 });
    const talker = await t.open('lee');
    const quiet = await t.open('lee');
    const quietClosed = closeOf(quiet.ws);
    for (let step = 0; step < 6; step += 1) {
      // A message every half idleTimeoutMs, echoed back: read by the server before the clock moves.
      const echoed = once(talker.ws, 'message');
      talker.ws.send(`here ${step}`);
      await echoed;
      t.clock.increment(idleTimeoutMs / 2);
    }
    expect(await quietClosed).toMatchObject({ code: 4001 });
    expect(t.events.evicted.map((event) => event.connectionId)).toEqual([quiet.id]);
    expect(talker.ws.readyState).toBe(talker.ws.OPEN);
    expect(t.supervisor.userStats('lee')).toMatchObject({ live: 1, idle: 0, evictAt: 0 });
    talker.ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });
});

// README, "A limit per user: plans": a plan limit of 1 makes T = ceil(0.7 × 1) = 1, so a user's
// only connection is evicted once idle, with no other one competing; no evictionThreshold above
// 0 changes that (T is 1 for any of them), a plan limit of 2 does (T = 2: a lone idle one stays).
describe('a plan limit of 1: T = 1, a lone idle connection is evicted', () => {
  const planOf = (plan: number): Partial<SupervisorOptions> => ({
    authenticate: (request) => {
      const userId = userFromQuery(request);
      return userId === null ? null : { userId, maxConnectionsPerUser: plan };
    },
  });

  it.each([
    ['plan 1, evictionThreshold 0.7 (the default): T = 1, evicted', 1, undefined, 1, true],
    ['plan 1, evictionThreshold 1: T = 1, evicted', 1, 1, 1, true],
    ['plan 1, evictionThreshold 0.01: T = 1, evicted', 1, 0.01, 1, true],
    ['plan 2, evictionThreshold 0.7: T = 2, kept', 2, undefined, 2, false],
  ])('%s', async (_name, plan, evictionThreshold, evictAt, evicted) => {
    const t = await startRulesServer({
      ...planOf(plan),
      ...(evictionThreshold === undefined ? {} : { evictionThreshold }),
    });
    const alone = await t.open('kim');
    expect(t.supervisor.userStats('kim')).toMatchObject({ live: 1, limit: plan, evictAt });
    const closed = closeOf(alone.ws);
    t.clock.increment(idleTimeoutMs * 10);
    if (evicted) {
      expect(await closed).toMatchObject({ code: 4001, reason: 'evicted: idle' });
      expect(t.events.evicted).toMatchObject([{ connectionId: alone.id, cause: 'idle' }]);
    } else {
      expect(t.supervisor.userStats('kim')).toMatchObject({ live: 1, idle: 1 });
      expect(alone.ws.readyState).toBe(alone.ws.OPEN);
      expect(t.events.evicted).toEqual([]);
      alone.ws.close();
    }
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });
});

describe('connection.close(code = 1000, reason = ...)', () => {
  it("without arguments closes with 1000 and an empty reason, disposed as 'app-close'", async () => {
    const t = await startRulesServer();
    const client = await t.open('ora');
    const closing = closeOf(client.ws);
    client.handle.close();
    expect(await closing).toEqual({ code: 1000, reason: '' });
    await allDisposed(t.supervisor);
    expect(t.events.disposed).toMatchObject([
      { connectionId: client.id, reason: 'app-close', closeCode: 1000 },
    ]);
    expectNoLeaks(t.supervisor);
  });
});
