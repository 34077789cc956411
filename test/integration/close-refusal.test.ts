/**
 * Issue 11, item 3: `refuse: 'close'`. A refused client whose handshake is
 * valid is upgraded just long enough to read why: close code 4000 + the HTTP
 * status, and a reason ending in ` refusal=<reason>` and then ` retry-after=<s>` when there is a hint. After
 * the close the supervisor holds nothing; a peer that never completes the
 * close is terminated at `closeRefusalTimeoutMs` (a SimulatedClock here); at
 * most `maxCloseRefusals` are in flight, the rest are answered over HTTP.
 */
import type { Socket } from 'node:net';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { WebSocketServer } from 'ws';
import { AppHookError, Refusal, type Supervisor } from '../../src/index.js';
import { rawConnect, readResponseHead, readUntil, upgradeRequest } from '../helpers/cleanup.js';
import { closeRefusal, httpRefusal } from '../helpers/refusals.js';
import { nextEvent, type RulesServer, startRulesServer, stopReading } from '../helpers/rules.js';
import { allDisposed, expectNoLeaks, ioWait, userFromQuery } from '../helpers/server.js';

const closeRefusalTimeoutMs = 700;

/** Close-mode server: alice may hold one connection, and `authenticate` answers by user name. */
function startCloseServer(options: Parameters<typeof startRulesServer>[0] = {}): Promise<RulesServer> {
  return startRulesServer({
    refuse: 'close',
    closeRefusalTimeoutMs,
    maxConnectionsPerUser: 1,
    authenticate: (request) => {
      const user = userFromQuery(request);
      switch (user) {
        case 'nobody':
          return null;
        case 'banned':
          return new Refusal(403, 'account suspended');
        case 'busy':
          throw new Refusal(429, 'try later', { retryAfterMs: 2_500 });
        case 'boom':
          throw new Error('token store down');
        case 'empty':
          return '';
        default:
          return user;
      }
    },
    ...options,
  });
}

/** Every close-frame refusal has ended: its socket closed, its actor, timer and listeners gone. */
async function refusalsSettled(supervisor: Supervisor): Promise<void> {
  await vi.waitFor(() => expect(supervisor.stats().resources.closeRefusals).toBe(0), ioWait);
}

/** A raw client that completes the handshake, reads the close frame, and never answers it. */
async function silentRefusedClient(port: number, user: string): Promise<{ socket: Socket; code: number }> {
  const socket = await rawConnect(port);
  socket.write(upgradeRequest(user));
  const bytes = await readUntil(socket, (b) => {
    const end = b.indexOf('\r\n\r\n');
    return end !== -1 && b.length >= end + 4 + 4;
  });
  const head = bytes.subarray(0, bytes.indexOf('\r\n\r\n')).toString('latin1');
  expect(head).toMatch(/^HTTP\/1\.1 101 /);
  const frame = bytes.subarray(bytes.indexOf('\r\n\r\n') + 4);
  expect(frame[0]).toBe(0x88); // a close frame, FIN set
  return { socket, code: frame.readUInt16BE(2) };
}

