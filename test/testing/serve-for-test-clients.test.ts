/**
 * serveForTest()'s open() tells each client the connection the supervisor admitted for it
 * (connectionId, userId), read from the admission on that client's own TCP connection: right
 * when admissions come in another order than the opens, for several clients of one user, after
 * a refused one, and refused (WSSUP_INVALID_ARGUMENT on read) for a client of another server.
 * And httpUrl(), the HTTP URL of the app's routes.
 */

import { once } from 'node:events';
import { createServer } from 'node:http';
import { type AddressInfo, createServer as createTcpServer } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import WebSocket, { type ClientOptions, WebSocketServer } from 'ws';
import { serveForTest, type TestClient } from '../../src/testing/index.js';
import { closeServer, listenOnLoopback } from '../helpers/server.js';
import { createEcho } from './echo-app.js';

/** A port of 127.0.0.1 free now: a client's localPort. */
async function freePort(): Promise<number> {
  const probe = createTcpServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as AddressInfo;
  await new Promise((closed) => probe.close(closed));
  return port;
}

/** Another WebSocket server on loopback, greeting each client; closed when the test finishes. Its port. */
async function otherServer(): Promise<number> {
  const other = createServer();
  const wss = new WebSocketServer({ server: other });
  wss.on('connection', (socket) => socket.send('from the other server'));
  const port = await listenOnLoopback(other);
  onTestFinished(async () => {
    for (const socket of wss.clients) socket.terminate();
    wss.close();
    await closeServer(other);
  });
  return port;
}

