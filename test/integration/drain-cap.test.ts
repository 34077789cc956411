/**
 * The drain cap (a security finding): a draining connection frees its slot at once but keeps
 * its socket until its peer answers or drainTimeoutMs, so one token held 1,000 sockets in
 * 0.7 s (close frames never followed by a FIN) and 1,500 by reconnecting with one client
 * instance id (each predecessor superseded, never answering its 4001). While its supervisor
 * supervises, a user now holds at most `limit` draining connections: past that, the oldest
 * drain is terminated. So at most 2 × limit sockets, and every newcomer is still admitted.
 *
 * Real `ws` servers on port 0 over loopback, simulated time (drainTimeoutMs never fires
 * unless a test moves the clock), peers that never answer a close: `ws` clients that stop
 * reading, and raw TCP sockets that send a close frame and never their FIN. The sockets the
 * server holds are counted on the HTTP server itself (its `connection` events and each
 * socket's `close`), not only in the supervisor's books.
 */
import type { AddressInfo, Socket } from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import type { WebSocket } from 'ws';
import { connectionCount, frame, rawWebSocket } from '../helpers/cleanup.js';
import { closeOf, type OwnServer, resumeReading, startOwnServer, stopReading } from '../helpers/rules.js';
import { connect, expectNoLeaks, ioWait } from '../helpers/server.js';

const limit = 3;
const instance = 'drain-cap-instance-0001';

/** The server's open TCP connections, now and at most, from its own events. */
function countSockets(t: OwnServer) {
  const counted = { open: 0, max: 0 };
  t.server.on('connection', (socket: Socket) => {
    counted.open += 1;
    counted.max = Math.max(counted.max, counted.open);
    socket.once('close', () => {
      counted.open -= 1;
    });
  });
  return counted;
}

/** Waits until the server holds exactly `expected` TCP connections (both counts agree). */
async function serverHolds(t: OwnServer, counted: { open: number }, expected: number) {
  await vi.waitFor(async () => {
    expect(await connectionCount(t.server)).toBe(expected);
    expect(counted.open).toBe(expected);
  }, ioWait);
}

/** A user's sockets by the supervisor's books: live and draining. */
const held = (t: OwnServer, user: string) => {
  const stats = t.supervisor.userStats(user);
  return (stats?.live ?? 0) + (stats?.draining ?? 0);
};

