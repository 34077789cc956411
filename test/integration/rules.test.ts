/**
 * The rules of DESIGN.md on real sockets: the per-user limit, isolation
 * between users, the eviction invariant, draining slots, the process-wide
 * limit. Time is a SimulatedClock, so "idle" happens exactly when we say.
 */
import { describe, expect, it, vi } from 'vitest';
import type WebSocket from 'ws';
import { SimulatedClock } from 'xstate';
import type { ConnectionHandle, Supervisor, SupervisorOptions } from '../../src/index.js';
import {
  allDisposed,
  closed,
  connect,
  connectRefused,
  expectNoLeaks,
  nextMessage,
  startServer,
} from '../helpers/server.js';

const idleTimeoutMs = 1_000;

/** A test-preset server (limit 5, T = 4) on simulated time, that remembers every handle by user. */
async function startRulesServer(options: Partial<SupervisorOptions> = {}) {
  const clock = new SimulatedClock();
  const handles: ConnectionHandle[] = [];
  const t = await startServer({
    clock,
    idleTimeoutMs,
    heartbeatIntervalMs: 1_000_000, // heartbeats are not under test here
    onOpen: (connection) => {
      handles.push(connection);
    },
    onMessage: (connection, data) => {
      if (data.toString() === 'close me') connection.close(4000, 'asked to');
      else connection.send(data);
    },
    ...options,
  });
  return { ...t, clock, handles };
}

/** A round trip proves the connection is open and resets its idle timer. */
async function touch(ws: WebSocket): Promise<void> {
  ws.send('ping');
  expect(await nextMessage(ws)).toBe('ping');
}

async function waitForLive(t: { supervisor: Supervisor }, user: string, live: number): Promise<void> {
  await vi.waitFor(() => expect(t.supervisor.userStats(user)?.live ?? 0).toBe(live));
}

async function closeAll(sockets: WebSocket[]): Promise<void> {
  for (const ws of sockets) ws.terminate();
}