describe("serveForTest() open(): the client's connectionId and userId", () => {
  it('are the admission on its own socket, for several clients of one user admitted in reverse order', async () => {
    // authenticate answers only once all four requests are in, then the last one first: the
    // admissions (and their `admitted` events) come in the reverse order of the opens.
    const verdicts: Array<() => void> = [];
    let allIn: () => void = () => {};
    const arrived = new Promise<void>((resolve) => {
      allIn = resolve;
    });
    const supervisor = createEcho({
      authenticate: (request) =>
        new Promise((resolve) => {
          verdicts.push(() => resolve(new URLSearchParams(request.url?.split('?')[1]).get('user')));
          if (verdicts.length === 4) allIn();
        }),
    });
    const app = await serveForTest(supervisor);
    onTestFinished(() => app.close());
    const admittedIds: string[] = [];
    supervisor.on('admitted', ({ connectionId }) => admittedIds.push(connectionId));

    const opening = Promise.all([
      app.open('/?user=alice&n=1'),
      app.open('/?user=alice&n=2'),
      app.open('/?user=bob&n=3'),
      app.open('/?user=alice&n=4'),
    ]);
    await arrived;
    for (const verdict of verdicts.reverse()) verdict();
    const clients = await opening;
    const [a1, a2, b3, a4] = clients as [TestClient, TestClient, TestClient, TestClient];

    expect(clients.map(({ userId }) => userId)).toEqual(['alice', 'alice', 'bob', 'alice']);
    expect(admittedIds).toEqual([a4, b3, a2, a1].map(({ connectionId }) => connectionId));
    expect(
      supervisor
        .connectionsOf('alice')
        .map(({ id }) => id)
        .sort(),
    ).toEqual([a1, a2, a4].map(({ connectionId }) => connectionId).sort());
    expect(supervisor.userStats(b3.userId)).toMatchObject({ live: 1 });

    // Each id reaches its own client, and no other.
    for (const [n, client] of clients.entries()) {
      expect(supervisor.connection(client.connectionId)?.send(`to ${n + 1}`)).toBe(true);
    }
    for (const [n, client] of clients.entries()) {
      expect((await client.messages.next()).text).toBe(`to ${n + 1}`);
    }
    const disposed = supervisor.once('disposed', {
      matches: (event) => event.connectionId === a2.connectionId,
    });
    supervisor.connection(a2.connectionId)?.close(4000, 'just this one');
    expect(await a2.messages.closed).toMatchObject({ code: 4000, reason: 'just this one' });
    expect(await disposed).toMatchObject({ userId: 'alice', reason: 'app-close' });
    expect(a2.connectionId).toBe(admittedIds[2]); // the same once the connection has ended
    for (const open of [a1, b3, a4]) expect(open.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('are those of the next client after a refused one (401, and 429 at the limit): open() rejects for it', async () => {
    const supervisor = createEcho({ maxConnectionsPerUser: 1 });
    const app = await serveForTest(supervisor);
    onTestFinished(() => app.close());
    const admitted = supervisor.once('admitted');
    const alice = await app.open('/?user=alice');
    expect(alice).toMatchObject({ userId: 'alice', connectionId: (await admitted).connectionId });
    await expect(app.open('/')).rejects.toThrow('Unexpected server response: 401');
    await expect(app.open('/?user=alice')).rejects.toThrow('Unexpected server response: 429');
    const bob = await app.open('/?user=bob');
    expect(bob.userId).toBe('bob');
    expect(supervisor.connectionsOf('bob').map(({ id }) => id)).toEqual([bob.connectionId]);
    expect(new Set([alice.connectionId, bob.connectionId]).size).toBe(2);
  });

  it('throws WSSUP_INVALID_ARGUMENT when read for a client of another server (a full URL), which is usable all the same', async () => {
    const port = await otherServer();
    const app = await serveForTest(createEcho());
    onTestFinished(() => app.close());
    await app.open('/?user=alice'); // a connection of the app's own, from another local port
    const stranger = await app.open(`ws://127.0.0.1:${port}/?user=alice`);
    expect((await stranger.messages.next()).text).toBe('from the other server');
    const message = `serveForTest open(): client #2 ws://127.0.0.1:${port}/?user=alice has no connectionId: this supervisor admitted no connection on its socket (a URL of another server?): open() a path of this app's, or app.url(…).`;
    expect(() => stranger.connectionId).toThrow(
      expect.objectContaining({ code: 'WSSUP_INVALID_ARGUMENT', message }),
    );
    expect(() => stranger.userId).toThrow(/has no userId/);
    expect(Object.keys(stranger)).toEqual(['name', 'ws', 'messages']); // printing it does not throw
    await app.close();
    // Terminated by close(), as every client of open().
    expect((await stranger.messages.closed).code).toBe(1006);
  });

  it("throws for a client of another server on the local port of an earlier client of the app's, closed", async () => {
    // The app's client on port P is closed server-side (the server closes TCP first, so P is
    // free at once); a client of another server then takes P. Its server end is not the app's.
    const port = await otherServer();
    const supervisor = createEcho();
    const app = await serveForTest(supervisor);
    onTestFinished(() => app.close());
    // ws hands its options on to http.request(), localPort included (not in its types).
    const fromPort = { localPort: await freePort() } as ClientOptions;
    const first = await app.open('/?user=alice', fromPort);
    expect(first.ws.readyState).toBe(WebSocket.OPEN);
    const disposed = supervisor.once('disposed');
    supervisor.connection(first.connectionId)?.close(4000, 'done');
    expect(await first.messages.closed).toMatchObject({ code: 4000 });
    await disposed;
    const stranger = await app.open(`ws://127.0.0.1:${port}/?user=alice`, fromPort);
    expect((await stranger.messages.next()).text).toBe('from the other server');
    expect(() => stranger.connectionId).toThrow(/has no connectionId: .*a URL of another server\?/);
    expect(() => stranger.userId).toThrow(/has no userId/);
  });

  it('are read for a client of ws://[::ffff:127.0.0.1]:<port>/ (an IPv6 socket to the IPv4 server)', async () => {
    const supervisor = createEcho();
    const app = await serveForTest(supervisor);
    onTestFinished(() => app.close());
    const admitted = supervisor.once('admitted');
    const alice = await app.open(`ws://[::ffff:127.0.0.1]:${app.port}/?user=alice`);
    expect(alice.ws.url).toContain('[::ffff:7f00:1]'); // WHATWG's spelling of it
    expect(alice).toMatchObject({ userId: 'alice', connectionId: (await admitted).connectionId });
  });

  it("throws WSSUP_INVALID_ARGUMENT when read for a client refused over the WebSocket (refuse: 'close'), which open() resolves", async () => {
    const supervisor = createEcho({ refuse: 'close', maxConnectionsPerUser: 1 });
    const app = await serveForTest(supervisor);
    onTestFinished(() => app.close());
    await app.open('/?user=alice');
    const rejected = supervisor.once('rejected');
    const refused = await app.open('/?user=alice'); // opens, then gets its close frame
    expect(await refused.messages.closed).toMatchObject({ code: 4429 });
    expect(await rejected).toMatchObject({ reason: 'user-limit', via: 'close' });
    const message = `serveForTest open(): client #2 ws://127.0.0.1:${app.port}/?user=alice has no connectionId: this supervisor refused it over the WebSocket (refuse: 'close'), and admitted no connection on its socket: await its messages.closed for the close code.`;
    expect(() => refused.connectionId).toThrow(
      expect.objectContaining({ code: 'WSSUP_INVALID_ARGUMENT', message }),
    );
  });

  it("throws, saying so, for a supervisor that keeps no record of its sockets' admissions (another copy)", async () => {
    // Its own properties only: not the record, which is kept under a symbol, not enumerable.
    const copy = { ...createEcho() };
    const app = await serveForTest(copy);
    onTestFinished(() => app.close());
    const alice = await app.open('/?user=alice');
    expect(() => alice.connectionId).toThrow(
      /has no connectionId: this supervisor does not record which socket each connection came on: serve the object createSupervisor\(\) returned, not one that wraps or spreads it/,
    );
  });
});

describe('serveForTest() open() with subprotocols, as ws takes them', () => {
  it('asks for them (a token in Sec-WebSocket-Protocol, as browsers send one), with options still applied', async () => {
    // The browser habit: ['access_token', token], since a browser's WebSocket sends no header.
    // (As a header in options.headers it failed: ws rejects a 101 that names a subprotocol it did not ask for.)
    const supervisor = createEcho({
      authenticate: (request) => {
        const [kind, token] = (request.headers['sec-websocket-protocol'] ?? '').split(/, */);
        if (kind === '' && request.headers['x-tab'] !== undefined) return String(request.headers['x-tab']);
        return kind === 'access_token' ? `${token}${request.headers['x-tab'] ?? ''}` : null;
      },
    });
    const app = await serveForTest(supervisor);
    onTestFinished(() => app.close());
    const alice = await app.open('/', ['access_token', 'alice']);
    expect([alice.userId, alice.ws.protocol]).toEqual(['alice', 'access_token']); // ws's server picks the first
    const tab = await app.open('/', ['access_token', 'bob'], { headers: { 'x-tab': '#2' } });
    expect(tab.userId).toBe('bob#2');
    // No subprotocols, as ws takes it: the options are still applied.
    const none = await app.open('/', undefined, { headers: { 'x-tab': '#3' } });
    expect([none.userId, none.ws.protocol]).toEqual(['#3', '']);
    await expect(app.open('/', 'something-else')).rejects.toThrow('Unexpected server response: 401');
  });
});

describe('serveForTest() httpUrl()', () => {
  it("is the HTTP URL of a path on the app's server, which the handler answers", async () => {
    const app = await serveForTest(createEcho(), {
      handler: (request, response) => response.end(`you asked for ${request.url}`),
    });
    onTestFinished(() => app.close());
    expect(app.httpUrl()).toBe(`http://127.0.0.1:${app.port}/`);
    expect(app.httpUrl('health')).toBe(`http://127.0.0.1:${app.port}/health`);
    expect(app.httpUrl('/online?room=a')).toBe(`http://127.0.0.1:${app.port}/online?room=a`);
    const response = await fetch(app.httpUrl('/online?room=a'));
    expect([response.status, await response.text()]).toEqual([200, 'you asked for /online?room=a']);
    expect(app.url('/online')).toBe(`ws://127.0.0.1:${app.port}/online`); // unchanged beside it
  });

  it('is answered 404, saying why, on an app served without options.handler (no answer: fetch waited for ever)', async () => {
    const app = await serveForTest(createEcho());
    onTestFinished(() => app.close());
    const response = await fetch(app.httpUrl('/health'), { signal: AbortSignal.timeout(10_000) });
    expect([response.status, await response.text()]).toEqual([
      404,
      'serveForTest(): no route for GET /health: this app was served without options.handler (its HTTP routes)\n',
    ]);
    await app.open('/?user=alice'); // upgrades still go to the supervisor
  });
});
