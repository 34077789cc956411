/**
 * Bad input gets a clear, typed answer and allocates nothing: refused
 * upgrades, malformed handshakes, oversized messages, app code that throws,
 * bad arguments. Time is a SimulatedClock that these tests never advance, so
 * no heartbeat or idle timer can fire in the middle of one.
 */
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { runInNewContext } from 'node:vm';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { SimulatedClock } from 'xstate';
import {
  AppHookError,
  type AuthResult,
  type ConnectionHandle,
  createSupervisor,
  type RejectedEvent,
  type Supervisor,
  SupervisorError,
  type SupervisorEventName,
  type SupervisorOptions,
  type SupervisorStats,
} from '../../src/index.js';
import {
  connectionCount,
  createCloseWatcher,
  rawConnect,
  readResponseHead,
  upgradeRequest,
} from '../helpers/cleanup.js';
import { MemoryBook } from '../helpers/memory-slot-store.js';
import { closeRefusal } from '../helpers/refusals.js';
import { refusal } from '../helpers/rules.js';
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
  userFromQuery,
} from '../helpers/server.js';

/** A test-preset echo server on a clock that never moves unless a test says so. */
const startQuietServer = (options: Partial<SupervisorOptions> = {}) =>
  startServer({ clock: new SimulatedClock(), ...options });

/** Exactly one error was reported: the app's `hook` failed with `cause` (for `connectionId`, when given). */
function expectOneAppHookError(
  errors: readonly unknown[],
  expected: { hook: string; cause: unknown; connectionId?: string | undefined },
): void {
  expect(errors).toHaveLength(1);
  expect(errors[0]).toBeInstanceOf(AppHookError);
  expect(errors[0]).toMatchObject({ code: 'WSSUP_APP_HOOK_FAILED', ...expected });
}

/** Nothing new is held and nobody new was admitted: only `rejected` moved, by one. */
function expectNothingAllocated(before: SupervisorStats, after: SupervisorStats): void {
  expect(after.resources).toEqual(before.resources);
  expect(after).toMatchObject({
    connections: before.connections,
    users: before.users,
    counters: { ...before.counters, rejected: before.counters.rejected + 1 },
  });
}

