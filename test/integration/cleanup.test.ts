/**
 * Cleanup on real sockets: however a connection ends, its slot is free by the
 * time the server socket emits `close`. Each test reads the books from its own
 * `close` listener (added in onOpen, so it runs right after the library's),
 * synchronously: there is no later turn in which a leak could hide. Dead
 * peers, silent errors and handshakes that never finish are bounded by their
 * delays, driven by a SimulatedClock.
 */
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { SimulatedClock } from 'xstate';
import type {
  DisposeReason,
  Supervisor,
  SupervisorOptions,
  SupervisorStats,
  UserStats,
} from '../../src/index.js';
import {
  type CloseWatcher,
  connectionCount,
  createCloseWatcher,
  frame,
  nextDisposed,
  rawConnect,
  rawWebSocket,
  readCloseFrame,
  readResponseHead,
  upgradeRequest,
} from '../helpers/cleanup.js';
import {
  allDisposed,
  closed,
  connect,
  connectRefused,
  expectNoLeaks,
  ioWait,
  nextMessage,
  startServer,
  type TestServer,
} from '../helpers/server.js';

const heartbeatIntervalMs = 1_000;
const connectTimeoutMs = 2_000;
const drainTimeoutMs = 500;
/** Far beyond any increment these tests make: what is set to it never fires. */
const never = 1_000_000_000;

interface WatchedServer extends TestServer {
  clock: SimulatedClock;
  watcher: CloseWatcher;
}

/** A test-preset server (echo) on simulated time, with a close watcher on every server socket. */
async function startWatchedServer(options: Partial<SupervisorOptions> = {}): Promise<WatchedServer> {
  const clock = new SimulatedClock();
  const watcher = createCloseWatcher();
  const t = await startServer({
    clock,
    idleTimeoutMs: never,
    heartbeatIntervalMs,
    connectTimeoutMs,
    drainTimeoutMs,
    onOpen: watcher.onOpen,
    ...options,
  });
  watcher.bind(t.supervisor);
  return { ...t, clock, watcher };
}

/** The id of the n-th connection to open (0-based), from the handles onOpen received. */
function idOf(t: WatchedServer, n: number): string {
  const handle = t.watcher.handles[n];
  if (handle === undefined) throw new Error(`connection #${n} has not opened`);
  return handle.id;
}

/** The books with exactly one quiet, active connection left: its two delays, its four listeners. */
const oneActiveLeft = (disposed: number): Partial<SupervisorStats> => ({
  connections: 1,
  users: 1,
  byState: { connecting: 0, active: 1, draining: 0 },
  counters: { admitted: 2, rejected: 0, evicted: 0, disposed },
  // Listeners: message, pong, close and error on the ws socket, finish on its TCP socket.
  resources: {
    connectionActors: 1,
    userSupervisors: 1,
    lingeringSupervisors: 0,
    pendingTimers: 2,
    socketListeners: 5,
    closeRefusals: 0,
    authenticating: 0,
    rooms: 0,
    roomMemberships: 0,
  },
});

const nothingLeft: SupervisorStats['resources'] = {
  connectionActors: 0,
  userSupervisors: 0,
  lingeringSupervisors: 0,
  pendingTimers: 0,
  socketListeners: 0,
  closeRefusals: 0,
  authenticating: 0,
  rooms: 0,
  roomMemberships: 0,
};

/** Closes the keeper cleanly and checks, from its own close event, that the user is gone. */
async function closeLastAndExpectEmpty(t: WatchedServer, keeper: WebSocket, keeperId: string): Promise<void> {
  keeper.close();
  const snapshot = await t.watcher.closedOnServer(keeperId);
  expect(snapshot.disposed).toBe(true);
  expect(snapshot.user).toBeUndefined();
  expect(snapshot.stats).toMatchObject({ connections: 0, users: 0, resources: nothingLeft });
  await allDisposed(t.supervisor);
  expectNoLeaks(t.supervisor);
}