describe("refuse: 'close'", () => {
  it.each([
    ['banned', 4403, 'account suspended refusal=refused', undefined],
    ['busy', 4429, 'try later refusal=refused retry-after=3', 3],
    ['nobody', 4401, 'unauthenticated refusal=unauthenticated', undefined],
    ['empty', 4400, 'user id is empty refusal=invalid-user-id', undefined],
    ['boom', 4500, 'authentication failed refusal=auth-failed', undefined],
  ])('%s: close %i "%s", and nothing held after the close', async (user, code, reason, retryAfter) => {
    const t = await startCloseServer();
    expect(await closeRefusal(t.url(user))).toEqual({ code, reason, retryAfter });
    expect(t.events.rejected).toMatchObject([
      { status: code - 4000, via: 'close', message: reason.split(' refusal=')[0] },
    ]);
    await refusalsSettled(t.supervisor);
    expectNoLeaks(t.supervisor);
    expect(t.supervisor.stats().counters).toEqual({ admitted: 0, rejected: 1, evicted: 0, disposed: 0 });
  });

  it('user limit: 4429 with retry-after=5, and the connection already held is untouched', async () => {
    const t = await startCloseServer();
    const held = await t.open('alice');
    const refused = await closeRefusal(t.url('alice'));
    expect(refused).toEqual({
      code: 4429,
      reason: 'user has reached the maximum number of connections (1) refusal=user-limit retry-after=5',
      retryAfter: 5,
    });
    expect(t.supervisor.userStats('alice')).toMatchObject({ live: 1 });
    await refusalsSettled(t.supervisor);
    expect(t.supervisor.stats().resources).toMatchObject({ connectionActors: 1, closeRefusals: 0 });
    held.ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it('process limit and shutdown: 4503; once shut down, refusals are HTTP 503 again', async () => {
    const t = await startCloseServer({ maxConnections: 1 });
    const held = await t.open('alice');
    expect(await closeRefusal(t.url('bob'))).toMatchObject({ code: 4503, retryAfter: 5 });

    const stopping = t.supervisor.shutdown({ deadlineMs: 10 });
    expect(await closeRefusal(t.url('carol'))).toEqual({
      code: 4503,
      reason: 'server is shutting down refusal=shutting-down retry-after=1',
      retryAfter: 1,
    });
    held.ws.close();
    await stopping;
    expect((await httpRefusal(t.url('dave'))).status).toBe(503);
    expect(t.events.rejected.map((event) => [event.reason, event.via])).toEqual([
      ['process-limit', 'close'],
      ['shutting-down', 'close'],
      ['shutting-down', 'http'],
    ]);
    expectNoLeaks(t.supervisor);
  });

  it('keeps the reason within 123 UTF-8 bytes: the message is cut at a character, never the reason token or the hint', async () => {
    const t = await startCloseServer({
      authenticate: () => new Refusal(429, 'é'.repeat(100), { retryAfterMs: 1_500 }),
    });
    const refused = await closeRefusal(t.url('anyone'));
    expect(refused.code).toBe(4429);
    expect(refused.retryAfter).toBe(2);
    expect(Buffer.byteLength(refused.reason)).toBeLessThanOrEqual(123);
    expect(refused.reason).toBe(`${'é'.repeat(46)} refusal=refused retry-after=2`);
    await refusalsSettled(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it('a malformed handshake still gets HTTP 400', async () => {
    const t = await startCloseServer();
    const socket = await rawConnect(t.port);
    socket.write(upgradeRequest('alice', { headers: { 'Sec-WebSocket-Key': 'not a key' } }));
    expect(await readResponseHead(socket)).toMatch(/^HTTP\/1\.1 400 /);
    expect(t.events.rejected).toMatchObject([{ reason: 'bad-handshake', via: 'http' }]);
    expectNoLeaks(t.supervisor);
  });

  it('terminates a peer that never completes the close at closeRefusalTimeoutMs', async () => {
    const t = await startCloseServer();
    const { socket, code } = await silentRefusedClient(t.port, 'nobody');
    expect(code).toBe(4401);
    expect(t.supervisor.stats().resources).toEqual({
      connectionActors: 0,
      userSupervisors: 0,
      lingeringSupervisors: 0,
      pendingTimers: 1, // refusalTimeout
      socketListeners: 3, // close and error on the ws socket, data on its TCP socket (what the peer sends)
      closeRefusals: 1,
      authenticating: 0,
      rooms: 0,
      roomMemberships: 0,
    });
    const gone = new Promise((resolve) => socket.once('close', resolve));
    t.clock.increment(closeRefusalTimeoutMs - 1);
    expect(t.supervisor.stats().resources.closeRefusals).toBe(1);
    t.clock.increment(1);
    expect(t.supervisor.stats().resources.closeRefusals).toBe(0); // terminated at once
    await gone;
    expectNoLeaks(t.supervisor);
  });

  it('terminates, once shutdown() has finished, a refusal still in flight (before its own timeout)', async () => {
    const t = await startCloseServer();
    const { socket, code } = await silentRefusedClient(t.port, 'nobody');
    expect(code).toBe(4401);
    expect(t.supervisor.stats().resources.closeRefusals).toBe(1);
    const gone = new Promise((resolve) => socket.once('close', resolve));
    await t.supervisor.shutdown({ deadlineMs: 10 }); // no connection: it finishes at once
    expect(t.supervisor.stats().resources.closeRefusals).toBe(0); // no clock advanced
    await gone;
    expectNoLeaks(t.supervisor);
  });

  it('answers over HTTP beyond maxCloseRefusals in flight, so a flood cannot grow memory', async () => {
    const t = await startCloseServer({ maxCloseRefusals: 2 });
    await silentRefusedClient(t.port, 'nobody');
    await silentRefusedClient(t.port, 'banned');
    const flood = await Promise.all(Array.from({ length: 5 }, () => httpRefusal(t.url('nobody'))));
    expect(flood.map((answer) => answer.status)).toEqual([401, 401, 401, 401, 401]);
    expect(t.supervisor.stats().resources).toMatchObject({ closeRefusals: 2, pendingTimers: 2 });
    expect(t.events.rejected.map((event) => event.via)).toEqual([
      'close',
      'close',
      'http',
      'http',
      'http',
      'http',
      'http',
    ]);

    t.clock.increment(closeRefusalTimeoutMs);
    expect(t.supervisor.stats().resources.closeRefusals).toBe(0);
    // A slot is free again: the next refusal is a close frame.
    expect((await closeRefusal(t.url('banned'))).code).toBe(4403);
    await refusalsSettled(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it('an app webSocketServer hook that throws during the refusal handshake: an AppHookError, and the socket let go at once', async () => {
    const boom = new Error('handshake hook bug');
    const webSocketServer = new WebSocketServer({ noServer: true, maxPayload: 65_536 }).on('headers', () => {
      throw boom;
    });
    const errors: unknown[] = [];
    const t = await startCloseServer({ webSocketServer, onError: (error) => errors.push(error) });
    const socket = await rawConnect(t.port);
    const gone = new Promise((resolve) => socket.once('close', resolve));
    socket.write(upgradeRequest('nobody'));
    // The clock never moves: the refusal must not wait for closeRefusalTimeoutMs.
    await gone;
    await refusalsSettled(t.supervisor);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(AppHookError);
    expect(errors[0]).toMatchObject({
      code: 'WSSUP_APP_HOOK_FAILED',
      hook: 'webSocketServer.handleUpgrade',
      cause: boom,
    });
    expectNoLeaks(t.supervisor);
  });

  it('maxCloseRefusals: 0 answers every refusal over HTTP', async () => {
    const t = await startCloseServer({ maxCloseRefusals: 0 });
    expect((await httpRefusal(t.url('banned'))).status).toBe(403);
    expectNoLeaks(t.supervisor);
  });
});

/**
 * A handshake admitted and then aborted before it opened (here by shutdown):
 * with `refuse: 'close'` it is refused as a new request would be, with close
 * 4503 and the shutdown's hint, not HTTP 503. ws is completing that handshake
 * already (the app's asynchronous verifyClient holds it), so the refusal waits
 * for the socket ws opens; if the shutdown ends first, it answers HTTP 503.
 */
describe("refuse: 'close', a handshake caught by a shutdown", () => {
  /** A close-mode server whose verifyClient holds the handshakes of `held` until answered. */
  async function startHeldServer(held: string, options: Parameters<typeof startRulesServer>[0] = {}) {
    const answers: ((verified: boolean) => void)[] = [];
    const webSocketServer = new WebSocketServer({
      noServer: true,
      maxPayload: 65_536,
      verifyClient: (info, callback) => {
        if (info.req.url?.includes(`user=${held}`) === true) answers.push(callback);
        else callback(true);
      },
    });
    onTestFinished(() => void webSocketServer.close());
    const t = await startCloseServer({ webSocketServer, ...options });
    return { t, answers };
  }

  it('gets close 4503 with the shutdown’s retry-after once the handshake finishes, as an upgrade during shutdown does', async () => {
    const { t, answers } = await startHeldServer('neo');
    const deaf = await t.open('kim');
    stopReading(deaf.ws); // holds the shutdown open until its deadline
    const admitted = nextEvent(t.supervisor, 'admitted');
    const refused = closeRefusal(t.url('neo'));
    await admitted;
    expect(t.supervisor.stats().byState.connecting).toBe(1);

    const done = t.supervisor.shutdown({ deadlineMs: 1_000 });
    await vi.waitFor(
      () => expect(t.events.disposed).toMatchObject([{ userId: 'neo', reason: 'shutdown' }]),
      ioWait,
    );
    expect(t.supervisor.stats().resources.closeRefusals).toBe(1);
    answers[0]?.(true); // the app's verifyClient lets the handshake finish
    expect(await refused).toEqual({
      code: 4503,
      reason: 'server is shutting down refusal=shutting-down retry-after=1',
      retryAfter: 1,
    });
    await refusalsSettled(t.supervisor);
    t.clock.increment(1_000);
    await done;
    expect(t.events.rejected).toEqual([]); // it was admitted: its end is the `disposed` above
    expectNoLeaks(t.supervisor);
  });

  it('gets HTTP 503 with Retry-After when the handshake has not finished by the end of the shutdown', async () => {
    const { t, answers } = await startHeldServer('neo');
    const admitted = nextEvent(t.supervisor, 'admitted');
    const refused = httpRefusal(t.url('neo'));
    await admitted;
    await t.supervisor.shutdown();
    expect(await refused).toMatchObject({
      status: 503,
      headers: { 'retry-after': '1', 'ws-supervisor-refusal': 'shutting-down' },
      body: 'server is shutting down\n',
    });
    expect(t.events.disposed).toMatchObject([{ userId: 'neo', reason: 'shutdown' }]);
    answers[0]?.(true); // too late: nothing opens
    await vi.waitFor(() => expect(t.supervisor.stats().resources.closeRefusals).toBe(0), ioWait);
    expectNoLeaks(t.supervisor);
  });

  it('an admitted handshake that the app’s server breaks is answered over HTTP at once, not adopted', async () => {
    const webSocketServer = new WebSocketServer({ noServer: true, maxPayload: 65_536 }).on(
      'headers',
      (_headers, request) => {
        if (request.url?.includes('user=gil') === true) throw new Error('handshake hook bug');
      },
    );
    onTestFinished(() => void webSocketServer.close());
    const t = await startCloseServer({ webSocketServer });
    // The clock never moves: the answer must not wait for closeRefusalTimeoutMs.
    expect(await httpRefusal(t.url('gil'))).toMatchObject({ status: 503, headers: { 'retry-after': '5' } });
    expect(t.events.disposed).toMatchObject([{ userId: 'gil', reason: 'error' }]);
    expect(t.supervisor.stats().resources.closeRefusals).toBe(0);
    expectNoLeaks(t.supervisor);
  });

  // The app chose the code and reason: the client reads them, not a 4503 that
  // says the server is unavailable and asks it to come back.
  // A code that stands for an HTTP status (4429) is sent as given too: the
  // reason is the app's (cleaned as a refusal's: test/integration/refusal-wire-text),
  // with no retry hint added to it.
  it.each([
    [4003, 'kicked'],
    [4429, 'slow down'],
  ])(
    'a connection closed from the admitted event with %i %j, before ws was asked to finish its handshake: the app’s code and reason, and nothing left',
    async (code, reason) => {
      const t = await startCloseServer();
      t.supervisor.on('admitted', ({ connectionId }) =>
        t.supervisor.connection(connectionId)?.close(code, reason),
      );
      expect(await closeRefusal(t.url('kim'))).toEqual({ code, reason, retryAfter: undefined });
      expect(t.events.disposed).toMatchObject([{ userId: 'kim', reason: 'app-close' }]);
      await refusalsSettled(t.supervisor);
      expectNoLeaks(t.supervisor);
    },
  );

  it('a connection the app closes while ws completes its handshake gets the app’s code and reason once it finishes', async () => {
    const { t, answers } = await startHeldServer('neo');
    const admitted = nextEvent(t.supervisor, 'admitted');
    const refused = closeRefusal(t.url('neo'));
    const { connectionId } = await admitted;
    t.supervisor.connection(connectionId)?.close(1000, 'not today');
    expect(t.events.disposed).toMatchObject([{ userId: 'neo', reason: 'app-close' }]);
    answers[0]?.(true);
    expect(await refused).toEqual({ code: 1000, reason: 'not today', retryAfter: undefined });
    await refusalsSettled(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  // Over HTTP, a code that is 4000 + a status gets that status (a 429 or 503
  // with the `refused` hint, as a Refusal without one); any other code, 403.
  it.each([
    [4003, 'kicked', 403, undefined],
    [4503, 'back soon', 503, '5'],
  ])(
    'one closed with %i %j whose handshake has not finished by the end of a shutdown gets HTTP %i with the app’s reason',
    async (code, reason, status, retryAfter) => {
      const { t, answers } = await startHeldServer('neo');
      const admitted = nextEvent(t.supervisor, 'admitted');
      const refused = httpRefusal(t.url('neo'));
      const { connectionId } = await admitted;
      t.supervisor.connection(connectionId)?.close(code, reason);
      await t.supervisor.shutdown();
      const answer = await refused;
      expect(answer).toMatchObject({ status, body: `${reason}\n` });
      expect(answer.headers['retry-after']).toBe(retryAfter);
      answers[0]?.(true); // too late: nothing opens
      await refusalsSettled(t.supervisor);
      expectNoLeaks(t.supervisor);
    },
  );

  it('a handshake not finished within connectTimeoutMs is refused with 4503 too', async () => {
    const { t, answers } = await startHeldServer('wes', { connectTimeoutMs: 1_000 });
    const admitted = nextEvent(t.supervisor, 'admitted');
    const refused = closeRefusal(t.url('wes'));
    await admitted;
    t.clock.increment(1_000);
    expect(t.events.disposed).toMatchObject([{ userId: 'wes', reason: 'connect-timeout' }]);
    answers[0]?.(true);
    expect(await refused).toEqual({
      code: 4503,
      reason: 'connection was not established retry-after=5',
      retryAfter: 5,
    });
    await refusalsSettled(t.supervisor);
    expectNoLeaks(t.supervisor);
  });
});