describe('refused upgrades allocate nothing', () => {
  const boom = new Error('token store down');
  // The 6th element: what onError is told when the app's authenticate, not the client, is at fault.
  const cases: [string, number, string, RegExp, (request: IncomingMessage) => unknown, RegExp?][] = [
    ['authenticate returns null', 401, 'unauthenticated', /^unauthenticated$/, () => null],
    ['authenticate returns undefined', 401, 'unauthenticated', /^unauthenticated$/, () => undefined],
    ['authenticate resolves null', 401, 'unauthenticated', /^unauthenticated$/, async () => null],
    ['an empty user id', 400, 'invalid-user-id', /empty/, () => ''],
    ['an empty user id in an object', 400, 'invalid-user-id', /empty/, () => ({ userId: '' })],
    ['a user id of 129 characters', 400, 'invalid-user-id', /longer than 128 bytes/, () => 'u'.repeat(129)],
    [
      'a user id of 65 two-byte characters (130 bytes)',
      400,
      'invalid-user-id',
      /longer than 128 bytes/,
      () => 'é'.repeat(65),
    ],
    ['a bidi override in the user id', 400, 'invalid-user-id', /bidirectional/, () => '\u202Eecila'],
    ['a line separator in the user id', 400, 'invalid-user-id', /separator/, () => 'eve\u2028admin'],
    ['U+FFFD in the user id', 400, 'invalid-user-id', /U\+FFFD/, () => 'eve\uFFFD'],
    ['a lone surrogate in the user id', 400, 'invalid-user-id', /lone surrogate/, () => 'eve\uD83D'],
    ['a newline in the user id', 400, 'invalid-user-id', /control characters/, () => 'eve\nadmin'],
    ['a NUL in the user id', 400, 'invalid-user-id', /control characters/, () => 'eve\u0000'],
    ['a DEL in the user id', 400, 'invalid-user-id', /control characters/, () => 'eve\u007f'],
    ['a C1 control (NEL) in the user id', 400, 'invalid-user-id', /control characters/, () => 'eve\u0085'],
    [
      'a user id that is a number',
      500,
      'auth-failed',
      /^authentication failed$/,
      () => 42,
      /^authenticate returned 42, not a user id: /,
    ],
    [
      'an object whose userId is a number',
      500,
      'auth-failed',
      /^authentication failed$/,
      () => ({ userId: 42 }),
      /^authenticate returned an object whose userId is 42, not a user id: /,
    ],
    [
      'an object without userId',
      500,
      'auth-failed',
      /^authentication failed$/,
      () => ({ id: 'alice' }),
      // Its keys named: "whose userId is undefined" left the app to guess that it wrote `id`.
      /^authenticate returned an object without userId \(its keys: id\), not a user id: /,
    ],
    [
      'authenticate throws',
      500,
      'auth-failed',
      /^authentication failed$/,
      () => {
        throw boom;
      },
    ],
    ['authenticate rejects', 500, 'auth-failed', /^authentication failed$/, () => Promise.reject(boom)],
    // Socket.IO's next(new Error(…)), in JavaScript: returned, it is the thrown one (not a 400).
    ['authenticate returns an Error', 500, 'auth-failed', /^authentication failed$/, () => boom],
    [
      'authenticate resolves to an Error',
      500,
      'auth-failed',
      /^authentication failed$/,
      () => Promise.resolve(boom),
    ],
  ];

  it.each(cases)('%s: HTTP %i, reason %s', async (_name, status, reason, message, authenticate, reported) => {
    // A bystander holds a connection, so "unchanged" is checked against books that are not empty.
    const t = await startQuietServer({
      authenticate: (request) =>
        userFromQuery(request) === 'bystander' ? 'bystander' : (authenticate(request) as AuthResult),
    });
    const bystander = await connect(t.url('bystander'));
    const rejected: unknown[] = [];
    t.supervisor.on('rejected', (event) => rejected.push(event));
    const before = t.supervisor.stats();

    const answer = await refusal(t.url('whoever'));

    expect(answer.status).toBe(status);
    expect(rejected).toEqual([
      {
        reason,
        status,
        userId: undefined,
        message: expect.stringMatching(message),
        via: 'http',
        remoteAddress: '127.0.0.1',
      },
    ]);
    // The client reads the same clear message as the body.
    expect(answer.body).toBe(`${(rejected[0] as { message: string }).message}\n`);
    expectNothingAllocated(before, t.supervisor.stats());
    if (reported !== undefined) {
      // A user id that is not a string is the app's slip, never the client's: a 500 the client
      // backs off from (a 400 suspended ws-supervisor/client for good), and this report.
      expectOneAppHookError(t.errors, {
        hook: 'authenticate',
        connectionId: undefined,
        cause: expect.objectContaining({ name: 'TypeError', message: expect.stringMatching(reported) }),
      });
    } else if (reason === 'auth-failed') {
      expectOneAppHookError(t.errors, { hook: 'authenticate', connectionId: undefined, cause: boom });
    } else {
      expect(t.errors).toEqual([]);
    }
    bystander.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it('accepts user ids of exactly 128 bytes and non-ASCII ids', async () => {
    const t = await startQuietServer();
    const long = await connect(t.url('u'.repeat(128)));
    const longUnicode = await connect(t.url('é'.repeat(64)));
    const unicode = await connect(t.url('Zoë-日本'));
    expect(t.supervisor.stats().users).toBe(3);
    expect(t.supervisor.userStats('Zoë-日本')).toMatchObject({ live: 1 });
    long.close();
    longUnicode.close();
    unicode.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });
});

describe("authenticate returning an Error (Socket.IO's next(new Error(…)) in JavaScript)", () => {
  it.each([
    ['returned', (error: Error) => error, () => new Error('bad token')],
    ['resolved', (error: Error) => Promise.resolve(error), () => new Error('bad token')],
    // Another realm's Error (a vm context), which instanceof Error misses (review).
    [
      'returned from another realm',
      (error: Error) => error,
      () => runInNewContext("new Error('bad token')") as Error,
    ],
  ])(
    "%s: answered as a thrown one, close 4500 with refuse: 'close', and onError says what to do",
    async (_, give, make) => {
      const badToken = make();
      const t = await startQuietServer({
        refuse: 'close',
        authenticate: () => give(badToken) as unknown as AuthResult,
      });
      expect(await closeRefusal(t.url('ann'))).toEqual({
        code: 4500,
        reason: 'authentication failed refusal=auth-failed',
        retryAfter: undefined,
      });
      expectOneAppHookError(t.errors, { hook: 'authenticate', connectionId: undefined, cause: badToken });
      const reported = t.errors[0] as AppHookError;
      expect(reported.message).toBe(
        'App hook authenticate returned an Error: throw it, or return a Refusal to choose the status (its message: bad token)',
      );
      expect(reported.stack?.split('\n')[0]).toBe(`AppHookError: ${reported.message}`);
      await vi.waitFor(() => expect(t.supervisor.stats().resources.closeRefusals).toBe(0), ioWait);
      expectNoLeaks(t.supervisor);
    },
  );
});

describe('a client that leaves during a slow authenticate leaves nothing behind', () => {
  /** authenticate waits for the test; the server socket of each upgrade is captured. */
  async function slowAuthServer() {
    const answers: ((user: string) => void)[] = [];
    const t = await startQuietServer({
      authenticate: () => new Promise<string>((resolve) => answers.push(resolve)),
    });
    const serverSockets: Duplex[] = [];
    t.server.on('upgrade', (_request: IncomingMessage, socket: Duplex) => serverSockets.push(socket));
    const outcomes: string[] = [];
    t.supervisor.on('admitted', () => outcomes.push('admitted'));
    t.supervisor.on('rejected', (event) => outcomes.push(`rejected ${event.reason} ${event.status}`));
    t.supervisor.on('disposed', (event) => outcomes.push(`disposed ${event.reason} ${event.closeCode}`));
    const startedWaiting = async (socket: Socket) => {
      socket.write(upgradeRequest('gone'));
      await vi.waitFor(() => expect(answers).toHaveLength(1), ioWait);
    };
    return { t, answers, serverSockets, outcomes, startedWaiting };
  }

  it('a reset (RST) is seen before the answer: refused as socket-closed, with no status and no slot', async () => {
    const { t, answers, serverSockets, outcomes, startedWaiting } = await slowAuthServer();
    const socket = await rawConnect(t.port);
    // Read before the request: while authenticate runs, its timer (authenticateTimeoutMs) is pending.
    const before = t.supervisor.stats();
    await startedWaiting(socket);
    const serverSide = serverSockets[0] as Duplex;
    // Not once(): it would reject on the ECONNRESET the server socket emits first.
    const serverClosed = new Promise((resolve) => serverSide.once('close', resolve));
    socket.resetAndDestroy();
    await serverClosed;

    answers[0]?.('gone');
    await vi.waitFor(() => expect(outcomes).toHaveLength(1), ioWait);

    expect(outcomes).toEqual(['rejected socket-closed undefined']);
    expectNothingAllocated(before, t.supervisor.stats());
    expect(t.supervisor.userStats('gone')).toBeUndefined();
    expect(await connectionCount(t.server)).toBe(0);
    expectNoLeaks(t.supervisor);
    expect(t.errors).toEqual([]);
  });

  it('a quiet close (FIN) is seen before the answer too: refused as socket-closed, with no status and no slot', async () => {
    // Node's HTTP server keeps the half-closed socket open (allowHalfOpen),
    // but its readable side has ended: the client has gone, exactly as after
    // a reset (see half-close.test.ts for the eviction this used to cause).
    const { t, answers, serverSockets, outcomes, startedWaiting } = await slowAuthServer();
    const socket = await rawConnect(t.port);
    const before = t.supervisor.stats();
    await startedWaiting(socket);
    const serverSide = serverSockets[0] as Duplex;
    socket.destroy();
    await once(socket, 'close');
    await vi.waitFor(() => expect(serverSide.readableEnded).toBe(true), ioWait);

    answers[0]?.('gone');
    await vi.waitFor(() => expect(outcomes).toHaveLength(1), ioWait);

    expect(outcomes).toEqual(['rejected socket-closed undefined']);
    expectNothingAllocated(before, t.supervisor.stats());
    expect(t.supervisor.userStats('gone')).toBeUndefined();
    expectNoLeaks(t.supervisor);
    await vi.waitFor(async () => expect(await connectionCount(t.server)).toBe(0), ioWait);
    expect(t.errors).toEqual([]);
  });
});

// A malformed upgrade request is refused before authenticate and admission:
// see handshake.test.ts.

describe('an app’s webSocketServer that throws while completing an admitted handshake', () => {
  // checkHandshake runs the app's shouldHandle before admission; these hooks
  // of the app's own server run only inside ws's handleUpgrade, after it.
  const boom = new Error('handshake hook bug');
  const cases: [string, () => WebSocketServer, Record<string, string>][] = [
    [
      'handleProtocols throws',
      () =>
        new WebSocketServer({
          noServer: true,
          maxPayload: 65_536,
          handleProtocols: () => {
            throw boom;
          },
        }),
      { 'Sec-WebSocket-Protocol': 'chat' },
    ],
    [
      'a headers listener throws',
      () =>
        new WebSocketServer({ noServer: true, maxPayload: 65_536 }).on('headers', () => {
          throw boom;
        }),
      {},
    ],
    [
      'a synchronous verifyClient throws',
      () =>
        new WebSocketServer({
          noServer: true,
          maxPayload: 65_536,
          verifyClient: (_info: unknown) => {
            throw boom;
          },
        }),
      {},
    ],
  ];

  it.each(cases)(
    '%s: reported as an AppHookError, the client is answered at once, and nothing is left',
    async (_name, webSocketServer, headers) => {
      const t = await startQuietServer({ webSocketServer: webSocketServer() });
      const socket = await rawConnect(t.port);
      socket.write(upgradeRequest('hooked', { headers }));
      // The clock never moves: only an immediate answer, not connectTimeoutMs, can come.
      expect(await readResponseHead(socket)).toMatch(/^HTTP\/1\.1 5\d\d /);
      await allDisposed(t.supervisor);
      expect(t.disposed).toMatchObject([{ userId: 'hooked', reason: 'error' }]);
      expectOneAppHookError(t.errors, {
        hook: 'webSocketServer.handleUpgrade',
        cause: boom,
        connectionId: t.disposed[0]?.connectionId,
      });
      expectNoLeaks(t.supervisor);
    },
  );

  it('handleUpgrade() still resolves: it never rejects', async () => {
    const webSocketServer = new WebSocketServer({ noServer: true, maxPayload: 65_536 }).on('headers', () => {
      throw boom;
    });
    const t = await startQuietServer({ webSocketServer });
    const upgrades: Promise<void>[] = [];
    // Routed by the app, as in the README: its own upgrade listener, the supervisor's promise kept.
    t.server.removeAllListeners('upgrade');
    t.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) =>
      upgrades.push(t.supervisor.handleUpgrade(request, socket, head)),
    );
    const socket = await rawConnect(t.port);
    socket.write(upgradeRequest('routed'));
    await vi.waitFor(() => expect(upgrades).toHaveLength(1), ioWait);
    await expect(upgrades[0]).resolves.toBeUndefined();
    await readResponseHead(socket);
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });
});

describe('handleUpgrade() never rejects', () => {
  const boom = new Error('getter bug');
  const throwsWhenRead = () =>
    ({
      get userId(): string {
        throw boom;
      },
    }) as AuthResult;

  it('an authenticate result that throws when read is reported and answered 500 internal-error; nothing held', async () => {
    const t = await startQuietServer({ authenticate: throwsWhenRead });
    const before = t.supervisor.stats();
    const rejected: { reason: string; status: number | undefined }[] = [];
    t.supervisor.on('rejected', (event) => rejected.push(event));
    const upgrades: Promise<void>[] = [];
    t.server.removeAllListeners('upgrade');
    t.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) =>
      upgrades.push(t.supervisor.handleUpgrade(request, socket, head)),
    );
    const socket = await rawConnect(t.port);
    socket.write(upgradeRequest('getter'));
    // Nothing was written to it yet: the client gets an answer, not a reset.
    expect(await readResponseHead(socket)).toMatch(/^HTTP\/1\.1 500 /);
    await vi.waitFor(() => expect(upgrades).toHaveLength(1), ioWait);
    await expect(upgrades[0]).resolves.toBeUndefined();
    expect(t.errors.splice(0)).toEqual([expect.objectContaining({ code: 'WSSUP_INTERNAL', cause: boom })]);
    expect(rejected).toMatchObject([{ reason: 'internal-error', status: 500 }]);
    expectNothingAllocated(before, t.supervisor.stats());
    expectNoLeaks(t.supervisor);
  });

  it("with refuse: 'close', the same failure is answered with close 4500", async () => {
    const t = await startQuietServer({ authenticate: throwsWhenRead, refuse: 'close' });
    expect(await closeRefusal(t.url('getter'))).toEqual({
      code: 4500,
      reason: 'internal error refusal=internal-error',
      retryAfter: undefined,
    });
    expect(t.errors.splice(0)).toEqual([expect.objectContaining({ code: 'WSSUP_INTERNAL', cause: boom })]);
    await vi.waitFor(() => expect(t.supervisor.stats().resources.closeRefusals).toBe(0), ioWait);
    expectNoLeaks(t.supervisor);
  });
});