interface Ending {
  name: string;
  /** Opens the client that is about to leave; returns how it leaves. */
  open(t: WatchedServer, user: string): Promise<() => Promise<void>>;
  reason: DisposeReason;
  closeCode: number | undefined;
  /** The `WS_ERR_*` code the `disposed` event's socketError names; none for an ending without a socket error. */
  socketErrorCode?: string;
}

const wsClient = (end: (ws: WebSocket) => void) => async (t: WatchedServer, user: string) => {
  const ws = await connect(t.url(user));
  return async () => {
    const gone = once(ws, 'close');
    end(ws);
    await gone;
  };
};

const rawClient = (end: (socket: Socket) => void) => async (t: WatchedServer, user: string) => {
  const socket = await rawWebSocket(t.port, user);
  return async () => {
    const gone = once(socket, 'close');
    end(socket);
    await gone;
  };
};

/**
 * A raw client breaks the protocol: ws emits `error` on the server socket and
 * sends the close code; the client reads it, checks it, and hangs up. After
 * a protocol error ws stops parsing the peer's bytes, so no close frame is
 * ever received and the server socket closes with 1006: the `disposed` event
 * says the code the client read all the same.
 */
const protocolError = (bytes: Buffer, expectedCode: number) => async (t: WatchedServer, user: string) => {
  const socket = await rawWebSocket(t.port, user);
  return async () => {
    const gone = once(socket, 'close');
    socket.write(bytes);
    expect(await readCloseFrame(socket)).toBe(expectedCode);
    socket.end();
    await gone;
  };
};

const endings: Ending[] = [
  {
    name: 'a clean close by a ws client (1000)',
    open: wsClient((ws) => ws.close(1000, 'bye')),
    reason: 'closed',
    closeCode: 1000,
  },
  {
    name: 'a clean close with an application code (4321)',
    open: wsClient((ws) => ws.close(4321, 'done here')),
    reason: 'closed',
    closeCode: 4321,
  },
  {
    name: 'an abrupt drop: ws.terminate()',
    open: wsClient((ws) => ws.terminate()),
    reason: 'closed',
    closeCode: 1006,
  },
  {
    name: 'an abrupt drop: the raw TCP socket destroyed (FIN, no close frame)',
    open: rawClient((socket) => socket.destroy()),
    reason: 'closed',
    closeCode: 1006,
  },
  {
    name: 'an abrupt drop: the raw TCP socket reset (RST)',
    open: rawClient((socket) => socket.resetAndDestroy()),
    reason: 'closed',
    closeCode: 1006,
  },
  {
    name: 'a server-side socket error: an unmasked frame (1002)',
    open: protocolError(frame(0x1, Buffer.from('hi'), { masked: false }), 1002),
    reason: 'error',
    closeCode: 1002,
    socketErrorCode: 'WS_ERR_EXPECTED_MASK',
  },
  {
    name: 'a server-side socket error: invalid UTF-8 in a text frame (1007)',
    open: protocolError(frame(0x1, Buffer.from([0xc3, 0x28])), 1007),
    reason: 'error',
    closeCode: 1007,
    socketErrorCode: 'WS_ERR_INVALID_UTF8',
  },
  {
    name: 'a server-side socket error: a reserved opcode (1002)',
    open: protocolError(frame(0x3, Buffer.from('x')), 1002),
    reason: 'error',
    closeCode: 1002,
    socketErrorCode: 'WS_ERR_INVALID_OPCODE',
  },
  {
    name: 'a server-side socket error: a message above maxPayloadBytes (1009)',
    open: protocolError(frame(0x2, Buffer.alloc(65, 1)), 1009),
    reason: 'error',
    closeCode: 1009,
    socketErrorCode: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH',
  },
];

