/** The ways an app hands upgrades to the supervisor: attach(), handleUpgrade(), its own WebSocketServer. */
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import { type AddressInfo, connect as connectTcp } from 'node:net';
import type { Duplex } from 'node:stream';
import { Server as SocketIoServer } from 'socket.io';
import { describe, expect, it, onTestFinished } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { createSupervisor, InvalidOptionError, type SupervisorOptions } from '../../src/index.js';
import {
  allDisposed,
  closed,
  closeServer,
  connect,
  connectRefused,
  expectNoLeaks,
  listenOnLoopback,
  nextMessage,
  userFromQuery,
} from '../helpers/server.js';

async function listen(options: Partial<SupervisorOptions> & { path?: string; manual?: boolean } = {}) {
  const { path, manual, ...supervisorOptions } = options;
  const supervisor = createSupervisor({
    preset: 'test',
    authenticate: userFromQuery,
    onMessage: (connection, data) => connection.send(data),
    ...supervisorOptions,
  });
  // Without an upgrade listener, Node hands an upgrade request to 'request'.
  const server = createServer((_request, response) => response.writeHead(426).end());
  let detach = () => {};
  if (manual === true) {
    server.on('upgrade', (request, socket, head) => {
      if (request.url?.startsWith('/manual') === true) void supervisor.handleUpgrade(request, socket, head);
      else socket.destroy();
    });
  } else {
    detach = supervisor.attach(server, { path });
  }
  const port = await listenOnLoopback(server);
  onTestFinished(async () => {
    await supervisor.shutdown({ deadlineMs: 100 });
    await closeServer(server);
  });
  return { supervisor, server, detach, base: `ws://127.0.0.1:${port}` };
}