describe('handleUpgrade() called without the head of the upgrade event', () => {
  it('is refused at once with HTTP 500 and reported as WSSUP_INVALID_ARGUMENT; nothing is admitted or held', async () => {
    const t = await startQuietServer();
    const before = t.supervisor.stats();
    const rejected: { reason: string }[] = [];
    t.supervisor.on('rejected', (event) => rejected.push(event));
    const upgrades: Promise<void>[] = [];
    // The slip: an app's own upgrade listener that drops `head` (or plain JavaScript passing anything).
    t.server.removeAllListeners('upgrade');
    t.server.on('upgrade', (request: IncomingMessage, socket: Duplex) =>
      upgrades.push(t.supervisor.handleUpgrade(request, socket, undefined as unknown as Buffer)),
    );
    const socket = await rawConnect(t.port);
    socket.write(upgradeRequest('headless'));
    // The clock never moves: only an immediate answer, not connectTimeoutMs, can come.
    expect(await readResponseHead(socket)).toMatch(/^HTTP\/1\.1 500 /);
    await expect(upgrades[0]).resolves.toBeUndefined();
    expect(t.errors).toEqual([expect.objectContaining({ code: 'WSSUP_INVALID_ARGUMENT' })]);
    expect((t.errors[0] as Error).message).toMatch(/head must be the Buffer/);
    expectNothingAllocated(before, t.supervisor.stats());
    expect(rejected).toMatchObject([{ reason: 'bad-handshake' }]);
    expectNoLeaks(t.supervisor);
  });
});

describe('handleUpgrade() called with a request or socket that is not one', () => {
  type Call = (
    supervisor: Supervisor,
    request: IncomingMessage,
    socket: Duplex,
    head: Buffer,
  ) => Promise<void>;
  const slips: [string, RegExp, Call][] = [
    [
      'request and socket swapped',
      /socket must be the Duplex/,
      (supervisor, request, socket, head) =>
        supervisor.handleUpgrade(socket as unknown as IncomingMessage, request as unknown as Duplex, head),
    ],
    [
      'no socket',
      /socket must be the Duplex.*got undefined/,
      (supervisor, request, _socket, head) =>
        supervisor.handleUpgrade(request, undefined as unknown as Duplex, head),
    ],
    [
      'no request',
      /request must be the IncomingMessage.*got undefined/,
      (supervisor, _request, socket, head) =>
        supervisor.handleUpgrade(undefined as unknown as IncomingMessage, socket, head),
    ],
  ];
  it.each(slips)(
    '(%s) resolves, reports WSSUP_INVALID_ARGUMENT naming the argument, and closes the connection',
    async (_name, says, call) => {
      const t = await startQuietServer();
      const before = t.supervisor.stats();
      const upgrades: Promise<void>[] = [];
      t.server.removeAllListeners('upgrade');
      t.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) =>
        upgrades.push(call(t.supervisor, request, socket, head)),
      );
      const socket = await rawConnect(t.port);
      const ended = once(socket, 'close');
      socket.write(upgradeRequest('slip'));
      await vi.waitFor(() => expect(upgrades).toHaveLength(1), ioWait);
      // Never a rejection: under an `upgrade` listener it would be unhandled and end the process.
      await expect(upgrades[0]).resolves.toBeUndefined();
      // The caller's mistake, said as such: not WSSUP_INTERNAL ("a bug in ws-supervisor").
      expect(t.errors).toEqual([expect.objectContaining({ code: 'WSSUP_INVALID_ARGUMENT' })]);
      expect((t.errors[0] as Error).message).toMatch(says);
      // Nothing can be answered on what is not a socket: the client is not left waiting.
      await ended;
      // No request to refuse, so no `rejected` event either: the books have not moved.
      expect(t.supervisor.stats()).toEqual(before);
      expectNoLeaks(t.supervisor);
    },
  );
});

describe("handleUpgrade() called from a 'request' handler, with its ServerResponse", () => {
  // A route (`app.get('/ws', (req, res) => supervisor.handleUpgrade(req, res, head))`) gets a
  // ServerResponse, which has end() and destroy() too: it was taken for the socket, and the
  // raw HTTP answer (a 400, or a 101 and WebSocket frames) was written as the body of a 200.
  it.each([
    ['an upgrade request (a server with no upgrade listener hands it to request)', true],
    ['a plain GET', false],
  ])(
    '%s: resolves, reports WSSUP_INVALID_ARGUMENT saying where the call belongs, writes no answer',
    async (_name, upgrade) => {
      const t = await startQuietServer();
      const before = t.supervisor.stats();
      const upgrades: Promise<void>[] = [];
      t.server.removeAllListeners('upgrade');
      t.server.removeAllListeners('request');
      t.server.on('request', (request: IncomingMessage, response: unknown) =>
        upgrades.push(t.supervisor.handleUpgrade(request, response as Duplex, Buffer.alloc(0))),
      );
      const socket = await rawConnect(t.port);
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      const ended = once(socket, 'close');
      socket.write(upgrade ? upgradeRequest('route') : 'GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      await vi.waitFor(() => expect(upgrades).toHaveLength(1), ioWait);
      await expect(upgrades[0]).resolves.toBeUndefined();
      expect(t.errors).toEqual([expect.objectContaining({ code: 'WSSUP_INVALID_ARGUMENT' })]);
      expect((t.errors[0] as Error).message).toBe(
        "handleUpgrade(request, socket, head): socket must be the Duplex of Node's 'upgrade' event, got a " +
          "ServerResponse: call handleUpgrade() from the server's 'upgrade' listener, not from a request " +
          'handler or route (or let attach(server) listen for you)',
      );
      await ended;
      // Nothing was written into the response: no 200 whose body is a raw HTTP answer.
      expect(Buffer.concat(chunks).toString('latin1')).toBe('');
      expect(t.supervisor.stats()).toEqual(before);
      expectNoLeaks(t.supervisor);
    },
  );
});

describe('a socket another WebSocket server of the same http server already upgraded', () => {
  // Old code left in place: `new WebSocketServer({ server })` answers every upgrade first, then
  // the supervisor's listener admitted the same socket, ws threw "called more than once", and that
  // was reported as the app's own hook failing (`webSocketServer.handleUpgrade`) though the app
  // passed no webSocketServer. Now nothing is admitted, and the report says what to change.
  it('is left to that server: WSSUP_INVALID_ARGUMENT saying so, nothing admitted', async () => {
    const t = await startQuietServer();
    const before = t.supervisor.stats();
    t.server.removeAllListeners('upgrade');
    const legacy = new WebSocketServer({ server: t.server });
    onTestFinished(() => void legacy.close());
    legacy.on('connection', (socket) => socket.on('message', (data) => socket.send(data)));
    const upgrades: Promise<void>[] = [];
    t.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) =>
      upgrades.push(t.supervisor.handleUpgrade(request, socket, head)),
    );
    const ws = new WebSocket(t.url('legacy'));
    onTestFinished(() => ws.terminate());
    await once(ws, 'open');
    await vi.waitFor(() => expect(upgrades).toHaveLength(1), ioWait);
    await expect(upgrades[0]).resolves.toBeUndefined();
    expect(t.errors).toEqual([expect.objectContaining({ code: 'WSSUP_INVALID_ARGUMENT' })]);
    expect((t.errors[0] as Error).message).toBe(
      'handleUpgrade(): this socket was already upgraded by another WebSocket server of the same ' +
        'http server (a ws WebSocketServer created with { server }?), and is left to it: give attach() ' +
        'a path of its own (attach(server, { path: "/ws" })), or remove the other server',
    );
    // The other server's connection works on, undisturbed.
    ws.send('still mine');
    expect(String((await once(ws, 'message'))[0])).toBe('still mine');
    expect(t.supervisor.stats()).toEqual(before);
    expectNoLeaks(t.supervisor);
  });
});

