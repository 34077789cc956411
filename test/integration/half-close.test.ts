/**
 * A client that closes normally (FIN, not RST) while `authenticate` runs has
 * gone: Node's HTTP server keeps the half-open socket (allowHalfOpen), so it
 * is not destroyed, but its readable side has ended. It is refused as
 * `socket-closed`, exactly as a reset one, and never admitted: before, it was
 * admitted into a socket whose peer had left, held one of the user's slots,
 * and at the eviction threshold evicted a real idle connection to make room.
 * Refused as the server reads the FIN, as a reset is, not at the verdict (so
 * that authenticate's signal aborts then); the verdict changes nothing.
 *
 * The same holds while the cluster's book reserves the slot (cluster mode,
 * an in-memory book that answers when the test says).
 *
 * Real sockets on port 0; authenticate settles when the test says; time is a
 * SimulatedClock that moves only when a test says (idleness).
 */
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { SimulatedClock } from 'xstate';
import type { AuthResult, Supervisor } from '../../src/index.js';
import {
  connectionCount,
  frame,
  nextDisposed,
  rawConnect,
  rawWebSocket,
  readUntil,
  upgradeRequest,
} from '../helpers/cleanup.js';
import { MemoryBook } from '../helpers/memory-slot-store.js';
import { evictAt, idleTimeoutMs, nextEvent, startRulesServer, touch } from '../helpers/rules.js';
import { expectNoLeaks, ioWait, userFromQuery } from '../helpers/server.js';

/**
 * A rules server (limit 5, T = 4) whose authenticate waits for the test when
 * the request carries `X-Wait`, and answers at once otherwise. The server
 * socket of each upgrade is captured.
 */
async function startHalfCloseServer() {
  const waiting: (() => void)[] = [];
  const t = await startRulesServer({
    authenticate: (request) => {
      const user = userFromQuery(request);
      if (request.headers['x-wait'] === undefined) return user;
      return new Promise<AuthResult>((resolve) => waiting.push(() => resolve(user)));
    },
  });
  const serverSockets: Duplex[] = [];
  t.server.on('upgrade', (_request: IncomingMessage, socket: Duplex) => serverSockets.push(socket));
  /** Sends a waiting upgrade request for `user` (with `after` in the same write); resolves once authenticate has it. */
  const ask = async (
    user: string,
    after: Buffer = Buffer.alloc(0),
  ): Promise<{ socket: Socket; serverSide: Duplex }> => {
    const socket = await rawConnect(t.port);
    const asked = waiting.length + 1;
    socket.write(Buffer.concat([Buffer.from(upgradeRequest(user, { headers: { 'X-Wait': '1' } })), after]));
    await vi.waitFor(() => expect(waiting).toHaveLength(asked), ioWait);
    const serverSide = serverSockets.at(-1);
    if (serverSide === undefined) throw new Error('no server socket');
    return { socket, serverSide };
  };
  /** The client half-closes (FIN); resolves once the server socket has read the end of stream. */
  const halfClose = async (socket: Socket, serverSide: Duplex) => {
    socket.end();
    await vi.waitFor(() => expect(serverSide.readableEnded).toBe(true), ioWait);
  };
  const answer = (index: number) => {
    const settle = waiting[index];
    if (settle === undefined) throw new Error(`no authenticate call ${index}`);
    settle();
  };
  return { t, ask, halfClose, answer };
}

/** Resolves at the verdict's outcome: the next `rejected` or `admitted` event, whichever comes first. */
const decision = (supervisor: Supervisor) =>
  Promise.race([nextEvent(supervisor, 'rejected'), nextEvent(supervisor, 'admitted')]);

