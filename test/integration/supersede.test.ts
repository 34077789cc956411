/**
 * A reconnect replaces what its client left behind (README, "Reconnects replace
 * their earlier connection"), on real sockets (test preset: limit 5, T = 4).
 * The peers here are raw `ws` clients that name their instance in the URL, as
 * ws-supervisor/client does; a client that stops answering stands for one whose
 * network went away (its server-side connection is alive until the heartbeat).
 */

import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';
import { SimulatedClock } from 'xstate';
import type { EvictedEvent, RejectedEvent } from '../../src/index.js';
import { stopReading } from '../helpers/rules.js';
import {
  closed,
  connect,
  connectRefused,
  expectNoLeaks,
  startServer,
  type TestServer,
} from '../helpers/server.js';

const limit = 5;
const A = 'instance-aaaaaaaaaaaaaaaa';
const B = 'instance-bbbbbbbbbbbbbbbb';

/** Each attempt later than the one before, as a client stamps them (`<id>.<attempt time>`). */
let attempts = 0;
const urlOf = (t: TestServer, user: string, instance?: string) => {
  attempts += 1;
  return instance === undefined ? t.url(user) : `${t.url(user)}&wssup-instance=${instance}.${attempts}`;
};
/** A URL whose wssup-instance value is given verbatim. */
const rawUrlOf = (t: TestServer, user: string, value: string) => `${t.url(user)}&wssup-instance=${value}`;

function record(t: TestServer) {
  const evicted: EvictedEvent[] = [];
  const rejected: RejectedEvent[] = [];
  t.supervisor.on('evicted', (event) => evicted.push(event));
  t.supervisor.on('rejected', (event) => rejected.push(event));
  return { evicted, rejected };
}

/** Fills `user`'s limit with connections of distinct instances but `A`'s, the last; keeps them active. */
async function fillWith(t: TestServer, user: string): Promise<WebSocket[]> {
  const sockets: WebSocket[] = [];
  for (let i = 0; i < limit - 1; i++) sockets.push(await connect(urlOf(t, user)));
  sockets.push(await connect(urlOf(t, user, A)));
  return sockets;
}