describe('another WebSocket server of the same http server, created after attach(server)', () => {
  // Its 'upgrade' listener runs second, in the same emit: the supervisor's upgrade() has
  // started, and yields a microtask before deciding anything, while that server upgrades the
  // socket. One that upgrades later (`later`) does so while the supervisor awaits authenticate.
  // The supervisor used to resume and admit (or answer) a socket that already carried the
  // other server's WebSocket, and both connections broke.
  const leftToIt =
    'handleUpgrade(): this socket was already upgraded by another WebSocket server of the same ' +
    'http server (a ws WebSocketServer created with { server }?), and is left to it: give attach() ' +
    'a path of its own (attach(server, { path: "/ws" })), or remove the other server';

  /** The supervisor's server, then a ws server made with `{ server }` after attach(); each upgrade's socket. */
  async function withLaterServer(
    options: Partial<SupervisorOptions>,
    legacyOptions: { path?: string } = {},
    { before = false, later = false } = {},
  ) {
    const t = await startQuietServer(options);
    // `before`: the other server's listener first, as if made before attach(server).
    const attached = before ? t.server.listeners('upgrade') : [];
    if (before) t.server.removeAllListeners('upgrade');
    const sockets: Duplex[] = [];
    // Prepended: sees each socket first, and keeps no listener on it.
    t.server.prependListener(
      'upgrade',
      (_request: IncomingMessage, socket: Duplex) => void sockets.push(socket),
    );
    // `later`: it upgrades a moment after its listener ran (Engine.IO with a middleware, say),
    // once the supervisor has called authenticate and awaits its verdict.
    const legacy = new WebSocketServer(later ? { noServer: true } : { server: t.server, ...legacyOptions });
    if (later) {
      t.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
        setImmediate(() =>
          legacy.handleUpgrade(request, socket, head, (ws) => legacy.emit('connection', ws, request)),
        );
      });
    }
    for (const listener of attached) t.server.on('upgrade', listener as (...args: unknown[]) => void);
    onTestFinished(() => void legacy.close());
    legacy.on('connection', (socket) =>
      socket.on('message', (data) => socket.send(`legacy:${String(data)}`)),
    );
    return { t, legacy, sockets };
  }

  /** The other server's connection works: an echo through it comes back from it. */
  async function expectLegacyWorks(ws: WebSocket): Promise<void> {
    ws.send('still mine');
    expect(String((await once(ws, 'message'))[0])).toBe('legacy:still mine');
  }

  /** What the supervisor left on the socket: only ws's own listeners (no 'error' of ours). */
  const errorListeners = (socket: Duplex | undefined) =>
    socket?.listeners('error').map((listener) => listener.name);

  /** A client of ann through the http server, whose upgrade the other server takes: open. */
  async function openOnIt(t: TestServer, options?: WebSocket.ClientOptions): Promise<WebSocket> {
    const ws = new WebSocket(t.url('ann'), options);
    onTestFinished(() => ws.terminate());
    await once(ws, 'open');
    return ws;
  }

  /** Left to the other server: its connection works, and the supervisor kept nothing of it. */
  async function expectLeftAlone(t: TestServer, ws: WebSocket, socket: Duplex | undefined): Promise<void> {
    await expectLegacyWorks(ws);
    expect(errorListeners(socket)).toEqual(['socketOnError']);
    expectNoLeaks(t.supervisor);
  }

  it('without a path: the socket is left to it before authenticate is called, reported once, nothing admitted or refused', async () => {
    let authenticated = 0;
    const { t, sockets } = await withLaterServer({
      authenticate: () => {
        authenticated += 1;
        return 'ann';
      },
    });
    const before = t.supervisor.stats();
    const rejected: unknown[] = [];
    t.supervisor.on('rejected', (event) => void rejected.push(event));
    const ws = await openOnIt(t);
    await vi.waitFor(() => expect(t.errors).toHaveLength(1), ioWait);
    expect(t.errors[0]).toMatchObject({ code: 'WSSUP_INVALID_ARGUMENT', message: leftToIt });
    expect(rejected).toEqual([]);
    expect(t.supervisor.stats()).toEqual(before);
    expect(t.errors).toHaveLength(1);
    expect(authenticated).toBe(0);
    await expectLeftAlone(t, ws, sockets[0]);
  });

  it('without a path, an authenticate that resolves later: the verdict finds the socket taken and leaves it', async () => {
    let admitAnn: (user: AuthResult) => void = () => {};
    const { t, sockets } = await withLaterServer(
      { authenticate: () => new Promise<AuthResult>((resolve) => (admitAnn = resolve)) },
      {},
      { later: true },
    );
    const before = t.supervisor.stats();
    const ws = await openOnIt(t);
    expect(t.supervisor.stats().resources.authenticating).toBe(1);
    admitAnn('ann');
    await vi.waitFor(() => expect(t.errors).toHaveLength(1), ioWait);
    expect(t.errors[0]).toMatchObject({ code: 'WSSUP_INVALID_ARGUMENT', message: leftToIt });
    expect(t.supervisor.stats()).toEqual(before);
    await expectLeftAlone(t, ws, sockets[0]);
  });

  it('without a path, an authenticate that never settles: at authenticateTimeoutMs nothing is written to the socket', async () => {
    const clock = new SimulatedClock();
    const { t, sockets } = await withLaterServer(
      { clock, authenticate: () => new Promise<AuthResult>(() => {}) },
      {},
      { later: true },
    );
    const before = t.supervisor.stats();
    const ws = await openOnIt(t);
    await vi.waitFor(() => expect(t.supervisor.stats().resources.authenticating).toBe(1), ioWait);
    clock.increment(t.supervisor.options.authenticateTimeoutMs);
    // The timeout is the supervisor's own failure to hear from authenticate: reported as ever,
    // and then the socket is found taken: said once, and left.
    expect(t.errors.map((error) => error.code)).toEqual(['WSSUP_APP_HOOK_FAILED', 'WSSUP_INVALID_ARGUMENT']);
    expect(t.errors[1]?.message).toBe(leftToIt);
    expect(t.supervisor.stats()).toEqual(before);
    await expectLeftAlone(t, ws, sockets[0]);
  });

  it('without a path, shutdown while authenticate runs: no 503 is written into the socket the other server took', async () => {
    const { t, sockets } = await withLaterServer(
      { authenticate: () => new Promise<AuthResult>(() => {}) },
      {},
      { later: true },
    );
    const rejected: unknown[] = [];
    t.supervisor.on('rejected', (event) => void rejected.push(event));
    const ws = await openOnIt(t);
    await vi.waitFor(() => expect(t.supervisor.stats().resources.authenticating).toBe(1), ioWait);
    await t.supervisor.shutdown({ deadlineMs: 200 });
    expect(t.errors).toEqual([
      expect.objectContaining({ code: 'WSSUP_INVALID_ARGUMENT', message: leftToIt }),
    ]);
    expect(rejected).toEqual([]);
    await expectLeftAlone(t, ws, sockets[0]);
  });

  it('without a path, the other server’s connection closes while authenticate runs: reported once, not refused, nothing left', async () => {
    const { t, sockets } = await withLaterServer(
      { authenticate: () => new Promise<AuthResult>(() => {}) },
      {},
      { later: true },
    );
    const before = t.supervisor.stats();
    const rejected: unknown[] = [];
    t.supervisor.on('rejected', (event) => void rejected.push(event));
    const ws = await openOnIt(t);
    await vi.waitFor(() => expect(t.supervisor.stats().resources.authenticating).toBe(1), ioWait);
    ws.close();
    await once(ws, 'close');
    await vi.waitFor(() => expect(t.supervisor.stats().resources.authenticating).toBe(0), ioWait);
    expect(t.errors).toEqual([
      expect.objectContaining({ code: 'WSSUP_INVALID_ARGUMENT', message: leftToIt }),
    ]);
    expect(rejected).toEqual([]);
    expect(t.supervisor.stats()).toEqual(before);
    expect(sockets[0]?.listenerCount('close')).toBe(0);
    expectNoLeaks(t.supervisor);
  });

  it.each([
    ['after', false],
    ['before', true],
  ])(
    'with a path of its own, created %s: ws answers 400 to every other path, the supervisor’s too: that socket is not admitted, and nothing leaks',
    async (_order, before) => {
      const { t, sockets } = await withLaterServer({}, { path: '/other' }, { before });
      const initially = t.supervisor.stats();
      const admitted: unknown[] = [];
      const rejected: RejectedEvent[] = [];
      t.supervisor.on('admitted', (event) => void admitted.push(event));
      t.supervisor.on('rejected', (event) => void rejected.push(event));
      expect(await connectRefused(t.url('ann'))).toBe(400);
      await vi.waitFor(() => expect(rejected).toHaveLength(1), ioWait);
      // ws's answer is the one the client got: the supervisor wrote nothing, and admitted nothing.
      expect(rejected[0]).toMatchObject({ reason: 'socket-closed', status: undefined, via: undefined });
      expect(errorListeners(sockets[0])).not.toContain('ignore');
      // Its own path is its own: the supervisor, given that request as well, leaves it.
      const other = new WebSocket(t.url('bob', '/other'));
      onTestFinished(() => other.terminate());
      await once(other, 'open');
      await vi.waitFor(() => expect(t.errors).toHaveLength(1), ioWait);
      expect(t.errors[0]).toMatchObject({ code: 'WSSUP_INVALID_ARGUMENT', message: leftToIt });
      await expectLegacyWorks(other);
      expect(admitted).toEqual([]);
      expect(t.supervisor.stats()).toEqual({
        ...initially,
        counters: { ...initially.counters, rejected: initially.counters.rejected + 1 },
      });
      expectNoLeaks(t.supervisor);
    },
  );

  it.each([
    ['a page of another origin (allowedOrigins)', { allowedOrigins: ['https://app.example'] }, false],
    ['a request after shutdown() began', {}, true],
  ] as const)(
    'without a path, a refusal the supervisor decides at once, %s: no answer is written into the socket the other server takes',
    async (_case, options, shutDown) => {
      const { t, sockets } = await withLaterServer(options);
      const rejected: unknown[] = [];
      t.supervisor.on('rejected', (event) => void rejected.push(event));
      if (shutDown) await t.supervisor.shutdown({ deadlineMs: 200 });
      const before = t.supervisor.stats();
      const ws = await openOnIt(t, { origin: 'https://elsewhere.example' });
      await vi.waitFor(() => expect(t.errors).toHaveLength(1), ioWait);
      expect(t.errors[0]).toMatchObject({ code: 'WSSUP_INVALID_ARGUMENT', message: leftToIt });
      expect(rejected).toEqual([]);
      expect(t.supervisor.stats()).toEqual(before);
      await expectLeftAlone(t, ws, sockets[0]);
    },
  );

  it('a ws server with a path of its own, created before: its 400 comes first, so authenticate is never called and the refusal is socket-closed, whatever the supervisor would have refused', async () => {
    let authenticated = 0;
    const { t } = await withLaterServer(
      {
        allowedOrigins: ['https://app.example'],
        authenticate: () => {
          authenticated += 1;
          return 'ann';
        },
      },
      { path: '/other' },
      { before: true },
    );
    const rejected: RejectedEvent[] = [];
    t.supervisor.on('rejected', (event) => void rejected.push(event));
    for (const origin of ['https://elsewhere.example', 'https://app.example']) {
      expect(await connectRefused(t.url('ann'), { headers: { origin } })).toBe(400);
    }
    await vi.waitFor(() => expect(rejected).toHaveLength(2), ioWait);
    for (const event of rejected) {
      expect(event).toMatchObject({
        reason: 'socket-closed',
        status: undefined,
        via: undefined,
        message: 'ended by another upgrade listener',
      });
    }
    expect(authenticated).toBe(0);
    expectNoLeaks(t.supervisor);
  });

  it.each([
    ['destroys it', undefined],
    ['destroys it with an error', new Error('not for this server')],
  ])(
    'without a path, a listener after it that %s: nothing thrown, authenticate not called, refused as socket-closed',
    async (_case, error) => {
      let authenticated = 0;
      const t = await startQuietServer({
        authenticate: () => {
          authenticated += 1;
          return 'ann';
        },
      });
      // Node's HTTP server has let the socket go: an 'error' with no listener would be thrown.
      const uncaught: unknown[] = [];
      const onUncaught = (thrown: unknown) => void uncaught.push(thrown);
      process.prependListener('uncaughtException', onUncaught);
      onTestFinished(() => void process.off('uncaughtException', onUncaught));
      t.server.on('upgrade', (_request: IncomingMessage, socket: Duplex) => socket.destroy(error));
      const rejected: RejectedEvent[] = [];
      t.supervisor.on('rejected', (event) => void rejected.push(event));
      const ws = new WebSocket(t.url('ann'));
      ws.on('error', () => {}); // socket hang up: the client's side of the destroyed socket
      await new Promise((resolve) => ws.on('close', resolve));
      await vi.waitFor(() => expect(rejected).toHaveLength(1), ioWait);
      expect(uncaught).toEqual([]);
      expect(rejected[0]).toMatchObject({
        reason: 'socket-closed',
        status: undefined,
        message: 'ended by another upgrade listener',
      });
      expect(authenticated).toBe(0);
      expectNoLeaks(t.supervisor);
    },
  );

  it('in cluster mode, a server that upgrades while the cluster-wide book answers: the slot reserved is given back', async () => {
    // An upgrade listener that finishes later (Engine.IO with a middleware, say): the socket is
    // taken after authenticate's verdict, while the supervisor waits for the book.
    const clock = new SimulatedClock();
    const book = new MemoryBook(() => clock.now());
    const store = book.store('node-0', 30_000);
    let asked: () => void = () => {};
    const bookAsked = new Promise<void>((resolve) => (asked = resolve));
    let upgraded: () => void = () => {};
    const otherUpgraded = new Promise<void>((resolve) => (upgraded = resolve));
    const admit = store.admit.bind(store);
    store.admit = async (...args) => {
      asked();
      await otherUpgraded;
      return admit(...args);
    };
    const t = await startQuietServer({ clock, cluster: { store, nodeId: 'node-0' } });
    await vi.waitFor(() => expect(t.supervisor.stats().cluster?.leaseHeld).toBe(true), ioWait);
    const before = t.supervisor.stats();
    const sockets: Duplex[] = [];
    const other = new WebSocketServer({ noServer: true, maxPayload: 65_536 });
    onTestFinished(() => void other.close());
    other.on('connection', (socket) => socket.on('message', (data) => socket.send(`legacy:${String(data)}`)));
    t.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      sockets.push(socket);
      void bookAsked.then(() =>
        other.handleUpgrade(request, socket, head, (ws) => {
          other.emit('connection', ws, request);
          upgraded();
        }),
      );
    });
    const ws = await openOnIt(t);
    await vi.waitFor(() => expect(t.errors).toHaveLength(1), ioWait);
    expect(t.errors[0]).toMatchObject({ code: 'WSSUP_INVALID_ARGUMENT', message: leftToIt });
    await expectLegacyWorks(ws);
    // Booked by the store, then released: nothing of ann's is left in the cluster-wide book.
    await vi.waitFor(() => expect(book.calls.release).toBe(1), ioWait);
    expect(book.users.get('ann')).toBeUndefined();
    expect(t.supervisor.stats()).toEqual(before);
    expect(errorListeners(sockets[0])).toEqual(['socketOnError']);
    expectNoLeaks(t.supervisor);
  });
});