describe('the slot is free when the server socket emits close', () => {
  for (const { name, open, reason, closeCode, socketErrorCode } of endings)
    it(`after ${name}`, async () => {
      // No heartbeat here: a ping would be one more frame for the raw clients to read past.
      const t = await startWatchedServer({ maxPayloadBytes: 64, heartbeatIntervalMs: never });
      // Same user: the user's supervisor stays, so its books must show exactly one live connection.
      const keeper = await connect(t.url('zoe'));
      const leave = await open(t, 'zoe');
      const [keeperId, leaverId] = [idOf(t, 0), idOf(t, 1)];
      const disposed = nextDisposed(t.supervisor, leaverId);
      t.clock.increment(1_234);

      await leave();

      expect(await disposed).toEqual({
        connectionId: leaverId,
        userId: 'zoe',
        reason,
        closeCode,
        lifetimeMs: 1_234,
        // The socket ended and everything was released in the same step.
        cleanupMs: 0,
        opened: true,
        // What ws said, so that the app can tell these endings apart; none for a close or a drop.
        socketError:
          socketErrorCode === undefined ? undefined : { code: socketErrorCode, message: expect.any(String) },
      });
      const snapshot = await t.watcher.closedOnServer(leaverId);
      expect(snapshot.disposed).toBe(true);
      expect(snapshot.user).toMatchObject({ live: 1, idle: 0, draining: 0 });
      expect(snapshot.stats).toMatchObject(oneActiveLeft(1));
      // Only the leaver went: the keeper still echoes.
      keeper.send('still here');
      expect(await nextMessage(keeper)).toBe('still here');
      await closeLastAndExpectEmpty(t, keeper, keeperId);
      expect(t.errors).toEqual([]);
    });

  it('after the app closes the connection itself (connection.close)', async () => {
    const t = await startWatchedServer();
    const keeper = await connect(t.url('amy'));
    const leaver = await connect(t.url('amy'));
    const [keeperId, leaverId] = [idOf(t, 0), idOf(t, 1)];
    const disposed = nextDisposed(t.supervisor, leaverId);
    const clientSaw = closed(leaver);
    t.watcher.handles[1]?.close(4000, 'bye from the app');
    // Draining already frees the user's slot; the process still counts it until it is disposed.
    expect(t.supervisor.userStats('amy')).toMatchObject({ live: 1, draining: 1 });
    expect(await clientSaw).toEqual({ code: 4000, reason: 'bye from the app' });
    expect(await disposed).toMatchObject({ reason: 'app-close', closeCode: 4000, lifetimeMs: 0 });
    const snapshot = await t.watcher.closedOnServer(leaverId);
    expect(snapshot.disposed).toBe(true);
    expect(snapshot.user).toMatchObject({ live: 1, draining: 0 });
    expect(snapshot.stats).toMatchObject(oneActiveLeft(1));
    await closeLastAndExpectEmpty(t, keeper, keeperId);
    expect(t.errors).toEqual([]);
  });

  it('a peer that errors and then stays silent is terminated after drainTimeoutMs', async () => {
    const t = await startWatchedServer();
    // Half-open: it neither answers the close frame nor the server's FIN.
    const socket = await rawWebSocket(t.port, 'sam', { allowHalfOpen: true });
    const id = idOf(t, 0);
    const serverEnded = once(socket, 'end');
    socket.write(frame(0x1, Buffer.from('x'), { masked: false }));
    expect(await readCloseFrame(socket)).toBe(1002);
    await serverEnded; // ws has sent everything it will send; the peer now says nothing
    for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
    // The error moved it to draining: no longer live for its user, still held by the process.
    expect(t.supervisor.stats()).toMatchObject({ connections: 1, byState: { draining: 1 } });
    expect(t.supervisor.userStats('sam')).toMatchObject({ live: 0, draining: 1 });
    expect(t.supervisor.audit().mismatches).toEqual([]); // its books and its actor agree meanwhile

    t.clock.increment(drainTimeoutMs - 1);
    expect(t.disposed).toEqual([]);
    t.clock.increment(1);
    // Disposed at the deadline itself, before the socket has even finished closing.
    expect(t.disposed).toEqual([
      {
        connectionId: id,
        userId: 'sam',
        reason: 'error',
        // The close frame ws sent it, read above: its socket never closed by itself.
        closeCode: 1002,
        socketError: { code: 'WS_ERR_EXPECTED_MASK', message: 'Invalid WebSocket frame: MASK must be set' },
        lifetimeMs: drainTimeoutMs,
        // Its socket failed at once, and held the process-wide slot until the deadline.
        cleanupMs: drainTimeoutMs,
        opened: true,
      },
    ]);
    expect(t.supervisor.stats().connections).toBe(0);
    // terminate() destroyed the server socket; the half-open client cannot tell, so wait on the server side.
    expect((await t.watcher.closedOnServer(id)).stats.resources).toEqual(nothingLeft);
    expectNoLeaks(t.supervisor);
    expect(t.errors).toEqual([]);
  });
});