describe('a client that half-closes (FIN) while authenticate runs', () => {
  it('is refused as socket-closed at the FIN: not admitted, no slot, its socket closed, its verdict ignored', async () => {
    const { t, ask, halfClose, answer } = await startHalfCloseServer();
    const before = t.supervisor.stats();
    const { socket, serverSide } = await ask('gone');
    const decided = decision(t.supervisor);
    const clientClosed = once(socket, 'close');
    await halfClose(socket, serverSide);
    await decided;
    answer(0);
    await new Promise<void>((resolve) => setImmediate(resolve));

    expect(t.events.admitted).toEqual([]);
    const [rejected] = t.events.rejected;
    expect(rejected).toMatchObject({ reason: 'socket-closed', userId: undefined });
    expect([rejected?.status, rejected?.via]).toEqual([undefined, undefined]);
    expect(t.supervisor.userStats('gone')).toBeUndefined();
    const after = t.supervisor.stats();
    expect(after.resources).toEqual(before.resources);
    expect(after).toMatchObject({
      connections: 0,
      users: 0,
      counters: { ...before.counters, rejected: before.counters.rejected + 1 },
    });
    // Nothing was written to it, and the server let it go: the client sees its socket close.
    await clientClosed;
    expect(serverSide.destroyed).toBe(true);
    await vi.waitFor(async () => expect(await connectionCount(t.server)).toBe(0), ioWait);
    expectNoLeaks(t.supervisor);
    expect(t.errors).toEqual([]);
  });

  it('at the eviction threshold, evicts no idle connection for a peer that is gone', async () => {
    const { t, ask, halfClose, answer } = await startHalfCloseServer();
    // ann: three connections (T = 4), one of them idle, two active.
    const idle = await t.open('ann');
    const active = [await t.open('ann'), await t.open('ann')];
    t.clock.increment(idleTimeoutMs);
    for (const { ws } of active) await touch(ws);
    expect(t.supervisor.userStats('ann')).toMatchObject({ live: evictAt - 1, idle: 1 });
    const closes: number[] = [];
    idle.ws.on('close', (code) => closes.push(code));

    const { socket, serverSide } = await ask('ann');
    const decided = decision(t.supervisor);
    await halfClose(socket, serverSide);
    await decided;
    answer(0);
    await new Promise<void>((resolve) => setImmediate(resolve));

    expect(t.events.evicted).toEqual([]);
    expect(t.events.admitted).toHaveLength(3);
    expect(t.events.rejected).toMatchObject([{ reason: 'socket-closed' }]);
    // The idle connection is still open, and usable.
    await touch(idle.ws);
    expect(closes).toEqual([]);
    expect(t.supervisor.userStats('ann')).toMatchObject({ live: 3, idle: 0 });
    for (const { ws } of [idle, ...active]) ws.close();
    await vi.waitFor(() => expect(t.supervisor.stats().connections).toBe(0), ioWait);
    expectNoLeaks(t.supervisor);
    expect(t.errors).toEqual([]);
  });

  it('a client that stays open is admitted, with the bytes sent with its request (head) intact', async () => {
    const { t, ask, answer } = await startHalfCloseServer();
    const hello = frame(0x1, Buffer.from('sent with the request'));
    const { socket } = await ask('eager', hello);
    const response = readUntil(socket, (bytes) => bytes.includes('sent with the request'));
    answer(0);
    const bytes = await response;
    expect(bytes.toString('latin1')).toMatch(/^HTTP\/1\.1 101 /);
    expect(t.events.admitted.map((event) => event.userId)).toEqual(['eager']);
    const disposed = nextDisposed(t.supervisor);
    socket.destroy();
    await disposed;
    expectNoLeaks(t.supervisor);
  });

  it('after admission, a half-close is left to ws: the connection ends as closed', async () => {
    const { t } = await startHalfCloseServer();
    const socket = await rawWebSocket(t.port, 'later');
    await vi.waitFor(() => expect(t.supervisor.userStats('later')).toMatchObject({ live: 1 }), ioWait);
    const disposed = nextDisposed(t.supervisor);
    socket.end();
    expect(await disposed).toMatchObject({ userId: 'later', reason: 'closed', closeCode: 1006 });
    expect(t.events.rejected).toEqual([]);
    expect(t.supervisor.userStats('later')).toBeUndefined();
    expectNoLeaks(t.supervisor);
  });
});

describe('in cluster mode, a client that half-closes (FIN) while the book reserves its slot', () => {
  it('is refused as socket-closed once the book answers, and its slot given back', async () => {
    const clock = new SimulatedClock();
    const book = new MemoryBook(() => clock.now());
    const store = book.store('node-0', 30_000);
    // The book answers when the test says.
    const held: (() => void)[] = [];
    const admit = store.admit.bind(store);
    store.admit = (...args) => new Promise<void>((resolve) => held.push(resolve)).then(() => admit(...args));
    const t = await startRulesServer({ clock, cluster: { store, nodeId: 'node-0' } });
    await vi.waitFor(() => expect(t.supervisor.stats().cluster?.leaseHeld).toBe(true), ioWait);
    const serverSockets: Duplex[] = [];
    t.server.on('upgrade', (_request: IncomingMessage, socket: Duplex) => serverSockets.push(socket));

    const socket = await rawConnect(t.port);
    socket.write(upgradeRequest('gone'));
    await vi.waitFor(() => expect(held).toHaveLength(1), ioWait);
    const serverSide = serverSockets[0] as Duplex;
    socket.end();
    await vi.waitFor(() => expect(serverSide.readableEnded).toBe(true), ioWait);
    expect(serverSide.destroyed).toBe(false);

    const decided = decision(t.supervisor);
    const clientClosed = once(socket, 'close');
    held[0]?.();
    await decided;

    expect(t.events.admitted).toEqual([]);
    expect(t.events.rejected).toMatchObject([
      { reason: 'socket-closed', userId: 'gone', message: 'client went away during admission' },
    ]);
    expect([t.events.rejected[0]?.status, t.events.rejected[0]?.via]).toEqual([undefined, undefined]);
    await clientClosed;
    await vi.waitFor(() => expect(book.users.get('gone')?.size ?? 0).toBe(0), ioWait);
    expect(t.supervisor.userStats('gone')).toBeUndefined();
    expectNoLeaks(t.supervisor);
    expect(t.errors).toEqual([]);
  });
});