describe('per-user limit', () => {
  it('admits up to the limit, refuses the next with 429, and isolates users', async () => {
    const t = await startRulesServer();
    const rejected: string[] = [];
    t.supervisor.on('rejected', (event) => rejected.push(`${event.userId}:${event.reason}`));
    const alice = [];
    for (let i = 0; i < 5; i++) {
      const ws = await connect(t.url('alice'));
      await touch(ws); // keep every one active: no eviction can make room
      alice.push(ws);
    }
    expect(await connectRefused(t.url('alice'))).toBe(429);
    expect(rejected).toEqual(['alice:user-limit']);

    // Another user is not affected by alice being full.
    const bob = await connect(t.url('bob'));
    await touch(bob);
    expect(t.supervisor.userStats('alice')).toMatchObject({ live: 5, idle: 0, limit: 5, evictAt: 4 });
    expect(t.supervisor.userStats('bob')).toMatchObject({ live: 1 });
    expect(t.supervisor.stats()).toMatchObject({ connections: 6, users: 2, byState: { active: 6 } });

    // A slot freed by a close is usable at once.
    const closing = closed(alice[0] as WebSocket);
    (alice[0] as WebSocket).close();
    await closing;
    await waitForLive(t, 'alice', 4);
    const again = await connect(t.url('alice'));
    await touch(again);

    await closeAll([...alice, bob, again]);
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it('a refusal allocates nothing', async () => {
    const t = await startRulesServer({ maxConnectionsPerUser: 1 });
    const ws = await connect(t.url('carol'));
    const before = t.supervisor.stats();
    const userBefore = t.supervisor.userStats('carol');
    expect(await connectRefused(t.url('carol'))).toBe(429);
    const after = t.supervisor.stats();
    expect(after.resources).toEqual(before.resources);
    expect(after.connections).toBe(before.connections);
    expect(after.counters).toEqual({ ...before.counters, rejected: before.counters.rejected + 1 });
    expect(t.supervisor.userStats('carol')).toEqual(userBefore);
    ws.terminate();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });
});

describe('eviction invariant (limit 5, threshold 0.7, so T = 4)', () => {
  it('evicts nothing below the threshold, however idle', async () => {
    const t = await startRulesServer();
    const sockets = [await connect(t.url('dan')), await connect(t.url('dan')), await connect(t.url('dan'))];
    t.clock.increment(idleTimeoutMs * 10);
    expect(t.supervisor.userStats('dan')).toMatchObject({ live: 3, idle: 3, draining: 0 });
    expect(t.supervisor.stats().counters.evicted).toBe(0);
    for (const ws of sockets) await touch(ws); // still open and usable
    await closeAll(sockets);
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it('at the threshold, evicts idle connections longest idle first with 4001', async () => {
    const t = await startRulesServer();
    // c1, c2, c3 turn idle in that order, 400 ms apart.
    const c1 = await connect(t.url('eve'));
    t.clock.increment(400);
    const c2 = await connect(t.url('eve'));
    t.clock.increment(400);
    const c3 = await connect(t.url('eve'));
    t.clock.increment(200); // c1 idle
    t.clock.increment(400); // c2 idle
    t.clock.increment(400); // c3 idle
    expect(t.supervisor.userStats('eve')).toMatchObject({ live: 3, idle: 3 });

    const evicted: string[] = [];
    t.supervisor.on('evicted', (event) => evicted.push(event.connectionId));
    const c1Closed = closed(c1);
    const c4 = await connect(t.url('eve')); // n would be 4 = T: the longest idle (c1) goes
    expect(await c1Closed).toEqual({ code: 4001, reason: 'evicted: idle' });
    expect(evicted).toEqual([t.handles[0]?.id]);

    const c2Closed = closed(c2);
    const c5 = await connect(t.url('eve')); // again at T: c2 goes, c3 (idle, younger) stays
    expect((await c2Closed).code).toBe(4001);
    expect(evicted).toEqual([t.handles[0]?.id, t.handles[1]?.id]);
    expect(c3.readyState).toBe(c3.OPEN);
    await closeAll([c3, c4, c5]);
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it('never evicts an active connection', async () => {
    const t = await startRulesServer();
    const busy = await connect(t.url('fay'));
    const quiet = await connect(t.url('fay'));
    t.clock.increment(idleTimeoutMs / 2);
    await touch(busy); // busy's idle timer restarts
    t.clock.increment(idleTimeoutMs / 2); // quiet is idle, busy is not
    expect(t.supervisor.userStats('fay')).toMatchObject({ live: 2, idle: 1 });
    const quietClosed = closed(quiet);
    const third = await connect(t.url('fay'));
    const fourth = await connect(t.url('fay')); // n = 4 = T: quiet must go
    expect((await quietClosed).code).toBe(4001);
    await touch(busy);
    await touch(third);
    await touch(fourth);
    const fifth = await connect(t.url('fay')); // n = 4 again, none idle: nothing to evict
    await touch(fifth);
    expect(t.supervisor.stats().counters.evicted).toBe(1);
    expect(t.supervisor.userStats('fay')).toMatchObject({ live: 4, idle: 0 });
    await closeAll([busy, third, fourth, fifth]);
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it('a connection that turns idle while the user is at the threshold is evicted at once', async () => {
    const t = await startRulesServer();
    const sockets = [];
    for (let i = 0; i < 4; i++) sockets.push(await connect(t.url('gus'))); // n = 4 = T
    const firstClosed = closed(sockets[0] as WebSocket);
    t.clock.increment(idleTimeoutMs); // all four turn idle, in admission order
    // The first to turn idle is evicted (n was 4 ≥ T); then n = 3 < T and the rest may stay idle.
    expect((await firstClosed).code).toBe(4001);
    expect(t.supervisor.userStats('gus')).toMatchObject({ live: 3, idle: 3 });
    expect(t.supervisor.stats().counters.evicted).toBe(1);
    await closeAll(sockets);
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it('an admission at the limit evicts an idle connection instead of refusing', async () => {
    const t = await startRulesServer({ evictionThreshold: 1 }); // T = limit = 5
    const sockets = [];
    for (let i = 0; i < 5; i++) sockets.push(await connect(t.url('hal')));
    t.clock.increment(idleTimeoutMs / 2);
    for (const ws of sockets.slice(1)) await touch(ws);
    t.clock.increment(idleTimeoutMs / 2); // only the first is idle
    const firstClosed = closed(sockets[0] as WebSocket);
    const sixth = await connect(t.url('hal'));
    expect((await firstClosed).code).toBe(4001);
    // Now none is idle: the next one is refused.
    expect(await connectRefused(t.url('hal'))).toBe(429);
    await closeAll([...sockets, sixth]);
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });
});

describe('draining', () => {
  it('frees the slot at once; the old socket is terminated after drainTimeoutMs', async () => {
    const t = await startRulesServer({ maxConnectionsPerUser: 2, drainTimeoutMs: 500 });
    const leaving = await connect(t.url('ida'));
    const staying = await connect(t.url('ida'));
    // The client asks to be closed, then stops reading: it never answers the close frame.
    leaving.send('close me');
    (leaving as unknown as { _socket: { pause(): void } })._socket.pause();
    await waitForLive(t, 'ida', 1);
    expect(t.supervisor.userStats('ida')).toMatchObject({ live: 1, draining: 1 });
    expect(t.supervisor.stats()).toMatchObject({ connections: 2, byState: { active: 1, draining: 1 } });

    const newcomer = await connect(t.url('ida')); // admitted while the old one still drains
    await touch(newcomer);
    expect(t.supervisor.stats().byState).toMatchObject({ active: 2, draining: 1 });

    const disposed = new Promise((resolve) => t.supervisor.on('disposed', resolve));
    t.clock.increment(500);
    expect(await disposed).toMatchObject({ userId: 'ida', reason: 'app-close', closeCode: 4000 });
    expect(t.supervisor.stats().byState).toMatchObject({ active: 2, draining: 0 });
    await closeAll([leaving, staying, newcomer]);
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });
});

describe('process-wide limit', () => {
  it('refuses with 503 at maxConnections, counting draining connections', async () => {
    const t = await startRulesServer({ maxConnections: 2, drainTimeoutMs: 500 });
    const a = await connect(t.url('u1'));
    const b = await connect(t.url('u2'));
    expect(await connectRefused(t.url('u3'))).toBe(503);

    a.send('close me');
    (a as unknown as { _socket: { pause(): void } })._socket.pause();
    await waitForLive(t, 'u1', 0);
    expect(await connectRefused(t.url('u3'))).toBe(503); // a still holds a socket while draining

    const disposed = new Promise((resolve) => t.supervisor.on('disposed', resolve));
    t.clock.increment(500);
    await disposed;
    const c = await connect(t.url('u3'));
    await touch(c);
    const reasons: string[] = [];
    t.supervisor.on('rejected', (event) => reasons.push(event.reason));
    expect(await connectRefused(t.url('u4'))).toBe(503);
    expect(reasons).toEqual(['process-limit']);
    await closeAll([a, b, c]);
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });
});