describe('a reconnect of the same client instance', () => {
  it('at the limit, replaces its left-behind connection (4001 evicted: superseded) instead of a 429', async () => {
    const t = await startServer();
    const { evicted, rejected } = record(t);
    const sockets = await fillWith(t, 'ann');
    const [left] = t.supervisor.connectionsOf('ann').slice(-1);
    const leftClosed = closed(sockets[limit - 1] as WebSocket);

    const again = await connect(urlOf(t, 'ann', A));

    expect(rejected).toEqual([]);
    expect(evicted).toEqual([{ connectionId: left?.id, userId: 'ann', cause: 'superseded' }]);
    expect(await leftClosed).toEqual({ code: 4001, reason: 'evicted: superseded' });
    expect(t.supervisor.userStats('ann')).toMatchObject({ live: limit });
    // The newcomer is a connection like any other: it echoes.
    const echoed = new Promise((resolve) => again.once('message', (data) => resolve(String(data))));
    again.send('hi');
    expect(await echoed).toBe('hi');
    for (const ws of [...sockets, again]) ws.close();
    await expect.poll(() => t.supervisor.stats().connections).toBe(0);
    expectNoLeaks(t.supervisor);
  });

  it('below the limit, replaces it too: one slot per instance', async () => {
    const t = await startServer();
    const { evicted } = record(t);
    const first = await connect(urlOf(t, 'bea', A));
    const firstClosed = closed(first);
    const second = await connect(urlOf(t, 'bea', A));
    expect(evicted.map((event) => event.cause)).toEqual(['superseded']);
    expect((await firstClosed).code).toBe(4001);
    expect(t.supervisor.userStats('bea')).toMatchObject({ live: 1 });
    // And the newest can be replaced in turn: the instance now names it.
    const secondClosed = closed(second);
    const third = await connect(urlOf(t, 'bea', A));
    expect((await secondClosed).reason).toBe('evicted: superseded');
    expect(t.supervisor.userStats('bea')).toMatchObject({ live: 1 });
    third.close();
    await expect.poll(() => t.supervisor.stats().connections).toBe(0);
    expectNoLeaks(t.supervisor);
  });

  it("never replaces another user's connection, nor another instance's", async () => {
    const t = await startServer();
    const { evicted } = record(t);
    const ann = await connect(urlOf(t, 'ann', A));
    const bea = await connect(urlOf(t, 'bea', B));
    // Another user naming ann's instance, and ann naming another instance: both simply admitted.
    const mallory = await connect(urlOf(t, 'mallory', A));
    const annOther = await connect(urlOf(t, 'ann', B));
    expect(evicted).toEqual([]);
    expect(t.supervisor.userStats('ann')).toMatchObject({ live: 2 });
    expect(t.supervisor.userStats('mallory')).toMatchObject({ live: 1 });
    for (const ws of [ann, bea, mallory, annOther]) ws.close();
    await expect.poll(() => t.supervisor.stats().connections).toBe(0);
    expectNoLeaks(t.supervisor);
  });

  it('without an instance, or with supersede: false, a reconnect at the limit is refused as before', async () => {
    const t = await startServer({ supersede: false });
    const { evicted } = record(t);
    const sockets = await fillWith(t, 'cy');
    expect(await connectRefused(urlOf(t, 'cy', A))).toBe(429);
    expect(evicted).toEqual([]);
    // Not even read: a malformed one is not refused either.
    expect(await connectRefused(rawUrlOf(t, 'cy', 'short'))).toBe(429);
    for (const ws of sockets) ws.close();
    await expect.poll(() => t.supervisor.stats().connections).toBe(0);

    const on = await startServer();
    const full = await fillWith(on, 'cy');
    expect(await connectRefused(urlOf(on, 'cy'))).toBe(429);
    for (const ws of full) ws.close();
    await expect.poll(() => on.supervisor.stats().connections).toBe(0);
  });

  it('refuses a malformed or repeated instance before authenticate (400 bad-handshake), allocating nothing', async () => {
    let asked = 0;
    const t = await startServer({
      authenticate: (request) => {
        asked += 1;
        return new URLSearchParams((request.url ?? '').split('?')[1] ?? '').get('user');
      },
    });
    const { rejected } = record(t);
    const malformed = [
      'short.1',
      'has%20a%20space%20in%20it.1',
      `${'x'.repeat(65)}.1`,
      A, // no attempt time
      `${A}.`,
      `${A}.-1`,
      `${A}.12345678901234567`, // 17 digits
      `${A}.9007199254740993`, // above Number.MAX_SAFE_INTEGER
    ];
    for (const value of malformed) expect(await connectRefused(rawUrlOf(t, 'dee', value))).toBe(400);
    // Named twice, or under a percent-encoded name beside the plain one.
    expect(await connectRefused(rawUrlOf(t, 'dee', `${A}.1&wssup-instance=${B}.2`))).toBe(400);
    expect(await connectRefused(`${rawUrlOf(t, 'dee', `${A}.1`)}&wssup%2Dinstance=${B}.2`)).toBe(400);
    expect(await connectRefused(`${t.url('dee')}&wssup-%69nstance=garbage`)).toBe(400);
    expect(asked).toBe(0);
    const rule =
      "the wssup-instance query parameter must be <id>.<attempt time>: an id of 16 to 64 characters A-Z, a-z, 0-9, _ or -, a dot, and the attempt's time in ms (Date.now(), later for every attempt)";
    const twice = 'the wssup-instance query parameter is given more than once';
    expect(rejected.map((event) => [event.reason, event.message])).toEqual([
      ...malformed.map(() => ['bad-handshake', rule]),
      ['bad-handshake', twice],
      ['bad-handshake', twice],
      ['bad-handshake', rule],
    ]);
    expect(t.supervisor.stats().connections).toBe(0);
    expectNoLeaks(t.supervisor);
  });

  it('a stale attempt decided late (a slow authenticate) replaces nothing: the newer connection stays', async () => {
    let slowFirst: (() => void) | undefined;
    const t = await startServer({
      authenticate: async (request) => {
        const user = new URLSearchParams((request.url ?? '').split('?')[1] ?? '').get('user');
        if (slowFirst === undefined) await new Promise<void>((resolve) => (slowFirst = resolve));
        return user;
      },
    });
    const { evicted } = record(t);
    const staleUrl = urlOf(t, 'fay', A); // the older attempt
    const stale = connect(staleUrl).catch(() => undefined);
    await expect.poll(() => slowFirst).toBeDefined();
    const newer = await connect(urlOf(t, 'fay', A)); // its client gave up on it, and came back
    const newerClosed = closed(newer);
    slowFirst?.();
    const late = await stale;
    await expect.poll(() => t.supervisor.userStats('fay')?.live).toBe(2);
    expect(evicted).toEqual([]);
    // The newer connection is still the instance's: a later attempt replaces it, not the stale one.
    const third = await connect(urlOf(t, 'fay', A));
    expect((await newerClosed).reason).toBe('evicted: superseded');
    expect(t.supervisor.userStats('fay')).toMatchObject({ live: 2 });
    for (const ws of [late, third]) ws?.close();
    await expect.poll(() => t.supervisor.stats().connections).toBe(0);
    expectNoLeaks(t.supervisor);
  });

  it("at the process-wide cap, a reconnect is refused (503) as any newcomer: its predecessor's socket still counts", async () => {
    const t = await startServer({ maxConnections: 2 });
    const { evicted, rejected } = record(t);
    const a = await connect(urlOf(t, 'gus', A));
    const b = await connect(urlOf(t, 'hal', B));
    expect(await connectRefused(urlOf(t, 'gus', A))).toBe(503);
    expect(evicted).toEqual([]);
    expect(rejected.map((event) => event.reason)).toEqual(['process-limit']);
    expect(t.supervisor.userStats('gus')).toMatchObject({ live: 1 });
    for (const ws of [a, b]) ws.close();
    await expect.poll(() => t.supervisor.stats().connections).toBe(0);
    expectNoLeaks(t.supervisor);
  });

  it('the predecessor still gets its 4001 behind data buffered for it (perMessageDeflate): it drains, not terminated', async () => {
    // A live peer that shares the id must read `evicted: superseded` (the client then waits for
    // resume()); a terminate right after the close frame lost it behind compressed data (1006).
    const webSocketServer = new WebSocketServer({
      noServer: true,
      perMessageDeflate: true,
      maxPayload: 65_536,
    });
    const t = await startServer({ webSocketServer });
    const { evicted } = record(t);
    const old = await connect(urlOf(t, 'ida', A));
    const oldClosed = closed(old);
    const [handle] = t.supervisor.connectionsOf('ida');
    for (let i = 0; i < 4; i++) expect(handle?.send(randomBytes(20_000))).toBe(true);
    const again = await connect(urlOf(t, 'ida', A));
    expect(evicted.map((event) => event.cause)).toEqual(['superseded']);
    expect(await oldClosed).toEqual({ code: 4001, reason: 'evicted: superseded' });
    again.close();
    await expect.poll(() => t.supervisor.stats().connections).toBe(0);
    expectNoLeaks(t.supervisor);
  });

  it("runs the predecessor's onClose when its drain ends, after its successor's onOpen, for a peer that does not answer (README)", async () => {
    const clock = new SimulatedClock();
    const order: string[] = [];
    // The README's pattern: a seat keyed by connection id, freed in onClose only if it still holds that id.
    const seats = new Map<string, string>();
    const t = await startServer({
      clock,
      onOpen: (connection) => {
        order.push(`onOpen ${connection.id}`);
        seats.set(connection.userId, connection.id);
      },
      onClose: (connection) => {
        order.push(`onClose ${connection.id}`);
        if (seats.get(connection.userId) === connection.id) seats.delete(connection.userId);
      },
    });
    t.supervisor.on('evicted', ({ connectionId, cause }) => order.push(`evicted ${connectionId} ${cause}`));
    const old = await connect(urlOf(t, 'gus', A));
    const [oldHandle] = t.supervisor.connectionsOf('gus');
    stopReading(old); // its network is gone: the 4001 is never read nor answered
    const next = await connect(urlOf(t, 'gus', A));
    const [nextHandle] = t.supervisor.connectionsOf('gus');
    const named = (lines: string[]) =>
      lines.map((line) =>
        line.replace(oldHandle?.id ?? 'old', 'old').replace(nextHandle?.id ?? 'new', 'new'),
      );
    await expect.poll(() => order.length).toBe(3);
    // The successor is open, seated, and the predecessor still drains: its onClose has not run.
    expect(named(order)).toEqual(['onOpen old', 'evicted old superseded', 'onOpen new']);
    expect(t.supervisor.userStats('gus')).toMatchObject({ live: 1, draining: 1 });
    const disposed = new Promise<void>((resolve) =>
      t.supervisor.on('disposed', ({ connectionId }) => connectionId === oldHandle?.id && resolve()),
    );
    clock.increment(t.supervisor.options.drainTimeoutMs); // its drain ends: terminated, disposed
    await disposed;
    expect(named(order.slice(3))).toEqual(['onClose old']);
    expect(seats.get('gus')).toBe(nextHandle?.id); // the seat keyed by id stays the successor's
    next.close();
    await expect.poll(() => t.supervisor.stats().connections).toBe(0);
    expectNoLeaks(t.supervisor);
  });

  it('replaces an idle predecessor the same way (below T, so idleness alone would keep it)', async () => {
    const clock = new SimulatedClock();
    const t = await startServer({ clock });
    const { evicted } = record(t);
    const idle = await connect(urlOf(t, 'eve', A));
    const idleClosed = closed(idle);
    clock.increment(t.supervisor.options.idleTimeoutMs);
    expect(t.supervisor.userStats('eve')).toMatchObject({ live: 1, idle: 1 });
    const next = await connect(urlOf(t, 'eve', A));
    expect(evicted.map((event) => event.cause)).toEqual(['superseded']);
    expect((await idleClosed).reason).toBe('evicted: superseded');
    next.close();
    await expect.poll(() => t.supervisor.stats().connections).toBe(0);
    expectNoLeaks(t.supervisor);
  });
});