describe('attaching', () => {
  it('attach(server, { path }) handles only that path, and its undo stops handling', async () => {
    const { supervisor, server, detach, base } = await listen({ path: '/ws' });
    const other = new WebSocketServer({ noServer: true });
    onTestFinished(() => other.close());
    // Another upgrade handler on the same server keeps working for other paths.
    const otherHandler = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (request.url?.startsWith('/other') === true) {
        other.handleUpgrade(request, socket, head, (ws) => ws.close(4321, 'other handler'));
      }
    };
    server.on('upgrade', otherHandler);
    const ws = await connect(`${base}/ws?user=alice`);
    ws.send('hi');
    expect(await nextMessage(ws)).toBe('hi');
    const foreign = new WebSocket(`${base}/other?user=alice`);
    expect((await closed(foreign)).code).toBe(4321);
    expect(supervisor.stats().counters.admitted).toBe(1);

    detach();
    server.off('upgrade', otherHandler);
    expect(await connectRefused(`${base}/ws?user=alice`)).toBe(426);
    expect(supervisor.stats().counters.admitted).toBe(1);

    ws.close();
    await allDisposed(supervisor);
    expectNoLeaks(supervisor);
  });

  it('attach(server, { path }) answers 404 to other paths when nobody else listens, even unparseable ones', async () => {
    const { supervisor, server, base } = await listen({ path: '/ws' });
    const port = (server.address() as AddressInfo).port;
    const socket = connectTcp(port, '127.0.0.1');
    onTestFinished(() => {
      socket.destroy();
    });
    socket.end(
      'GET //[ HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Key: ${Buffer.alloc(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    // Not our path, and no other upgrade listener to leave it to: 404, not a hang.
    const [reply] = (await once(socket, 'data')) as [Buffer];
    expect(reply.toString()).toMatch(/^HTTP\/1\.1 404 /);
    const ws = await connect(`${base}/ws?user=still-up`);
    expect(supervisor.stats().counters).toMatchObject({ admitted: 1, rejected: 0 });
    ws.close();
    await allDisposed(supervisor);
    expectNoLeaks(supervisor);
  });

  it('attach(server, { path }) matches a request target in absolute form (RFC 9112 §3.2.2) by its path', async () => {
    const { supervisor, server } = await listen({ path: '/ws', authenticate: () => 'absolute' });
    const port = (server.address() as AddressInfo).port;
    const statusFor = async (target: string) => {
      const socket = connectTcp(port, '127.0.0.1');
      onTestFinished(() => {
        socket.destroy();
      });
      socket.write(
        `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${Buffer.alloc(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
      const [reply] = (await once(socket, 'data')) as [Buffer];
      socket.destroy();
      return reply.toString().split('\r\n', 1)[0];
    };
    expect(await statusFor('http://127.0.0.1/ws')).toMatch(/^HTTP\/1\.1 101 /);
    expect(await statusFor(`http://127.0.0.1:${port}/ws?x=1`)).toMatch(/^HTTP\/1\.1 101 /);
    expect(await statusFor('http://127.0.0.1/other')).toMatch(/^HTTP\/1\.1 404 /);
    // Its path as written, like the origin form's: no dot segments removed, no prefix match.
    expect(await statusFor('http://127.0.0.1/x/../ws')).toMatch(/^HTTP\/1\.1 404 /);
    expect(await statusFor('http://127.0.0.1/wsx')).toMatch(/^HTTP\/1\.1 404 /);
    await allDisposed(supervisor);
    expect(supervisor.stats().counters).toMatchObject({ admitted: 2 });
    expectNoLeaks(supervisor);
  });

  it('handleUpgrade() from the app’s own upgrade listener', async () => {
    const { supervisor, base } = await listen({ manual: true });
    const ws = await connect(`${base}/manual?user=bob`);
    ws.send('x');
    expect(await nextMessage(ws)).toBe('x');
    expect(supervisor.userStats('bob')).toMatchObject({ live: 1, limit: 5, evictAt: 4 });
    ws.terminate();
    await allDisposed(supervisor);
    expectNoLeaks(supervisor);
  });

  it('a socket handed over twice (attach() and handleUpgrade() both) is handled once; the second call is reported', async () => {
    const errors: unknown[] = [];
    const { supervisor, server, base } = await listen({ onError: (error) => errors.push(error) });
    // The misconfiguration: the app also routes upgrades itself.
    server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      void supervisor.handleUpgrade(request, socket, head);
    });
    const ws = await connect(`${base}/?user=twice`);
    ws.send('x');
    expect(await nextMessage(ws)).toBe('x');
    expect(supervisor.stats().counters).toMatchObject({ admitted: 1, rejected: 0, disposed: 0 });
    expect(supervisor.userStats('twice')).toMatchObject({ live: 1 });
    expect(errors).toEqual([expect.objectContaining({ code: 'WSSUP_INVALID_ARGUMENT' })]);
    expect((errors[0] as Error).message).toMatch(/more than once/);
    const closing = closed(ws);
    ws.close(1000);
    expect(await closing).toMatchObject({ code: 1000 });
    await allDisposed(supervisor);
    expectNoLeaks(supervisor);
  });

  it('uses the app’s own noServer WebSocketServer and its ws options', async () => {
    const wss = new WebSocketServer({ noServer: true, maxPayload: 16, clientTracking: false });
    const { supervisor, base } = await listen({ webSocketServer: wss });
    const ws = await connect(`${base}/?user=carol`);
    const closing = closed(ws);
    ws.send('x'.repeat(17));
    expect((await closing).code).toBe(1009);
    await allDisposed(supervisor);
    expectNoLeaks(supervisor);
  });

  it('refuses a WebSocketServer that completes handshakes by itself', () => {
    const wss = new WebSocketServer({ port: 0 });
    onTestFinished(() => new Promise<void>((resolve) => wss.close(() => resolve())));
    expect(() => createSupervisor({ authenticate: () => 'u', webSocketServer: wss })).toThrow(
      InvalidOptionError,
    );
  });

  it('refuses a bad attach path, attach() after shutdown, and upgrades after shutdown (503)', async () => {
    const { supervisor, server, base } = await listen();
    expect(() => supervisor.attach(server, { path: 'no-slash' })).toThrow(
      expect.objectContaining({ code: 'WSSUP_INVALID_ARGUMENT' }),
    );
    // Routed by path alone (the query excluded), so these could never match a request.
    for (const path of ['/ws?room=1', '/ws#top']) {
      expect(() => supervisor.attach(server, { path })).toThrow(
        expect.objectContaining({
          code: 'WSSUP_INVALID_ARGUMENT',
          message: expect.stringMatching(/no query/),
        }),
      );
    }
    await supervisor.shutdown();
    expect(() => supervisor.attach(server)).toThrow(expect.objectContaining({ code: 'WSSUP_SHUTTING_DOWN' }));
    // The attached listener still answers, so reconnecting clients get a clear 503.
    expect(await connectRefused(`${base}/?user=dave`)).toBe(503);
    expect(supervisor.stats().counters).toMatchObject({ admitted: 0, rejected: 1 });
  });

  it('refuses what is not an HTTP(S) server, naming the mistake (a WebSocketServer goes in the options)', () => {
    const supervisor = createSupervisor({ preset: 'test', authenticate: userFromQuery });
    onTestFinished(() => supervisor.shutdown());
    const wss = new WebSocketServer({ noServer: true });
    onTestFinished(() => wss.close());
    // Listening on a WebSocketServer's 'upgrade' would never see a request: refused, not silent.
    expect(() => supervisor.attach(wss as never)).toThrow(
      expect.objectContaining({
        code: 'WSSUP_INVALID_ARGUMENT',
        message: expect.stringMatching(/not a WebSocketServer.*webSocketServer option/),
      }),
    );
    for (const notAServer of [undefined, null, {}, 'http://127.0.0.1:8080']) {
      expect(() => supervisor.attach(notAServer as never)).toThrow(
        expect.objectContaining({
          code: 'WSSUP_INVALID_ARGUMENT',
          message: expect.stringMatching(/attach\(\) needs an http or https server/),
        }),
      );
    }
  });

  it("refuses a Socket.IO Server (it has on, off and listen, and its 'upgrade' never comes), naming the server to pass", async () => {
    const supervisor = createSupervisor({ preset: 'test', authenticate: userFromQuery });
    onTestFinished(() => supervisor.shutdown());
    const server = createServer();
    // A migration half done: the io of `new Server(httpServer)` passed where its http server belongs.
    const io = new SocketIoServer(server);
    onTestFinished(() => io.close());
    expect(() => supervisor.attach(io as never)).toThrow(
      expect.objectContaining({
        code: 'WSSUP_INVALID_ARGUMENT',
        message:
          "attach() got a Socket.IO Server, whose 'upgrade' event never comes: attach the http or https server it runs on " +
          "(what http.createServer() or Express's app.listen() returns), with a path while both serve it: " +
          "supervisor.attach(server, { path: '/ws' })",
      }),
    );
    expect(server.listenerCount('upgrade')).toBe(1); // Socket.IO's own, untouched
  });

  it('refuses attach options that are not { path? }, which would silently take every path', async () => {
    const supervisor = createSupervisor({ preset: 'test', authenticate: userFromQuery });
    onTestFinished(() => supervisor.shutdown());
    const server = createServer();
    for (const options of ['/ws', { pathname: '/ws' }, { path: '/ws', paths: ['/a'] }, null]) {
      expect(() => supervisor.attach(server, options as never)).toThrow(
        expect.objectContaining({
          code: 'WSSUP_INVALID_ARGUMENT',
          message: expect.stringMatching(/attach options must be an object \{ path\? \}/),
        }),
      );
    }
    // Nothing was attached by the refused calls.
    expect(server.listenerCount('upgrade')).toBe(0);
    expect(() => supervisor.attach(server, { path: undefined })()).not.toThrow();
    expect(server.listenerCount('upgrade')).toBe(0);
  });

  it('refuses attaching one supervisor to one server twice without a path (each upgrade would come twice)', async () => {
    const errors: unknown[] = [];
    const { supervisor, server, detach, base } = await listen({ onError: (error) => errors.push(error) });
    expect(() => supervisor.attach(server)).toThrow(
      expect.objectContaining({
        code: 'WSSUP_INVALID_ARGUMENT',
        message: expect.stringMatching(/already attached to this server/),
      }),
    );
    expect(server.listenerCount('upgrade')).toBe(1);
    // After the undo this one may again (another supervisor may not: the test below).
    detach();
    const again = supervisor.attach(server);
    onTestFinished(again);
    detach(); // the old undo, again: it must not release the new attach
    expect(() => supervisor.attach(server)).toThrow(
      expect.objectContaining({ code: 'WSSUP_INVALID_ARGUMENT' }),
    );
    expect(server.listenerCount('upgrade')).toBe(1);
    const ws = await connect(`${base}/?user=once`);
    const closing = closed(ws);
    ws.close(1000);
    await closing;
    await allDisposed(supervisor);
    expect(errors).toEqual([]);
    expectNoLeaks(supervisor);
  });

  it('refuses a second supervisor attached to one server without a path (both would take every upgrade); paths still share it', async () => {
    const errors: unknown[] = [];
    /** A supervisor that greets each connection with its name, its errors collected. */
    const named = (name: string) => {
      const supervisor = createSupervisor({
        preset: 'test',
        // Asynchronous, as in the trial: the first one attached ran it for every upgrade.
        authenticate: async (request) => {
          await Promise.resolve();
          return userFromQuery(request);
        },
        onOpen: (connection) => connection.send(name),
        onError: (error) => errors.push(`${name}: ${error.code} ${error.message}`),
      });
      onTestFinished(() => supervisor.shutdown({ deadlineMs: 100 }));
      return supervisor;
    };
    const server = createServer();
    const base = `ws://127.0.0.1:${await listenOnLoopback(server)}`;
    onTestFinished(() => closeServer(server));
    /** Who greets a client on `path`. */
    const greeter = async (path: string, user: string) => {
      const ws = new WebSocket(`${base}${path}?user=${user}`);
      onTestFinished(() => ws.terminate());
      const [greeting] = (await once(ws, 'message')) as [Buffer];
      const closing = closed(ws);
      ws.close(1000);
      await closing;
      return greeting.toString();
    };

    const a = named('a');
    const b = named('b');
    const detachA = a.attach(server);
    expect(() => b.attach(server)).toThrow(
      expect.objectContaining({
        code: 'WSSUP_INVALID_ARGUMENT',
        message:
          'another supervisor is already attached to this server without a path: both would take every upgrade request, and only one could serve each. Give each its own path (supervisor.attach(server, { path: "/ws" })), or detach the other first',
      }),
    );
    expect(server.listenerCount('upgrade')).toBe(1);
    expect([await greeter('/', 'u1'), await greeter('/', 'u2'), await greeter('/', 'u3')]).toEqual([
      'a',
      'a',
      'a',
    ]);

    // A path of its own stays allowed beside it: that path reaches b only, every other one a.
    const detachB = b.attach(server, { path: '/b' });
    expect([await greeter('/b', 'u4'), await greeter('/', 'u5')]).toEqual(['b', 'a']);
    detachB();

    // Once a has detached, b may take the server without a path.
    detachA();
    detachA(); // idempotent: it must not release b's attach below
    const detachB2 = b.attach(server);
    onTestFinished(detachB2);
    detachA();
    expect(() => a.attach(server)).toThrow(expect.objectContaining({ code: 'WSSUP_INVALID_ARGUMENT' }));
    expect(await greeter('/', 'u6')).toBe('b');

    // A supervisor shut down and never detached still holds the server: the error says so.
    await b.shutdown();
    expect(() => named('c').attach(server)).toThrow(
      expect.objectContaining({
        code: 'WSSUP_INVALID_ARGUMENT',
        message: expect.stringContaining(
          'a supervisor that has shut down (or is shutting down) is still attached to this server without a path',
        ),
      }),
    );
    detachB2();
    const detachC = named('c').attach(server);
    onTestFinished(detachC);
    expect(errors).toEqual([]);
    await allDisposed(a);
    expectNoLeaks(a);
  });

  it("a path-less attach whose listener something else took off the server no longer refuses the next supervisor's", async () => {
    const supervisor = (name: string) => {
      const created = createSupervisor({
        preset: 'test',
        authenticate: userFromQuery,
        onOpen: (connection) => connection.send(name),
      });
      onTestFinished(() => created.shutdown({ deadlineMs: 100 }));
      return created;
    };
    const server = createServer();
    const base = `ws://127.0.0.1:${await listenOnLoopback(server)}`;
    onTestFinished(() => closeServer(server));
    const a = supervisor('a');
    a.attach(server);
    await a.shutdown();
    // A test harness that reuses one server between tests, clearing its listeners.
    server.removeAllListeners('upgrade');
    const detachB = supervisor('b').attach(server);
    onTestFinished(detachB);
    const ws = new WebSocket(`${base}/?user=u1`);
    onTestFinished(() => ws.terminate());
    const [greeting] = (await once(ws, 'message')) as [Buffer];
    expect(greeting.toString()).toBe('b');
  });

  it("a path-less attach that the server refused to take (an app's newListener listener threw) leaves nothing that refuses the next one", async () => {
    const server = createServer();
    onTestFinished(() => closeServer(server));
    const failing = () => {
      throw new Error('no listeners today');
    };
    server.on('newListener', failing);
    const a = createSupervisor({ preset: 'test', authenticate: userFromQuery });
    onTestFinished(() => a.shutdown({ deadlineMs: 100 }));
    expect(() => a.attach(server)).toThrow('no listeners today');
    server.off('newListener', failing);
    const b = createSupervisor({ preset: 'test', authenticate: userFromQuery });
    onTestFinished(() => b.shutdown({ deadlineMs: 100 }));
    onTestFinished(b.attach(server));
    expect(server.listenerCount('upgrade')).toBe(1);
  });

  it('a refused upgrade gets its status and a body naming the limit', async () => {
    const { supervisor, base } = await listen({ maxConnectionsPerUser: 1 });
    const rejected: string[] = [];
    supervisor.on('rejected', (event) => rejected.push(`${event.status} ${event.reason}: ${event.message}`));
    const ws = await connect(`${base}/?user=erin`);
    expect(await connectRefused(`${base}/?user=erin`)).toBe(429);
    expect(rejected).toEqual(['429 user-limit: user has reached the maximum number of connections (1)']);
    ws.close();
    await allDisposed(supervisor);
    expectNoLeaks(supervisor);
  });
});