describe(`the drain cap: a user holds at most ${limit} draining connections (limit ${limit})`, () => {
  it('reconnects of one instance whose predecessors never answer: at most 2 × limit sockets, oldest terminated first, every one admitted', async () => {
    // Nobody goes idle here: the clock moves only to end the drains.
    const t = await startOwnServer({
      maxConnectionsPerUser: limit,
      drainTimeoutMs: 60_000,
      idleTimeoutMs: 600_000,
    });
    const counted = countSockets(t);
    // Two other connections of the user, active: with the instance's newest, the user is at its limit.
    const others = [await connect(t.url('ann')), await connect(t.url('ann'))];
    const reconnects = 12;
    const ids: string[] = [];
    const silent: WebSocket[] = [];
    for (let attempt = 1; attempt <= reconnects; attempt++) {
      const admitted = t.events.admitted.length;
      const ws = await connect(`${t.url('ann')}&wssup-instance=${instance}.${1_000 + attempt}`);
      stopReading(ws); // never reads its 4001, so never answers it: its server side drains
      silent.push(ws);
      expect(t.events.admitted).toHaveLength(admitted + 1);
      const newest = t.events.admitted.at(-1)?.connectionId as string;
      ids.push(newest);
      const draining = Math.min(attempt - 1, limit);
      expect(t.supervisor.userStats('ann')).toMatchObject({ live: limit, draining });
      expect(held(t, 'ann')).toBeLessThanOrEqual(2 * limit);
      await serverHolds(t, counted, limit + draining);
    }
    expect(t.events.rejected).toEqual([]);
    expect(t.events.evicted.map((event) => event.cause)).toEqual(Array(reconnects - 1).fill('superseded'));
    // The oldest drains went first, in the order they began, each terminated once; a terminated
    // drain keeps the reason it began draining for (its 4001 was sent, as at drainTimeoutMs).
    const terminated = ids.slice(0, reconnects - 1 - limit);
    expect(t.events.disposed.map((event) => event.connectionId)).toEqual(terminated);
    expect(t.events.disposed.map((event) => [event.reason, event.closeCode])).toEqual(
      terminated.map(() => ['evicted', 4001]),
    );
    // Without the cap the server held 2 + 12 sockets here. The newcomer's own TCP connection
    // is open before its admission, so for a moment there is one more than 2 × limit.
    expect(counted.max).toBeLessThanOrEqual(2 * limit + 1);
    expect(await connectionCount(t.server)).toBe(2 * limit);

    // The drains still there end at drainTimeoutMs, as before.
    t.clock.increment(60_000);
    expect(t.supervisor.userStats('ann')).toMatchObject({ live: limit, draining: 0 });
    const closes = others.map((ws) => closeOf(ws));
    resumeReading(silent.at(-1) as WebSocket);
    await t.supervisor.shutdown();
    expect((await Promise.all(closes)).map((close) => close.code)).toEqual([1001, 1001]);
    expectNoLeaks(t.supervisor);
  });

  it('raw sockets that send a close frame and never their FIN: at most limit of them held', async () => {
    const t = await startOwnServer({ maxConnectionsPerUser: limit, drainTimeoutMs: 60_000 });
    const counted = countSockets(t);
    const closeFrame = frame(0x8, Buffer.from([0x03, 0xe8])); // 1000
    const peers = 9;
    for (let peer = 1; peer <= peers; peer++) {
      // allowHalfOpen: the server's close frame and FIN are read, its own FIN never sent.
      const socket = await rawWebSocket((t.server.address() as AddressInfo).port, 'bob', {
        allowHalfOpen: true,
      });
      await vi.waitFor(() => expect(t.supervisor.userStats('bob')?.live).toBe(1), ioWait);
      socket.write(closeFrame);
      const draining = Math.min(peer, limit);
      await vi.waitFor(
        () => expect(t.supervisor.userStats('bob')).toMatchObject({ live: 0, draining }),
        ioWait,
      );
      await serverHolds(t, counted, draining);
    }
    expect(t.events.admitted).toHaveLength(peers);
    expect(t.events.rejected).toEqual([]);
    const ids = t.events.admitted.map((event) => event.connectionId);
    expect(t.events.disposed.map((event) => event.connectionId)).toEqual(ids.slice(0, peers - limit));
    expect(t.events.disposed.every((event) => event.reason === 'closed')).toBe(true);
    // Without the cap the server held all 9 here (ws's own close timer is 30 s).
    expect(counted.max).toBeLessThanOrEqual(limit + 1);
    const done = t.supervisor.shutdown({ deadlineMs: 0 });
    t.clock.increment(1);
    await done;
    await serverHolds(t, counted, 0);
    expectNoLeaks(t.supervisor);
  });

  it("a paced shutdown's earlier batches are capped as any drain, its last batch is not", async () => {
    const small = 2;
    const t = await startOwnServer({
      maxConnectionsPerUser: small,
      drainTimeoutMs: 60_000,
      idleTimeoutMs: 600_000,
    });
    // a1 and a2 drain (superseded, never answering), a3 and b are live and never read.
    const silent: WebSocket[] = [];
    for (let attempt = 1; attempt <= 3; attempt++) {
      const ws = await connect(`${t.url('di')}&wssup-instance=${instance}.${3_000 + attempt}`);
      stopReading(ws);
      silent.push(ws);
    }
    const other = await connect(t.url('di'));
    stopReading(other);
    const [a1, , a3] = t.events.admitted.map((event) => event.connectionId);
    expect(t.supervisor.userStats('di')).toMatchObject({ live: small, draining: small });

    const done = t.supervisor.shutdown({ deadlineMs: 10_000, pace: { windowMs: 4_000, batches: 2 } });
    // The first batch drains the oldest live one (a3) with 1001: a third drain, so a1 goes.
    await vi.waitFor(() => expect(t.events.disposed).toHaveLength(1), ioWait);
    expect(t.events.disposed[0]).toMatchObject({ connectionId: a1, reason: 'evicted', closeCode: 4001 });
    expect(t.supervisor.userStats('di')).toMatchObject({ live: 1, draining: small });
    expect(t.supervisor.connectionsOf('di').map((c) => c.id)).not.toContain(a3);
    // The last batch tells the rest all together: three drains, none terminated, until the deadline.
    t.clock.increment(2_000);
    await vi.waitFor(
      () => expect(t.supervisor.stats()).toMatchObject({ connections: 3, byState: { draining: 3 } }),
      ioWait,
    );
    expect(t.events.disposed).toHaveLength(1);
    t.clock.increment(8_000);
    await done;
    expect(
      t.events.disposed
        .slice(1)
        .map((event) => event.reason)
        .sort(),
    ).toEqual(['evicted', 'shutdown', 'shutdown']);
    expectNoLeaks(t.supervisor);
  });

  it('a shutdown is not capped: every live connection drains with its 1001, none terminated before the deadline', async () => {
    const small = 2;
    const t = await startOwnServer({ maxConnectionsPerUser: small, drainTimeoutMs: 60_000 });
    const counted = countSockets(t);
    // Two drains already (superseded predecessors that never answer), and two live: 2 × limit.
    const silent: WebSocket[] = [];
    for (let attempt = 1; attempt <= 3; attempt++) {
      const ws = await connect(`${t.url('cy')}&wssup-instance=${instance}.${2_000 + attempt}`);
      stopReading(ws);
      silent.push(ws);
    }
    const other = await connect(t.url('cy'));
    stopReading(other);
    expect(t.supervisor.userStats('cy')).toMatchObject({ live: small, draining: small });
    await serverHolds(t, counted, 2 * small);

    const done = t.supervisor.shutdown({ deadlineMs: 10_000 });
    // Four drains, twice the limit, and no terminate: the two live ones were sent their 1001.
    await vi.waitFor(
      () => expect(t.supervisor.stats()).toMatchObject({ connections: 4, byState: { draining: 4 } }),
      ioWait,
    );
    await serverHolds(t, counted, 2 * small);
    expect(t.events.disposed).toEqual([]);
    const live = [silent.at(-1) as WebSocket, other];
    const closes = live.map((ws) => closeOf(ws));
    for (const ws of live) resumeReading(ws);
    expect(await Promise.all(closes)).toEqual([
      { code: 1001, reason: 'server shutting down' },
      { code: 1001, reason: 'server shutting down' },
    ]);
    await vi.waitFor(() => expect(t.events.disposed).toHaveLength(2), ioWait);
    expect(t.events.disposed.map((event) => [event.reason, event.closeCode])).toEqual([
      ['shutdown', 1001],
      ['shutdown', 1001],
    ]);
    // The superseded drains end at the deadline, not before.
    expect(t.supervisor.stats().byState.draining).toBe(2);
    t.clock.increment(10_000);
    await done;
    expectNoLeaks(t.supervisor);
  });
});