describe('oversized messages', () => {
  it('are refused by ws with 1009, never reach onMessage, and the connection is disposed', async () => {
    const watcher = createCloseWatcher();
    const received: number[] = [];
    const t = await startQuietServer({
      maxPayloadBytes: 1024,
      onOpen: watcher.onOpen,
      onMessage: (connection, data) => {
        received.push(data.length);
        connection.send(data);
      },
    });
    watcher.bind(t.supervisor);
    const ws = await connect(t.url('big'));
    ws.send('x'.repeat(1024)); // at the limit: fine
    expect((await nextMessage(ws)).length).toBe(1024);
    const closing = closed(ws);
    ws.send('x'.repeat(1025));
    expect(await closing).toEqual({ code: 1009, reason: '' });
    await allDisposed(t.supervisor);

    expect(received).toEqual([1024]);
    // ws stops reading after the error, so it never sees the client's reply (the socket closes
    // with 1006): the event says the 1009 the client got.
    expect(t.disposed).toMatchObject([{ userId: 'big', reason: 'error', closeCode: 1009 }]);
    // What ws said, as plain data a JSON logger keeps: the app can tell "too big" from a reset.
    expect(t.disposed[0]?.socketError).toEqual({
      code: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH',
      message: 'Max payload size exceeded',
    });
    const [snapshot] = watcher.snapshots;
    expect(snapshot).toMatchObject({ disposed: true, user: undefined, stats: { connections: 0 } });
    expectNoLeaks(t.supervisor);
    expect(t.errors).toEqual([]);
  });
});

describe('a socket error in the disposed event', () => {
  it('invalid UTF-8 in a text message: ws closes with 1007, and socketError names WS_ERR_INVALID_UTF8', async () => {
    const t = await startQuietServer({});
    const ws = await connect(t.url('utf8'));
    const closing = closed(ws);
    // A masked text frame whose payload (0xff) is not UTF-8, written under ws's own check.
    const payload = Buffer.from([0xff]);
    const mask = Buffer.from([1, 2, 3, 4]);
    const masked = Buffer.from(payload.map((byte, i) => byte ^ (mask[i % 4] ?? 0)));
    (ws as unknown as { _socket: Socket })._socket.write(
      Buffer.concat([Buffer.from([0x81, 0x80 | 1]), mask, masked]),
    );
    expect((await closing).code).toBe(1007);
    await allDisposed(t.supervisor);
    expect(t.disposed).toMatchObject([
      {
        userId: 'utf8',
        reason: 'error',
        closeCode: 1007,
        socketError: { code: 'WS_ERR_INVALID_UTF8', message: expect.any(String) },
      },
    ]);
    expectNoLeaks(t.supervisor);
  });

  it('a peer that resets its TCP connection after the handshake is a close with no socketError', async () => {
    const t = await startQuietServer({});
    const ws = await connect(t.url('reset'));
    (ws as unknown as { _socket: Socket })._socket.resetAndDestroy();
    await allDisposed(t.supervisor);
    expect(t.disposed).toMatchObject([{ userId: 'reset', reason: 'closed', closeCode: 1006 }]);
    expect(t.disposed[0]?.socketError).toBeUndefined();
    expectNoLeaks(t.supervisor);
  });
});