describe('code that runs at disposal sees the slot already free', () => {
  // README: onClose runs when "the connection reached `disposed`; its slot is
  // already free". A presence check (is this user still connected?) is the
  // everyday use of that promise.
  it('onClose and on(disposed) no longer count the connection in userStats() or stats()', async () => {
    let supervisor: Supervisor | undefined;
    const seen: { where: string; user: UserStats | undefined; stats: SupervisorStats | undefined }[] = [];
    const offline: string[] = [];
    const look = (where: string, userId: string) =>
      seen.push({ where, user: supervisor?.userStats(userId), stats: supervisor?.stats() });
    const t = await startWatchedServer({
      onClose: (connection) => {
        look('onClose', connection.userId);
        if (supervisor?.userStats(connection.userId) === undefined) offline.push(connection.userId);
      },
    });
    supervisor = t.supervisor;
    t.supervisor.on('disposed', (event) => look('disposed', event.userId));
    const first = await connect(t.url('pia'));
    const last = await connect(t.url('pia'));

    first.close();
    await nextDisposed(t.supervisor);
    last.close();
    await allDisposed(t.supervisor);

    expect(seen).toMatchObject([
      { where: 'onClose', user: { live: 1 }, stats: { connections: 1, users: 1 } },
      { where: 'disposed', user: { live: 1 }, stats: { connections: 1, users: 1 } },
      { where: 'onClose', user: undefined, stats: { connections: 0, users: 0 } },
      { where: 'disposed', user: undefined, stats: { connections: 0, users: 0 } },
    ]);
    expect(offline).toEqual(['pia']);
    expectNoLeaks(t.supervisor);
  });
});

