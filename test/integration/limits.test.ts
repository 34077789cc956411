/**
 * The per-user limit and the process-wide limit, as a client sees them: up
 * to the limit the upgrade succeeds, past it the upgrade is refused with an
 * HTTP status and a `rejected` event, and a refusal allocates nothing.
 * Time is a SimulatedClock that the tests never advance unless they say so,
 * so no connection turns idle and no eviction can make room by accident.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import WebSocket from 'ws';
import {
  closeOf,
  drainTimeoutMs,
  evictAt,
  limit,
  nextEvent,
  type RulesServer,
  refusal,
  startRulesServer,
  stopReading,
  touch,
} from '../helpers/rules.js';
import { allDisposed, expectNoLeaks } from '../helpers/server.js';

const userLimitBody = `user has reached the maximum number of connections (${limit})\n`;
const processLimitEvent = (body: string) => ({
  reason: 'process-limit',
  status: 503,
  message: body.trim(),
  via: 'http',
  retryAfterMs: 5_000,
  remoteAddress: '127.0.0.1',
});

async function fill(t: RulesServer, user: string, count: number): Promise<WebSocket[]> {
  const sockets: WebSocket[] = [];
  for (let i = 0; i < count; i++) sockets.push((await t.open(user)).ws);
  return sockets;
}

async function closeAll(t: RulesServer, sockets: WebSocket[]): Promise<void> {
  for (const ws of sockets) ws.close();
  await allDisposed(t.supervisor);
}

describe('per-user limit (test preset: 5)', () => {
  it('gives a user 5 connections and refuses the 6th with HTTP 429 and a user-limit event', async () => {
    const t = await startRulesServer();
    const alice = await fill(t, 'alice', limit);
    for (const ws of alice) await touch(ws);
    expect(t.supervisor.userStats('alice')).toEqual({
      userId: 'alice',
      live: 5,
      idle: 0,
      draining: 0,
      limit: 5,
      evictAt,
      band: 3, // 5 of 5: at or above every capacity level (50, 80 and 90 %)
    });

    expect(await refusal(t.url('alice'))).toEqual({ status: 429, body: userLimitBody });
    expect(t.events.rejected).toEqual([
      {
        reason: 'user-limit',
        status: 429,
        userId: 'alice',
        message: userLimitBody.trim(),
        via: 'http',
        retryAfterMs: 5_000, // the default hint, sent as Retry-After: 5
        remoteAddress: '127.0.0.1',
        live: 5, // the count that refused it, and the limit
        limit: 5,
      },
    ]);
    // The five are untouched by the refusal.
    for (const ws of alice) await touch(ws);
    expect(t.supervisor.stats().counters).toEqual({ admitted: 5, rejected: 1, evicted: 0, disposed: 0 });

    await closeAll(t, alice);
    expectNoLeaks(t.supervisor);
    expect(t.errors).toEqual([]);
  });

  it('isolates users: another user gets their own 5 while the first is full', async () => {
    const t = await startRulesServer();
    const alice = await fill(t, 'alice', limit);
    expect((await refusal(t.url('alice'))).status).toBe(429);

    const bob = await fill(t, 'bob', limit);
    for (const ws of bob) await touch(ws);
    expect((await refusal(t.url('bob'))).status).toBe(429);
    expect(t.events.rejected.map((event) => `${event.userId}:${event.reason}`)).toEqual([
      'alice:user-limit',
      'bob:user-limit',
    ]);
    expect(t.supervisor.stats({ perUser: true })).toMatchObject({
      connections: 10,
      users: 2,
      byState: { active: 10 },
      perUser: { alice: { live: 5 }, bob: { live: 5 } },
    });

    // Bob leaving frees bob's slots, not alice's.
    const disposed = nextEvent(t.supervisor, 'disposed');
    (bob[0] as WebSocket).close();
    expect(await disposed).toMatchObject({ userId: 'bob' });
    await expectAdmitted(t, 'bob');
    expect((await refusal(t.url('alice'))).status).toBe(429);

    await closeAll(t, [...alice, ...bob]);
    expectNoLeaks(t.supervisor);
  });

  it.each([
    ['closes cleanly', (ws: WebSocket) => ws.close(1000)],
    ['drops without a close frame', (ws: WebSocket) => ws.terminate()],
  ])('after one of the first user’s connections %s, a new one is admitted', async (_name, end) => {
    const t = await startRulesServer();
    const alice = await fill(t, 'alice', limit);
    expect((await refusal(t.url('alice'))).status).toBe(429);

    const disposed = nextEvent(t.supervisor, 'disposed');
    end(alice[2] as WebSocket);
    expect(await disposed).toMatchObject({ userId: 'alice', reason: 'closed' });
    // The slot was freed by the time the disposed event was emitted.
    expect(t.supervisor.userStats('alice')).toMatchObject({ live: 4, draining: 0 });

    const again = await t.open('alice');
    await touch(again.ws);
    expect((await refusal(t.url('alice'))).status).toBe(429);
    expect(t.supervisor.stats().counters).toEqual({ admitted: 6, rejected: 2, evicted: 0, disposed: 1 });

    await closeAll(t, [...alice, again.ws]);
    expectNoLeaks(t.supervisor);
  });

  it('admits exactly 5 of 12 simultaneous upgrades for one user', async () => {
    const t = await startRulesServer();
    const attempts = Array.from({ length: 12 }, () => attempt(t.url('rush')));
    const outcomes = await Promise.all(attempts);
    const opened = outcomes.filter((outcome): outcome is WebSocket => typeof outcome !== 'number');
    const statuses = outcomes.filter((outcome) => typeof outcome === 'number');
    expect(opened).toHaveLength(limit);
    expect(statuses).toEqual(Array(12 - limit).fill(429));
    expect(t.supervisor.userStats('rush')).toMatchObject({ live: 5 });
    expect(t.supervisor.stats().counters).toMatchObject({ admitted: 5, rejected: 7 });

    await closeAll(t, opened);
    expectNoLeaks(t.supervisor);
  });

  it('after every connection is gone, the user starts again from zero', async () => {
    const t = await startRulesServer();
    await closeAll(t, await fill(t, 'alice', limit));
    expect(t.supervisor.userStats('alice')).toBeUndefined();
    const again = await fill(t, 'alice', limit);
    expect((await refusal(t.url('alice'))).status).toBe(429);
    await closeAll(t, again);
    expectNoLeaks(t.supervisor);
  });
});

describe('a refusal allocates nothing', () => {
  it('leaves resources, connections, slot books and every counter but rejected unchanged', async () => {
    const t = await startRulesServer();
    const alice = await fill(t, 'alice', limit);
    const bob = await fill(t, 'bob', 2);
    const before = t.supervisor.stats({ perUser: true });
    const aliceBefore = t.supervisor.userStats('alice');

    expect((await refusal(t.url('alice'))).status).toBe(429);

    const after = t.supervisor.stats({ perUser: true });
    expect(after.resources).toEqual(before.resources);
    expect(after.connections).toBe(before.connections);
    expect(after.users).toBe(before.users);
    expect(after.byState).toEqual(before.byState);
    expect(after.perUser).toEqual(before.perUser);
    expect(t.supervisor.userStats('alice')).toEqual(aliceBefore);
    expect(after.counters).toEqual({ ...before.counters, rejected: before.counters.rejected + 1 });
    expect(after.counters.admitted).toBe(before.counters.admitted);
    expect(t.events.admitted).toHaveLength(7);
    expect(t.events.disposed).toHaveLength(0);

    await closeAll(t, [...alice, ...bob]);
    expectNoLeaks(t.supervisor);
  });

  it('a burst of 20 refusals leaves nothing behind either', async () => {
    const t = await startRulesServer();
    const alice = await fill(t, 'alice', limit);
    const before = t.supervisor.stats();
    const statuses = await Promise.all(
      Array.from({ length: 20 }, async () => (await refusal(t.url('alice'))).status),
    );
    expect(statuses).toEqual(Array(20).fill(429));
    const after = t.supervisor.stats();
    expect(after.resources).toEqual(before.resources);
    expect(after.counters).toEqual({ ...before.counters, rejected: before.counters.rejected + 20 });
    await closeAll(t, alice);
    expectNoLeaks(t.supervisor);
  });
});

describe('process-wide limit (maxConnections)', () => {
  const processLimitBody = 'server has reached the maximum number of connections (3)\n';
  const processLimit = processLimitEvent(processLimitBody);

  it('refuses any user with HTTP 503 and a process-limit event, allocating nothing', async () => {
    const t = await startRulesServer({ maxConnections: 3 });
    const sockets = [...(await fill(t, 'alice', 2)), ...(await fill(t, 'bob', 1))];
    const before = t.supervisor.stats();

    expect(await refusal(t.url('carol'))).toEqual({ status: 503, body: processLimitBody });
    expect(await refusal(t.url('alice'))).toEqual({ status: 503, body: processLimitBody });
    expect(t.events.rejected).toEqual([
      { ...processLimit, userId: 'carol' },
      { ...processLimit, userId: 'alice' },
    ]);
    // Carol, refused, never got a supervisor.
    expect(t.supervisor.userStats('carol')).toBeUndefined();
    const after = t.supervisor.stats();
    expect(after.resources).toEqual(before.resources);
    expect(after.counters).toEqual({ ...before.counters, rejected: 2 });

    // A close anywhere frees a process slot for anyone.
    const disposed = nextEvent(t.supervisor, 'disposed');
    (sockets[0] as WebSocket).close();
    await disposed;
    const carol = await t.open('carol');
    await touch(carol.ws);

    await closeAll(t, [...sockets, carol.ws]);
    expectNoLeaks(t.supervisor);
  });

  it('still counts a draining connection, until it is disposed', async () => {
    const t = await startRulesServer({ maxConnections: 2 });
    const leaving = await t.open('alice');
    const staying = await t.open('bob');
    stopReading(leaving.ws); // never answers the close frame
    leaving.handle.close(4000, 'bye');
    // The user slot is free at once...
    expect(t.supervisor.userStats('alice')).toMatchObject({ live: 0, draining: 1 });
    expect(t.supervisor.stats()).toMatchObject({ connections: 2, byState: { active: 1, draining: 1 } });
    // ...but the socket is still held, so the process limit still counts it.
    expect(await refusal(t.url('alice'))).toMatchObject({ status: 503 });
    expect(await refusal(t.url('carol'))).toMatchObject({ status: 503 });
    expect(t.events.rejected.map((event) => event.reason)).toEqual(['process-limit', 'process-limit']);

    t.clock.increment(drainTimeoutMs);
    expect(t.events.disposed).toMatchObject([{ userId: 'alice', reason: 'app-close', closeCode: 4000 }]);
    const carol = await t.open('carol');
    await touch(carol.ws);

    await closeAll(t, [leaving.ws, staying.ws, carol.ws]);
    expectNoLeaks(t.supervisor);
  });

  it('the process limit answers before the user limit, and the user limit below it', async () => {
    const t = await startRulesServer({ maxConnections: 6 });
    const alice = await fill(t, 'alice', limit);
    // 5 < 6: the user limit answers, and each refusal gives back the process slot it reserved.
    const statuses = await Promise.all(
      Array.from({ length: 10 }, async () => (await refusal(t.url('alice'))).status),
    );
    expect(statuses).toEqual(Array(10).fill(429));
    const bob = await t.open('bob');
    expect((await refusal(t.url('alice'))).status).toBe(503); // 6 = 6: the process limit answers
    expect(t.events.rejected.map((event) => event.reason)).toEqual([
      ...Array(10).fill('user-limit'),
      'process-limit',
    ]);
    await closeAll(t, [...alice, bob.ws]);
    expectNoLeaks(t.supervisor);
  });
});

/** Opens a client; resolves with it when admitted, or with the HTTP status when refused. */
async function attempt(url: string): Promise<WebSocket | number> {
  const ws = new WebSocket(url);
  onTestFinished(() => ws.terminate());
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_request, response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    ws.once('error', (error) => {
      if (!/Unexpected server response/.test(error.message)) reject(error);
    });
  });
}

async function expectAdmitted(t: RulesServer, user: string): Promise<void> {
  const client = await t.open(user);
  await touch(client.ws);
  const closing = closeOf(client.ws);
  client.ws.close();
  await closing;
}