describe('oversized messages with the app’s own webSocketServer', () => {
  // ws applies the server's own maxPayload; the supervisor reports that one and
  // refuses a maxPayloadBytes that says otherwise (issue 13, item 3). Without
  // maxPayloadBytes, a server limit above the preset's is refused: ws's 100 MiB
  // default with perMessageDeflate let 3 connections of ~100 KB compressed each
  // take a server from 69 MB to 570 MB (an attacker's-view trial).
  const big = 'x'.repeat(10_000);

  it('an explicit maxPayloadBytes that differs from the server’s maxPayload is refused at creation', () => {
    const wss = new WebSocketServer({ noServer: true, perMessageDeflate: true });
    onTestFinished(() => void wss.close());
    expect(() =>
      createSupervisor({ authenticate: userFromQuery, maxPayloadBytes: 1024, webSocketServer: wss }),
    ).toThrow(
      expect.objectContaining({ code: 'WSSUP_INVALID_OPTION', option: 'maxPayloadBytes', received: 1024 }),
    );
  });

  it('without maxPayloadBytes, ws’s 100 MiB default is refused at creation, naming both limits and the fixes', () => {
    const wss = new WebSocketServer({ noServer: true, perMessageDeflate: true });
    onTestFinished(() => void wss.close());
    expect(() => createSupervisor({ authenticate: userFromQuery, webSocketServer: wss })).toThrow(
      expect.objectContaining({
        code: 'WSSUP_INVALID_OPTION',
        option: 'webSocketServer',
        message: expect.stringMatching(
          /maxPayloadBytes \(1048576\).*maxPayload \(104857600\).*maxPayload: 1048576.*maxPayloadBytes: 104857600/,
        ),
      }),
    );
  });

  it('the larger limit accepted deliberately (maxPayloadBytes: 100 MiB) is applied and reported', async () => {
    const wss = new WebSocketServer({ noServer: true, perMessageDeflate: true });
    const t = await startQuietServer({ webSocketServer: wss, maxPayloadBytes: 100 * 1_048_576 });
    expect(t.supervisor.options.maxPayloadBytes).toBe(100 * 1_048_576);
    const ws = await connect(t.url('big'));
    ws.send(big);
    expect((await nextMessage(ws)).length).toBe(big.length);
    ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it('a maxPayload set on the server is applied and reported: 10,000 bytes over 1024 close with 1009', async () => {
    const wss = new WebSocketServer({ noServer: true, perMessageDeflate: true, maxPayload: 1024 });
    const t = await startQuietServer({ webSocketServer: wss });
    expect(t.supervisor.options.maxPayloadBytes).toBe(1024);
    const ws = await connect(t.url('big'));
    const closing = closed(ws);
    ws.send(big);
    expect(await closing).toEqual({ code: 1009, reason: '' });
    await allDisposed(t.supervisor);
    expect(t.disposed).toMatchObject([{ userId: 'big', reason: 'error', closeCode: 1009 }]);
    expectNoLeaks(t.supervisor);
  });
});

describe('app hooks that fail', () => {
  const boom = new Error('app bug');
  it.each([
    [
      'onOpen throws',
      {
        onOpen: () => {
          throw boom;
        },
      },
      'onOpen',
      false,
    ],
    ['onOpen rejects', { onOpen: () => Promise.reject(boom) }, 'onOpen', false],
    [
      'onMessage throws',
      {
        onMessage: () => {
          throw boom;
        },
      },
      'onMessage',
      true,
    ],
    ['onMessage rejects', { onMessage: async () => Promise.reject(boom) }, 'onMessage', true],
  ] as [string, Partial<SupervisorOptions>, string, boolean][])(
    '%s: reported with the hook and connection id, closed with 1011, and disposed',
    async (_name, hooks, hook, needsMessage) => {
      const t = await startQuietServer(hooks);
      const ws = new WebSocket(t.url('oops'));
      onTestFinished(() => ws.terminate());
      const closing = closed(ws);
      if (needsMessage) {
        await once(ws, 'open');
        ws.send('hello');
      }
      expect(await closing).toEqual({ code: 1011, reason: 'internal error' });
      await allDisposed(t.supervisor);
      expect(t.disposed).toMatchObject([{ userId: 'oops', reason: 'app-error', closeCode: 1011 }]);
      expectOneAppHookError(t.errors, { hook, cause: boom, connectionId: t.disposed[0]?.connectionId });
      expectNoLeaks(t.supervisor);
    },
  );

  it.each([
    [
      'throws',
      () => {
        throw boom;
      },
    ],
    ['rejects', () => Promise.reject(boom)],
  ])(
    'onClose %s: reported with the connection id, after the connection was disposed',
    async (_name, fail) => {
      let supervisor: Supervisor | undefined;
      const seenInOnClose: unknown[] = [];
      const t = await startQuietServer({
        onClose: (connection, info) => {
          seenInOnClose.push({ id: connection.id, info, connections: supervisor?.stats().connections });
          return fail();
        },
      });
      supervisor = t.supervisor;
      const ws = await connect(t.url('bye'));
      ws.close(1000);
      await allDisposed(t.supervisor);
      await vi.waitFor(() => expect(t.errors).toHaveLength(1), ioWait);

      const connectionId = t.disposed[0]?.connectionId;
      expect(seenInOnClose).toEqual([
        {
          id: connectionId,
          info: { reason: 'closed', closeCode: 1000, lifetimeMs: 0, cleanupMs: 0, opened: true },
          connections: 0,
        },
      ]);
      expect(t.errors[0]).toBeInstanceOf(AppHookError);
      expect(t.errors[0]).toMatchObject({
        code: 'WSSUP_APP_HOOK_FAILED',
        hook: 'onClose',
        cause: boom,
        connectionId,
      });
      expect(t.disposed).toMatchObject([{ connectionId, reason: 'closed', closeCode: 1000 }]);
      expectNoLeaks(t.supervisor);
    },
  );

  // An async listener's rejection, left unhandled, ended the process under Node's defaults.
  const throwing = () => {
    throw boom;
  };
  const rejecting = async () => {
    throw boom;
  };
  it.each([
    ['admitted', 'throwing', throwing],
    ['rejected', 'throwing', throwing],
    ['disposed', 'throwing', throwing],
    ['admitted', 'async, rejecting,', rejecting],
    ['rejected', 'async, rejecting,', rejecting],
    ['disposed', 'async, rejecting,', rejecting],
  ] as [SupervisorEventName, string, () => unknown][])(
    'an on(%s) listener, %s is reported and changes nothing',
    async (name, _kind, listener) => {
      const t = await startQuietServer();
      t.supervisor.on(name, listener);
      const ws = await connect(t.url('listener'));
      ws.send('still works');
      expect(await nextMessage(ws)).toBe('still works');
      expect((await refusal(t.url(''))).status).toBe(400);
      ws.close();
      await allDisposed(t.supervisor);

      expect(t.supervisor.stats().counters).toEqual({ admitted: 1, rejected: 1, evicted: 0, disposed: 1 });
      expect(t.disposed).toMatchObject([{ userId: 'listener', reason: 'closed' }]);
      await vi.waitFor(() => expect(t.errors).toHaveLength(1), ioWait);
      expectOneAppHookError(t.errors, { hook: `on('${name}')`, cause: boom });
      expectNoLeaks(t.supervisor);
    },
  );
});

describe('on() with a bad event name or listener', () => {
  it.each([
    ['an unknown event name', 'opened', () => {}],
    ['a name Object.prototype has', 'toString', () => {}],
    ['__proto__', '__proto__', () => {}],
    ['a listener that is not a function', 'admitted', 'log it'],
    ['no listener', 'disposed', undefined],
    // From JavaScript: a name that is no string at all (a bare TypeError while the key was read).
    ['a name with no prototype (no toString)', Object.create(null) as unknown, () => {}],
    [
      'a name whose toString throws',
      {
        toString: () => {
          throw new Error('no');
        },
      },
      () => {},
    ],
    ['a symbol', Symbol('admitted'), () => {}],
    ['a number', 1, () => {}],
  ])('%s: throws WSSUP_INVALID_ARGUMENT and registers nothing', async (_name, name, listener) => {
    const t = await startQuietServer();
    const on = t.supervisor.on as (name: unknown, listener: unknown) => () => void;
    const call = () => on(name, listener);
    expect(call).toThrow(SupervisorError);
    expect(call).toThrow(expect.objectContaining({ code: 'WSSUP_INVALID_ARGUMENT' }));
    // Nothing was registered: a connection's whole life reports no error.
    const ws = await connect(t.url('listener'));
    ws.close();
    await allDisposed(t.supervisor);
    expect(t.errors).toEqual([]);
    expectNoLeaks(t.supervisor);
  });
});

describe('stats() with bad options', () => {
  it.each([
    ['null', null],
    ['a string', 'perUser'],
    // A typo or a non-boolean was read as no option: `cluster: 'true'` returned local stats, not a Promise.
    ['a misspelt option', { peruser: true }],
    ['a perUser that is not a boolean', { perUser: 'yes' }],
    ['a cluster that is not a boolean', { cluster: 'true' }],
  ])('%s: throws WSSUP_INVALID_ARGUMENT', async (_name, options) => {
    const t = await startQuietServer();
    const stats = t.supervisor.stats as (options: unknown) => unknown;
    const call = () => stats(options);
    expect(call).toThrow(SupervisorError);
    expect(call).toThrow(expect.objectContaining({ code: 'WSSUP_INVALID_ARGUMENT' }));
    expectNoLeaks(t.supervisor);
  });
});

describe('userStats() with bad options', () => {
  it.each([
    ['null', null],
    ['a string', 'cluster'],
    // Read as no option: local stats, synchronously, instead of a Promise of the cluster-wide book.
    ['a misspelt option', { clustr: true }],
    ['a cluster that is not a boolean', { cluster: 'true' }],
  ])('%s: throws WSSUP_INVALID_ARGUMENT', async (_name, options) => {
    const t = await startQuietServer();
    const userStats = t.supervisor.userStats as (userId: string, options: unknown) => unknown;
    const call = () => userStats('ann', options);
    expect(call).toThrow(SupervisorError);
    expect(call).toThrow(expect.objectContaining({ code: 'WSSUP_INVALID_ARGUMENT' }));
    expectNoLeaks(t.supervisor);
  });
});

describe('an onError that throws', () => {
  // An async onError rejects instead of throwing: left unhandled, that would end the process.
  // The console line says which it was: a rejection was printed as "threw" (new-user trial).
  const throwers = [
    [
      'throws',
      () => {
        throw new Error('logger down');
      },
      'ws-supervisor: onError threw while reporting',
    ],
    [
      'rejects (async)',
      async () => {
        throw new Error('logger down');
      },
      'ws-supervisor: onError rejected while reporting',
    ],
  ] as const;
  it.each(throwers)(
    '%s: is caught and logged; the failing connection still closes and is disposed',
    async (_how, onError, line) => {
      const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
      onTestFinished(() => logged.mockRestore());
      const t = await startQuietServer({
        onMessage: () => {
          throw new Error('app bug');
        },
        onError,
      });
      const ws = await connect(t.url('log'));
      const closing = closed(ws);
      ws.send('x');
      expect((await closing).code).toBe(1011);
      await allDisposed(t.supervisor);
      await vi.waitFor(
        () =>
          expect(logged).toHaveBeenCalledWith(
            line,
            expect.objectContaining({ code: 'WSSUP_APP_HOOK_FAILED' }),
            expect.objectContaining({ message: 'logger down' }),
          ),
        ioWait,
      );
      expectNoLeaks(t.supervisor);
    },
  );
});

describe('bad arguments to the connection handle', () => {
  /** A server whose onMessage runs `script` on the handle of the connection that sent the message. */
  async function scripted(script: (connection: ConnectionHandle) => void): Promise<TestServer> {
    return startQuietServer({ onMessage: (connection) => script(connection) });
  }

  const codeOf = (call: () => void): string => {
    try {
      call();
      return 'no error';
    } catch (error) {
      expect(error).toBeInstanceOf(SupervisorError);
      return (error as SupervisorError).code;
    }
  };

  /**
   * Every bad call threw WSSUP_INVALID_ARGUMENT, and none of them touched the
   * connection: the peer read `still open` next, and it closes cleanly.
   */
  async function expectAllRefusedAndStillOpen(
    t: TestServer,
    ws: WebSocket,
    outcomes: Record<string, string>,
    calls: number,
  ): Promise<void> {
    expect(await nextMessage(ws)).toBe('still open');
    expect(Object.values(outcomes)).toHaveLength(calls);
    for (const [name, code] of Object.entries(outcomes))
      expect([name, code]).toEqual([name, 'WSSUP_INVALID_ARGUMENT']);
    expect(t.supervisor.stats().byState).toEqual({ connecting: 0, active: 1, draining: 0 });
    ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
    expect(t.errors).toEqual([]);
  }

  it('close() with a code other than 1000, 1003, 1007, 1008 or 3000-4999, or a bad reason, throws WSSUP_INVALID_ARGUMENT and changes nothing', async () => {
    const outcomes: Record<string, string> = {};
    const t = await scripted((connection) => {
      const calls: [string, () => void][] = [
        ['1005 (reserved: no status)', () => connection.close(1005)],
        ['1006 (reserved: abnormal)', () => connection.close(1006)],
        ['1001 (the library says going away)', () => connection.close(1001)],
        ['1011 (the library says a hook failed)', () => connection.close(1011)],
        ['1002 (the transport says protocol error)', () => connection.close(1002)],
        ['1009 (the transport says too big)', () => connection.close(1009)],
        ['1015 (reserved: TLS)', () => connection.close(1015)],
        ['2000', () => connection.close(2000)],
        ['999', () => connection.close(999)],
        ['5000', () => connection.close(5000)],
        ['3000.5', () => connection.close(3000.5)],
        ['NaN', () => connection.close(Number.NaN)],
        ['a reason of 124 bytes', () => connection.close(1000, 'x'.repeat(124))],
        ['62 two-byte characters (124 bytes)', () => connection.close(1000, 'é'.repeat(62))],
        ['a reason that is not a string', () => connection.close(1000, 42 as unknown as string)],
      ];
      for (const [name, call] of calls) outcomes[name] = codeOf(call);
      // None of that touched the connection: it still sends.
      connection.send('still open');
    });
    const ws = await connect(t.url('args'));
    ws.send('go');
    await expectAllRefusedAndStillOpen(t, ws, outcomes, 15);
  });

  it.each([1003, 1007, 1008])(
    'close(%i) (RFC 6455: what the peer sent is refused) reaches the client with its reason, disposed as app-close',
    async (code) => {
      const t = await scripted((connection) => connection.close(code, 'not a chat message'));
      const ws = await connect(t.url('validator'));
      const closed = once(ws, 'close');
      ws.send('{"type":"nonsense"}');
      const [closeCode, reason] = (await closed) as [number, Buffer];
      expect([closeCode, reason.toString()]).toEqual([code, 'not a chat message']);
      await allDisposed(t.supervisor);
      expect(t.disposed).toMatchObject([{ userId: 'validator', reason: 'app-close', closeCode: code }]);
      expectNoLeaks(t.supervisor);
    },
  );

  it('disconnectUser(user, 1008) closes every connection of the user with 1008', async () => {
    const t = await scripted(() => {});
    const ws = await connect(t.url('policy'));
    const closed = once(ws, 'close');
    t.supervisor.disconnectUser('policy', 1008, 'policy violation');
    const [closeCode, reason] = (await closed) as [number, Buffer];
    expect([closeCode, reason.toString()]).toEqual([1008, 'policy violation']);
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it('close() with a code given as a string names it in quotes (got "4000" read as a valid code)', async () => {
    let message = '';
    const t = await scripted((connection) => {
      try {
        connection.close('4000' as unknown as number);
      } catch (error) {
        message = (error as Error).message;
      }
      connection.send('still open');
    });
    const ws = await connect(t.url('string-code'));
    ws.send('go');
    expect(await nextMessage(ws)).toBe('still open');
    expect(message).toBe('close code must be 1000, 1003, 1007, 1008 or 3000-4999, got "4000"');
    ws.close();
    await allDisposed(t.supervisor);
  });

  it('send() with data that is not a string, Buffer, ArrayBuffer or view, or bad options, throws WSSUP_INVALID_ARGUMENT and sends nothing', async () => {
    const outcomes: Record<string, string> = {};
    const t = await scripted((connection) => {
      const send = connection.send.bind(connection) as (data: unknown, options?: unknown) => boolean;
      const calls: [string, () => void][] = [
        ['undefined', () => send(undefined)],
        ['null', () => send(null)],
        ['a number', () => send(42)],
        ['a plain object', () => send({ text: 'hi' })],
        ['an array', () => send(['hi'])],
        ['options that are not an object', () => send('hi', 'binary')],
        ['options.binary that is not a boolean', () => send('hi', { binary: 'yes' })],
      ];
      for (const [name, call] of calls) outcomes[name] = codeOf(call);
      // None of that reached the peer: the next message it reads is this one.
      connection.send('still open');
    });
    const ws = await connect(t.url('sends'));
    ws.send('go');
    await expectAllRefusedAndStillOpen(t, ws, outcomes, 7);
  });

  it("send() takes only options.binary: ws's framing options (fin, mask) are refused and never reach the wire", async () => {
    let outcome = '';
    const t = await scripted((connection) => {
      const send = connection.send.bind(connection) as (data: unknown, options?: unknown) => boolean;
      // Passed on to ws, fin: false would leave this message open and run the next into it,
      // and mask: true would make the client close with 1002 (a server must not mask).
      // Refused, as sendToUser() refuses a key it does not know: ignored, they read as honoured.
      outcome = codeOf(() => send('first', { fin: false, mask: true }));
      connection.send('second');
    });
    const ws = await connect(t.url('framing'));
    const received: string[] = [];
    ws.on('message', (data) => received.push(String(data)));
    ws.send('go');
    await vi.waitFor(() => expect(received).toEqual(['second']));
    expect(outcome).toBe('WSSUP_INVALID_ARGUMENT');
    expect(ws.readyState).toBe(WebSocket.OPEN);
    ws.close();
    await allDisposed(t.supervisor);
  });

  /** What a call threw, as `code: message`, or 'no error'. */
  const messageOf = (call: () => unknown) => {
    try {
      call();
    } catch (error) {
      return `${(error as SupervisorError).code}: ${(error as Error).message}`;
    }
    return 'no error';
  };

  it('data that is not sendable is named in the error, and an object is told to be serialised first', () => {
    const supervisor = createSupervisor({ preset: 'test', authenticate: () => 'alice' });
    onTestFinished(() => supervisor.shutdown());
    const sendToUser = supervisor.sendToUser as (userId: string, data: unknown) => number;
    const broadcast = supervisor.broadcast as (data: unknown) => number;
    // The newcomer's message: an object, as a browser's socket.send(JSON.stringify(...)) would need.
    expect(messageOf(() => sendToUser('alice', { type: 'hello' }))).toBe(
      'WSSUP_INVALID_ARGUMENT: data must be a string, a Buffer, an ArrayBuffer or a typed array view, got an object (JSON.stringify() it first)',
    );
    expect(messageOf(() => broadcast(['hi']))).toBe(
      'WSSUP_INVALID_ARGUMENT: data must be a string, a Buffer, an ArrayBuffer or a typed array view, got an array (JSON.stringify() it first)',
    );
    expect(messageOf(() => broadcast(42))).toBe(
      'WSSUP_INVALID_ARGUMENT: data must be a string, a Buffer, an ArrayBuffer or a typed array view, got 42',
    );
  });

  it("send options that are not an object say what they got: ws's isBinary passed as is is told to be { binary }", () => {
    const supervisor = createSupervisor({ preset: 'test', authenticate: () => 'alice' });
    onTestFinished(() => supervisor.shutdown());
    const sendToUser = supervisor.sendToUser as (userId: string, data: unknown, options: unknown) => number;
    const broadcast = supervisor.broadcast as (data: unknown, options: unknown) => number;
    // onMessage's isBinary handed on as is, where { binary: isBinary } belongs.
    expect(messageOf(() => sendToUser('alice', 'hi', true))).toBe(
      'WSSUP_INVALID_ARGUMENT: send options must be an object such as { binary: true }, got true',
    );
    expect(messageOf(() => broadcast('hi', 'binary'))).toBe(
      'WSSUP_INVALID_ARGUMENT: send options must be an object such as { binary: true }, got "binary"',
    );
    expect(messageOf(() => broadcast('hi', null))).toBe(
      'WSSUP_INVALID_ARGUMENT: send options must be an object such as { binary: true }, got null',
    );
    expect(messageOf(() => sendToUser('alice', 'hi', { binary: 'yes' }))).toBe(
      'WSSUP_INVALID_ARGUMENT: options.binary must be a boolean, got "yes"',
    );
  });

  it('a buffer given away (transferred, so detached) is refused by every send with WSSUP_INVALID_ARGUMENT, not a bare TypeError', async () => {
    // What an app holds after postMessage(buffer, [buffer]) to a worker, or buffer.transfer():
    // still an ArrayBuffer (or a view on one), but with nothing left to send.
    const detached = <T extends ArrayBuffer | ArrayBufferView>(data: T): T => {
      structuredClone(data, {
        transfer: [data instanceof ArrayBuffer ? data : (data.buffer as ArrayBuffer)],
      });
      return data;
    };
    const outcomes: Record<string, string> = {};
    let rejection: Promise<string> | undefined;
    const t = await scripted((connection) => {
      connection.join('lobby');
      const { supervisor } = t;
      const calls: [string, () => unknown][] = [
        ['send(ArrayBuffer)', () => connection.send(detached(new ArrayBuffer(8)))],
        ['send(Uint8Array)', () => connection.send(detached(new Uint8Array(8)))],
        ['send(DataView)', () => connection.send(detached(new DataView(new ArrayBuffer(8))))],
        ['sendToUser', () => supervisor.sendToUser(connection.userId, detached(new ArrayBuffer(8)))],
        ['broadcast', () => supervisor.broadcast(detached(Buffer.alloc(8)))],
        ['sendToRoom', () => supervisor.sendToRoom('lobby', detached(new ArrayBuffer(8)))],
      ];
      for (const [name, call] of calls) {
        try {
          call();
          outcomes[name] = 'no error';
        } catch (error) {
          outcomes[name] = `${(error as SupervisorError).code}: ${(error as Error).message}`;
        }
      }
      // The same check comes first in a cluster-wide send: its promise rejects with the typed error.
      rejection = supervisor
        .sendToUser(connection.userId, detached(new ArrayBuffer(8)), { cluster: true })
        .then(
          () => 'resolved',
          (error: SupervisorError) => `${error.code}: ${error.message}`,
        );
      connection.send('still open');
    });
    const ws = await connect(t.url('detached'));
    const received: string[] = [];
    ws.on('message', (data) => received.push(String(data)));
    ws.send('go');
    await vi.waitFor(() => expect(received).toContain('still open'));
    const refused = (what: string) =>
      `WSSUP_INVALID_ARGUMENT: data must be a string, a Buffer, an ArrayBuffer or a typed array view, got ${what} whose memory was transferred (detached): nothing is left to send`;
    expect(outcomes).toEqual({
      'send(ArrayBuffer)': refused('an ArrayBuffer'),
      'send(Uint8Array)': refused('an Uint8Array'),
      'send(DataView)': refused('a DataView'),
      sendToUser: refused('an ArrayBuffer'),
      // Not sent as an empty binary message, which is what ws makes of a detached Buffer.
      broadcast: refused('a Buffer'),
      sendToRoom: refused('an ArrayBuffer'),
    });
    expect(await rejection).toBe(refused('an ArrayBuffer'));
    expect(received).toEqual(['still open']); // nothing went out before it, not even an empty message
    ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
    expect(t.errors).toEqual([]);
  });

  /** 61 two-byte characters and one ASCII: 123 bytes, the most a close frame can carry. */
  const longestReason = `${'é'.repeat(61)}x`;

  it('close() accepts 4999 with a reason of exactly 123 bytes; a second close() is ignored; send() after close is false', async () => {
    const sent: boolean[] = [];
    const t = await scripted((connection) => {
      connection.close(4999, longestReason);
      connection.close(3000, 'second close: ignored');
      sent.push(connection.send('late'));
    });
    const ws = await connect(t.url('args'));
    const messages: string[] = [];
    ws.on('message', (data: Buffer) => messages.push(data.toString()));
    const closing = closed(ws);
    ws.send('go');
    expect(await closing).toEqual({ code: 4999, reason: longestReason });
    await allDisposed(t.supervisor);
    expect(sent).toEqual([false]);
    expect(messages).toEqual([]);
    expect(t.disposed).toMatchObject([{ reason: 'app-close', closeCode: 4999 }]);
    expectNoLeaks(t.supervisor);
    expect(t.errors).toEqual([]);
  });

  it('a handle kept after disposal: send() is false and close() is a no-op', async () => {
    const watcher = createCloseWatcher();
    const t = await startQuietServer({ onOpen: watcher.onOpen });
    watcher.bind(t.supervisor);
    const ws = await connect(t.url('kept'));
    ws.close();
    await allDisposed(t.supervisor);
    const [handle] = watcher.handles;
    expect(handle?.send('too late')).toBe(false);
    expect(() => handle?.close(1000, 'too late')).not.toThrow();
    expect(t.supervisor.stats().counters).toEqual({ admitted: 1, rejected: 0, evicted: 0, disposed: 1 });
    expectNoLeaks(t.supervisor);
    expect(t.errors).toEqual([]);
  });
});
