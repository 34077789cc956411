/**
 * README claims about ws-supervisor/client (sections "Client", "An HTTP
 * refusal under Node", "Coming from Socket.IO") that were proven only on the
 * statechart or on the pure status mapping, here end to end: a real
 * supervisor (or a plain HTTP server standing for a proxy) on port 0 over
 * loopback, ws's WebSocket, the client's delays on a SimulatedClock.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer as createTcpServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { SimulatedClock } from 'xstate';
import { Refusal } from '../../src/index.js';
import {
  allDisposed,
  closeServer,
  connect,
  expectNoLeaks,
  ioWait,
  listenOnLoopback,
  startServer,
} from '../helpers/server.js';
import { expectReleased, messagesOf, sentUrl, startClient } from './helpers.js';

describe('an authenticate that fails (README: 4500 and every other server error back off)', () => {
  it("refuse: 'http': the 500 is a failed connection, 1006, backed off; the client gets in once authenticate recovers", async () => {
    let outage = true;
    const server = await startServer({
      authenticate: (request) => {
        if (outage) throw new Error('identity provider down');
        return new URLSearchParams((request.url ?? '').split('?')[1] ?? '').get('user');
      },
    });
    const t = startClient({ url: server.url('amy') });

    expect(await t.next('close')).toEqual({
      code: 1006,
      kind: 'abnormal',
      reason: 'HTTP 500 Internal Server Error: authentication failed',
      retryAfterMs: undefined,
      refusal: 'auth-failed',
      wasClean: false,
      opened: false,
      next: 'reconnect',
    });
    expect(await t.next('reconnecting', 0)).toEqual({ delayMs: 250, attempt: 1 });
    let from = t.mark();
    t.simulated.increment(250);
    expect(await t.next('close', from)).toMatchObject({
      code: 1006,
      reason: 'HTTP 500 Internal Server Error: authentication failed',
    });
    expect(await t.next('reconnecting', from)).toEqual({ delayMs: 500, attempt: 2 }); // 0.5 × 1000
    expect(server.errors.map((error) => error.code)).toEqual([
      'WSSUP_APP_HOOK_FAILED',
      'WSSUP_APP_HOOK_FAILED',
    ]);

    outage = false;
    from = t.mark();
    t.simulated.increment(500);
    expect(await t.next('open', from)).toEqual({ url: sentUrl(t, server.url('amy')) });
    expect(server.supervisor.userStats('amy')).toMatchObject({ live: 1 });
    t.client.close();
    await expectReleased(t);
    await allDisposed(server.supervisor);
    expectNoLeaks(server.supervisor);
  });

  it("refuse: 'close': close 4500, kind auth-failed, backed off with a growing ceiling", async () => {
    const server = await startServer({
      refuse: 'close',
      authenticate: () => Promise.reject(new Error('identity provider down')),
    });
    const t = startClient({ url: server.url('bo') });

    expect(await t.next('close')).toMatchObject({ code: 4500, kind: 'auth-failed', next: 'reconnect' });
    expect(await t.next('reconnecting', 0)).toEqual({ delayMs: 250, attempt: 1 });
    const from = t.mark();
    t.simulated.increment(250);
    expect(await t.next('close', from)).toMatchObject({ code: 4500, kind: 'auth-failed' });
    expect(await t.next('reconnecting', from)).toEqual({ delayMs: 500, attempt: 2 });
    expect(t.sockets).toHaveLength(2);
    t.client.close();
    await expectReleased(t);
  });
});

describe("an authenticate whose user id is not a string (README, User ids: the app's slip, 500 auth-failed, not 400)", () => {
  it("refuse: 'close': close 4500, backed off (not suspended as a 4400 would be); the client gets in once the app is fixed", async () => {
    let fixed = false;
    const server = await startServer({
      refuse: 'close',
      // The slip of a new app: `{ id }` where `{ userId }` belongs.
      authenticate: () => (fixed ? 'dee' : ({ id: 'dee' } as never)),
    });
    const t = startClient({ url: server.url('dee') });

    expect(await t.next('close')).toMatchObject({ code: 4500, kind: 'auth-failed', next: 'reconnect' });
    expect(await t.next('reconnecting', 0)).toEqual({ delayMs: 250, attempt: 1 });
    expect(server.supervisor.stats().counters.rejected).toBe(1);
    expect(server.errors).toEqual([
      expect.objectContaining({ code: 'WSSUP_APP_HOOK_FAILED', hook: 'authenticate' }),
    ]);

    fixed = true; // the app's fix deployed: the client comes back by itself
    const from = t.mark();
    t.simulated.increment(250);
    expect(await t.next('open', from)).toEqual({ url: sentUrl(t, server.url('dee')) });
    expect(server.supervisor.userStats('dee')).toMatchObject({ live: 1 });
    t.client.close();
    await expectReleased(t);
    await allDisposed(server.supervisor);
    expectNoLeaks(server.supervisor);
  });
});

describe("the supervisor's other HTTP refusals, read under Node (README: 400 as 4400, 403 as 4403)", () => {
  it.each([
    [
      'a Refusal(403)',
      () => new Refusal(403, 'banned'),
      4403,
      'forbidden',
      'HTTP 403 Forbidden: banned',
      'refused',
    ],
    [
      'a bad user id (empty)',
      () => '',
      4400,
      'bad-request',
      'HTTP 400 Bad Request: user id is empty',
      'invalid-user-id',
    ],
  ])(
    '%s: one attempt, then suspended until resume()',
    async (_name, authenticate, code, kind, reason, refusal) => {
      const server = await startServer({ authenticate });
      const t = startClient({ url: server.url('cy') });

      expect(await t.next('close')).toEqual({
        code,
        kind,
        reason,
        refusal,
        retryAfterMs: undefined,
        wasClean: false,
        opened: false,
        next: 'wait-for-resume',
      });
      expect(t.client.state).toBe('suspended');
      t.client.activity(); // activity is not what it waits for
      t.simulated.increment(3_600_000);
      expect(t.clock.pending).toBe(0);
      expect(t.sockets).toHaveLength(1);
      expect(server.supervisor.stats().counters.rejected).toBe(1);

      const from = t.mark();
      t.client.resume();
      expect(await t.next('close', from)).toMatchObject({ code, next: 'wait-for-resume' });
      expect(server.supervisor.stats().counters.rejected).toBe(2);
      t.client.close();
      await expectReleased(t);
      expectNoLeaks(server.supervisor);
    },
  );
});

describe("a proxy's refusal (README: retryAfterMs is the Retry-After header's, whatever the status)", () => {
  it('502 with Retry-After: 7: close 1006 `HTTP 502 Bad Gateway`, retryAfterMs 7000, and no attempt before it', async () => {
    const http = createServer();
    let upgrades = 0;
    http.on('upgrade', (_request, socket: Duplex) => {
      upgrades += 1;
      socket.end(
        'HTTP/1.1 502 Bad Gateway\r\nRetry-After: 7\r\nConnection: close\r\nContent-Length: 0\r\n\r\n',
      );
    });
    const port = await listenOnLoopback(http);
    onTestFinished(() => closeServer(http));
    const t = startClient({ url: `ws://127.0.0.1:${port}/` });

    expect(await t.next('close')).toEqual({
      code: 1006,
      kind: 'abnormal',
      reason: 'HTTP 502 Bad Gateway',
      retryAfterMs: 7_000,
      wasClean: false,
      opened: false,
      next: 'reconnect',
    });
    const { delayMs } = await t.next('reconnecting', 0);
    expect(delayMs).toBeGreaterThanOrEqual(7_000);
    t.simulated.increment(6_999);
    expect(t.client.state).toBe('waiting');
    expect(upgrades).toBe(1);
    const from = t.mark();
    t.simulated.increment(delayMs - 6_999);
    await t.next('close', from);
    expect(upgrades).toBe(2);
    t.client.close();
    await expectReleased(t);
  });
});

describe("the server's own closes (README, Coming from Socket.IO)", () => {
  it('connection.close() (1000): kind normal, no retry however long, until resume()', async () => {
    const server = await startServer({ onOpen: (connection) => connection.close() });
    const t = startClient({ url: server.url('di') });

    expect(await t.next('close')).toMatchObject({
      code: 1000,
      kind: 'normal',
      wasClean: true,
      next: 'wait-for-resume',
    });
    expect(t.client.state).toBe('suspended');
    t.simulated.increment(3_600_000);
    expect(t.clock.pending).toBe(0);
    expect(server.supervisor.stats().counters.admitted).toBe(1);

    const from = t.mark();
    t.client.resume();
    await t.next('close', from);
    expect(server.supervisor.stats().counters.admitted).toBe(2);
    t.client.close();
    await expectReleased(t);
  });

  it('connection.close(4000, …): backs off and comes back', async () => {
    let closes = 1;
    const server = await startServer({
      onOpen: (connection) => {
        if (closes > 0) {
          closes -= 1;
          connection.close(4000, 'go away for now');
        }
      },
    });
    const t = startClient({ url: server.url('ed') });

    expect(await t.next('close')).toMatchObject({
      code: 4000,
      reason: 'go away for now',
      kind: 'other',
      next: 'reconnect',
    });
    expect(await t.next('reconnecting', 0)).toEqual({ delayMs: 250, attempt: 1 });
    const from = t.mark();
    t.simulated.increment(250);
    await t.next('open', from);
    t.client.send('back');
    await expect.poll(() => messagesOf(t)).toEqual(['back']);
    t.client.close();
    await expectReleased(t);
    await allDisposed(server.supervisor);
    expectNoLeaks(server.supervisor);
  });

  it('a message above maxPayloadBytes: closed with 1009 (sent by ws), after which the client reconnects', async () => {
    const server = await startServer({ maxPayloadBytes: 1_024 });
    const t = startClient({ url: server.url('flo') });
    await t.next('open');

    const from = t.mark();
    expect(t.client.send('x'.repeat(1_025))).toBe(true);
    expect(await t.next('close', from)).toMatchObject({ code: 1009, kind: 'other', next: 'reconnect' });
    const { delayMs } = await t.next('reconnecting', from);
    const again = t.mark();
    t.simulated.increment(delayMs);
    await t.next('open', again);
    t.client.send('small');
    await expect.poll(() => messagesOf(t)).toEqual(['small']);
    // The server side was disposed as `error` (its closeCode is 1006: ws stops reading after the
    // error, so the client's answering frame is never read; see bad-input.test.ts).
    await expect.poll(() => server.disposed.map((event) => event.reason)).toEqual(['error']);
    t.client.close();
    await expectReleased(t);
  });
});

describe('the url option (README: http:// and https:// mean ws:// and wss://)', () => {
  it('an http:// URL connects to the supervisor and echoes', async () => {
    const server = await startServer();
    const url = server.url('gus').replace(/^ws:/, 'http:');
    const t = startClient({ url });
    expect(await t.next('open')).toEqual({ url: sentUrl(t, url) });
    t.client.send('hi');
    await expect.poll(() => messagesOf(t)).toEqual(['hi']);
    t.client.close();
    await expectReleased(t);
  });
});

describe('connectTimeoutMs (README: a connect that does not open within it counts as a failure)', () => {
  it('a server that takes the TCP connection and never answers the upgrade: 1006 `connect timeout`, backed off, the socket let go', async () => {
    const sockets: Socket[] = [];
    const hung = createTcpServer((socket) => {
      sockets.push(socket);
      socket.resume(); // reads the upgrade request, answers nothing
    });
    hung.listen(0, '127.0.0.1');
    await once(hung, 'listening');
    onTestFinished(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => hung.close(resolve));
    });
    const { port } = hung.address() as AddressInfo;
    const t = startClient({ url: `ws://127.0.0.1:${port}/`, connectTimeoutMs: 3_000 });
    await vi.waitFor(() => expect(sockets).toHaveLength(1), ioWait);

    t.simulated.increment(2_999);
    expect(t.client.state).toBe('connecting');
    t.simulated.increment(1);
    expect(await t.next('close', 0)).toEqual({
      code: 1006,
      kind: 'abnormal',
      reason: 'connect timeout',
      cause: 'connect-timeout',
      retryAfterMs: undefined,
      wasClean: false,
      opened: false,
      next: 'reconnect',
    });
    expect(await t.next('reconnecting', 0)).toEqual({ delayMs: 250, attempt: 1 });
    // The attempt's TCP connection is closed by the client: the server's end sees it go.
    await vi.waitFor(() => expect(sockets[0]?.destroyed || sockets[0]?.readableEnded).toBe(true), ioWait);
    t.client.close();
    await expectReleased(t);
  });
});

describe('protocols (README: subprotocols, passed to the constructor)', () => {
  it('reach the server in the upgrade, and the connection opens with the one it picked', async () => {
    const offered: (string | undefined)[] = [];
    const server = await startServer({
      onOpen: (_connection, request) => void offered.push(request.headers['sec-websocket-protocol']),
    });
    const t = startClient({ url: server.url('hal'), protocols: ['chat.v2', 'chat.v1'] });
    await t.next('open');
    expect(offered).toEqual(['chat.v2,chat.v1']);
    expect(t.sockets[0]?.protocol).toBe('chat.v2'); // ws's server picks the first offered by default
    t.client.close();
    await expectReleased(t);
  });
});

describe('a url function (README: its answer is checked as the url option is)', () => {
  it.each([
    ['a #fragment', (base: string) => `${base}#room`],
    ['another scheme', (base: string) => base.replace(/^ws:/, 'ftp:')],
    ['a URL object with a #fragment', (base: string) => new URL(`${base}#room`)],
  ])(
    'an answer with %s: an `error` event (WSSUP_INVALID_OPTION, option url), no socket, backed off',
    async (_name, bad) => {
      const server = await startServer();
      const answer = bad(server.url('ike'));
      const t = startClient({ url: () => answer as string });
      const failed = await t.next('error', 0);
      expect(failed.error).toMatchObject({ code: 'WSSUP_INVALID_OPTION', option: 'url', received: answer });
      expect(await t.next('close', 0)).toMatchObject({ code: 1006, kind: 'abnormal', next: 'reconnect' });
      expect(t.sockets).toHaveLength(0);
      expect(server.supervisor.stats().counters.admitted).toBe(0);
      t.client.close();
      await expectReleased(t);
    },
  );
});

describe('after 4001 (README: waits until the app calls activity() or resume())', () => {
  it('resume() brings it back as activity() does, with a fresh backoff', async () => {
    const serverClock = new SimulatedClock();
    const server = await startServer({
      clock: serverClock,
      maxConnectionsPerUser: 1,
      heartbeatIntervalMs: 1e9,
    });
    const t = startClient({ url: server.url('jay') });
    await t.next('open', 0);
    const from = t.mark();
    serverClock.increment(server.supervisor.options.idleTimeoutMs);
    expect(await t.next('close', from)).toMatchObject({ code: 4001, next: 'wait-for-activity' });
    expect(t.client.state).toBe('suspended');
    t.simulated.increment(3_600_000);
    expect(server.supervisor.stats().counters.admitted).toBe(1);

    const again = t.mark();
    t.client.resume();
    await t.next('open', again);
    expect(server.supervisor.stats().counters.admitted).toBe(2);
    t.client.close();
    await expectReleased(t);
    await allDisposed(server.supervisor);
    expectNoLeaks(server.supervisor);
  });
});

describe('stableAfterMs (README: a connection open this long resets the backoff count)', () => {
  it('failures climb the ceiling; one connection open for stableAfterMs starts it again from baseMs', async () => {
    let outage = 3; // three attempts fail (authenticate throws: HTTP 500, read as 1006), no hint
    const server = await startServer({
      authenticate: (request) => {
        if (outage > 0) {
          outage -= 1;
          throw new Error('identity provider down');
        }
        return new URLSearchParams((request.url ?? '').split('?')[1] ?? '').get('user');
      },
    });
    const t = startClient({ url: server.url('kit'), stableAfterMs: 2_000 });
    const delays: number[] = [];
    for (let attempt = 1; attempt <= 3; attempt += 1) {
      const from = attempt === 1 ? 0 : t.mark();
      const { delayMs } = await t.next('reconnecting', from);
      delays.push(delayMs);
      if (attempt < 3) t.simulated.increment(delayMs);
    }
    expect(delays).toEqual([250, 500, 1_000]); // 0.5 × 500 × 2^(n-1)
    let from = t.mark();
    t.simulated.increment(1_000);
    await t.next('open', from);
    t.simulated.increment(2_000); // stable
    from = t.mark();
    server.supervisor.disconnectUser('kit', 4000, 'bye');
    expect(await t.next('reconnecting', from)).toEqual({ delayMs: 250, attempt: 1 });
    t.client.close();
    await expectReleased(t);
  });
});

describe("refuse: 'close' (README, Coming from Socket.IO: as connect_error; 4401 and 4403 not retried)", () => {
  it.each([
    [401, 4401, 'unauthenticated'],
    [403, 4403, 'forbidden'],
  ] as const)(
    'a Refusal(%i) reaches createClient as %i with its message, and is not retried',
    async (status, code, kind) => {
      const server = await startServer({
        refuse: 'close',
        authenticate: () => new Refusal(status, 'token revoked'),
      });
      const t = startClient({ url: server.url('lu') });
      expect(await t.next('close', 0)).toEqual({
        code,
        kind,
        reason: 'token revoked',
        refusal: 'refused',
        retryAfterMs: undefined,
        wasClean: true,
        opened: true,
        next: 'wait-for-resume',
      });
      expect(t.client.state).toBe('suspended');
      t.simulated.increment(3_600_000);
      expect(t.clock.pending).toBe(0);
      expect(t.sockets).toHaveLength(1);
      t.client.close();
      await expectReleased(t);
      // The refusal is settled once the server has seen the TCP connection go: I/O, after the client's close.
      await vi.waitFor(() => expect(server.supervisor.stats().resources.closeRefusals).toBe(0), ioWait);
      expectNoLeaks(server.supervisor);
    },
  );
});

describe("refuse: 'close' (README, Client: `open` is the handshake, not admission)", () => {
  it('a refused attempt fires `open` first, then `close` 4429; a send() in between returns true and never reaches onMessage', async () => {
    // The server's clock stands still: the connection holding the slot never turns idle.
    const received: string[] = [];
    const server = await startServer({
      refuse: 'close',
      clock: new SimulatedClock(),
      maxConnectionsPerUser: 1,
      onMessage: (_connection, data) => void received.push(String(data)),
    });
    await connect(server.url('max'));
    const t = startClient({ url: server.url('max') });
    let sent: boolean | undefined;
    t.client.on('open', () => {
      sent = t.client.send('lost');
    });

    const close = await t.next('close', 0);
    expect(t.events.slice(0, 2)).toEqual([
      ['state', { state: 'open', previous: 'connecting' }],
      ['open', { url: sentUrl(t, server.url('max')) }],
    ]);
    expect(t.events[2]?.[0]).toBe('close');
    expect(close).toMatchObject({ code: 4429, kind: 'too-many-requests', next: 'reconnect' });
    expect(sent).toBe(true);
    t.client.close();
    await expectReleased(t);
    await vi.waitFor(() => expect(server.supervisor.stats().resources.closeRefusals).toBe(0), ioWait);
    expect(received).toEqual([]);
  });
});