describe('heartbeat', () => {
  it('terminates a peer that never answers pings: ping at one interval, dead-peer at the next', async () => {
    const t = await startWatchedServer();
    const silent = new WebSocket(t.url('yan'), { autoPong: false });
    onTestFinished(() => silent.terminate());
    await once(silent, 'open');
    const id = idOf(t, 0);

    const pinged = once(silent, 'ping');
    t.clock.increment(heartbeatIntervalMs);
    await pinged;
    expect(t.supervisor.stats().byState).toEqual({ connecting: 0, active: 1, draining: 0 });

    const clientSaw = closed(silent);
    t.clock.increment(heartbeatIntervalMs - 1);
    expect(t.disposed).toEqual([]);
    t.clock.increment(1);
    // The deadline frees the slot synchronously; the socket closes afterwards.
    expect(t.disposed).toEqual([
      {
        connectionId: id,
        userId: 'yan',
        reason: 'dead-peer',
        closeCode: undefined,
        lifetimeMs: 2 * heartbeatIntervalMs,
        // The socket never said it was ending: no cleanup latency to report.
        cleanupMs: undefined,
        opened: true,
      },
    ]);
    expect(t.supervisor.userStats('yan')).toBeUndefined();
    expect((await clientSaw).code).toBe(1006);
    expect((await t.watcher.closedOnServer(id)).stats.resources).toEqual(nothingLeft);
    expectNoLeaks(t.supervisor);
    expect(t.errors).toEqual([]);
  });

  it('terminates a peer that sends messages but never pongs: activity is not liveness', async () => {
    const t = await startWatchedServer();
    const chatty = new WebSocket(t.url('cat'), { autoPong: false });
    onTestFinished(() => chatty.terminate());
    await once(chatty, 'open');
    const pinged = once(chatty, 'ping');
    t.clock.increment(heartbeatIntervalMs);
    await pinged;
    chatty.send('busy, not alive');
    expect(await nextMessage(chatty)).toBe('busy, not alive');
    const clientSaw = closed(chatty);
    t.clock.increment(heartbeatIntervalMs);
    expect(t.disposed).toMatchObject([{ userId: 'cat', reason: 'dead-peer', closeCode: undefined }]);
    expect((await clientSaw).code).toBe(1006);
    expectNoLeaks(t.supervisor);
  });

  it('keeps a peer that answers, beat after beat, with a bounded number of timers', async () => {
    const pongs: string[] = [];
    const watcher = createCloseWatcher();
    const t = await startWatchedServer({
      onOpen: (connection) => {
        watcher.onOpen(connection);
        // Added after the library's pong listener: when this runs, the pong is booked.
        connection.socket?.on('pong', () => pongs.push(connection.id));
      },
    });
    watcher.bind(t.supervisor);
    const ws = await connect(t.url('xia'));
    const pings: number[] = [];
    ws.on('ping', () => pings.push(t.clock.now()));
    for (let beat = 1; beat <= 5; beat++) {
      const ponged = once(watcher.handles[0]?.socket as WebSocket, 'pong');
      // A whole interval each time: with the pong in, this is the next ping, not the deadline.
      t.clock.increment(heartbeatIntervalMs);
      await ponged;
      expect(pongs).toHaveLength(beat);
      expect(t.supervisor.stats()).toMatchObject({
        byState: { active: 1 },
        counters: { disposed: 0 },
        resources: { pendingTimers: 2, socketListeners: 5 },
      });
    }
    expect(pings).toEqual([1, 2, 3, 4, 5].map((n) => n * heartbeatIntervalMs));
    expect(ws.readyState).toBe(WebSocket.OPEN);
    ws.close();
    await allDisposed(t.supervisor);
    expect(t.disposed).toMatchObject([
      { reason: 'closed', closeCode: 1005, lifetimeMs: 5 * heartbeatIntervalMs },
    ]);
    expectNoLeaks(t.supervisor);
  });
});

/*
 * With the default WebSocketServer, ws completes the handshake synchronously
 * right after admission, so `connecting` never outlives the call that admits.
 * A real request stays there when the app passes its own WebSocketServer whose
 * async verifyClient has not answered yet: that is what these tests use.
 */
describe('connecting is bounded by connectTimeoutMs', () => {
  /** verifyClient that holds every request until the test calls answer(). */
  function heldServer() {
    const answers: ((verified: boolean) => void)[] = [];
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload: 65_536,
      verifyClient: (_info, callback) => answers.push((verified) => callback(verified)),
    });
    return { wss, answers };
  }

  async function waitConnecting(t: TestServer, count: number): Promise<void> {
    await vi.waitFor(() => expect(t.supervisor.stats().byState.connecting).toBe(count), ioWait);
  }

  it('a handshake that never completes is aborted with 503 at the deadline, and nothing is left', async () => {
    const { wss } = heldServer();
    const t = await startWatchedServer({ webSocketServer: wss });
    const refused = connectRefused(t.url('wes'));
    await waitConnecting(t, 1);
    // The slot is reserved before the handshake: connecting counts toward the limit.
    expect(t.supervisor.userStats('wes')).toMatchObject({ live: 1 });
    expect(t.supervisor.stats().resources).toEqual({
      connectionActors: 1,
      userSupervisors: 1,
      lingeringSupervisors: 0,
      pendingTimers: 1, // connectTimeout
      socketListeners: 2, // close and error on the raw TCP socket
      closeRefusals: 0,
      authenticating: 0,
      rooms: 0,
      roomMemberships: 0,
    });

    t.clock.increment(connectTimeoutMs - 1);
    expect(t.supervisor.stats().byState.connecting).toBe(1);
    t.clock.increment(1);
    expect(t.disposed).toMatchObject([
      { userId: 'wes', reason: 'connect-timeout', closeCode: undefined, lifetimeMs: connectTimeoutMs },
    ]);
    // Answered over HTTP (httpStatus); the socket itself said nothing, so no cleanup latency.
    expect(t.disposed[0]).toMatchObject({ httpStatus: 503 });
    expect(t.disposed[0]?.cleanupMs).toBeUndefined();
    expect(t.supervisor.userStats('wes')).toBeUndefined();
    expect(await refused).toBe(503);
    expectNoLeaks(t.supervisor);
    expect(t.watcher.handles).toEqual([]); // onOpen never ran
    expect(t.errors).toEqual([]);
  });

  it('a client that leaves silently (FIN) while connecting is let go at the deadline', async () => {
    // The server does not read a socket before the handshake, so it cannot see
    // the FIN: only the deadline can free this slot.
    const { wss } = heldServer();
    const t = await startWatchedServer({ webSocketServer: wss });
    const socket = await rawConnect(t.port);
    socket.write(upgradeRequest('fin'));
    await waitConnecting(t, 1);
    socket.destroy();
    await once(socket, 'close');
    const disposed = nextDisposed(t.supervisor);
    t.clock.increment(connectTimeoutMs);
    expect(await disposed).toMatchObject({ reason: 'connect-timeout' });
    expectNoLeaks(t.supervisor);
    await vi.waitFor(async () => expect(await connectionCount(t.server)).toBe(0), ioWait);
  });

  it('a client that resets (RST) while connecting is disposed at once, before the deadline', async () => {
    const { wss } = heldServer();
    const t = await startWatchedServer({ webSocketServer: wss });
    const socket = await rawConnect(t.port);
    socket.write(upgradeRequest('rst'));
    await waitConnecting(t, 1);
    const disposed = nextDisposed(t.supervisor);
    socket.resetAndDestroy();
    expect(await disposed).toMatchObject({
      userId: 'rst',
      reason: 'error',
      lifetimeMs: 0,
      // Before the handshake, the TCP socket's own error: nobody has turned the reset into a close yet.
      socketError: { code: 'ECONNRESET', message: expect.any(String) },
    });
    expectNoLeaks(t.supervisor);
  });

  it('a handshake refused by verifyClient while connecting is disposed, and nothing is left', async () => {
    const { wss, answers } = heldServer();
    const t = await startWatchedServer({ webSocketServer: wss });
    const refused = connectRefused(t.url('vic'));
    await waitConnecting(t, 1);
    const disposed = nextDisposed(t.supervisor);
    answers[0]?.(false);
    expect(await refused).toBe(401);
    expect(await disposed).toMatchObject({ userId: 'vic', reason: 'closed', closeCode: 1006 });
    expectNoLeaks(t.supervisor);
  });

  it('a verifyClient that accepts after the deadline opens no socket', async () => {
    const { wss, answers } = heldServer();
    const t = await startWatchedServer({ webSocketServer: wss });
    const socket = await rawConnect(t.port);
    socket.write(upgradeRequest('late'));
    await waitConnecting(t, 1);
    t.clock.increment(connectTimeoutMs);
    expect(await readResponseHead(socket)).toMatch(/^HTTP\/1\.1 503/);
    answers[0]?.(true);
    await once(socket, 'close');
    expect(t.watcher.handles).toEqual([]);
    expect(t.disposed).toMatchObject([{ reason: 'connect-timeout' }]);
    expectNoLeaks(t.supervisor);
    expect(t.errors).toEqual([]);
  });
});
