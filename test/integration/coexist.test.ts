/**
 * attach(server, { path }) on a server that other upgrade handlers share
 * (issue 13, item 6). Node calls every `upgrade` listener for every upgrade
 * request: Fastify's router answered 404 to our path and destroyed the socket,
 * a `ws` server with `{ server, path }` answered 400. With a path, attach owns
 * it: the other listeners, added before or after attach, never see its
 * requests, and see every other request in their own order.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import fastifyWebsocket from '@fastify/websocket';
import express from 'express';
import Fastify from 'fastify';
import { describe, expect, it, onTestFinished } from 'vitest';
import type WebSocket from 'ws';
import { WebSocketServer } from 'ws';
import { createSupervisor, type Supervisor } from '../../src/index.js';
import { rawConnect, readResponseHead, upgradeRequest } from '../helpers/cleanup.js';
import { recordEvents } from '../helpers/rules.js';
import {
  allDisposed,
  closeServer,
  connect,
  expectNoLeaks,
  listenOnLoopback,
  nextMessage,
  userFromQuery,
} from '../helpers/server.js';

function startSupervisor(): Supervisor {
  const supervisor = createSupervisor({
    preset: 'test',
    authenticate: userFromQuery,
    onMessage: (connection, data) => connection.send(`supervised: ${data.toString()}`),
  });
  onTestFinished(() => supervisor.shutdown({ deadlineMs: 100 }));
  return supervisor;
}

/** Sends a raw upgrade request for `path`; resolves with the response's status line. */
async function statusOf(port: number, path: string): Promise<string> {
  const socket = await rawConnect(port);
  socket.write(upgradeRequest('x').replace('/?user=x ', `${path} `));
  return (await readResponseHead(socket)).split('\r\n', 1)[0] ?? '';
}

/** Echo through the supervisor on /ws, as alice. */
async function supervisedEcho(supervisor: Supervisor, base: string): Promise<WebSocket> {
  const ws = await connect(`${base}/ws?user=alice`);
  ws.send('hi');
  expect(await nextMessage(ws)).toBe('supervised: hi');
  expect(supervisor.userStats('alice')).toMatchObject({ live: 1 });
  return ws;
}

async function finish(supervisor: Supervisor, clients: WebSocket[]): Promise<void> {
  for (const ws of clients) ws.close();
  await allDisposed(supervisor);
  expect(supervisor.stats().counters).toMatchObject({ admitted: 1, rejected: 0 });
  expectNoLeaks(supervisor);
}

describe('Fastify 5 with @fastify/websocket on another route', () => {
  it.each(['after', 'before'])(
    'attach(app.server, { path: "/ws" }) %s Fastify is ready: both WebSocket routes work',
    async (when) => {
      const supervisor = startSupervisor();
      const events = recordEvents(supervisor);
      const app = Fastify();
      onTestFinished(() => app.close());
      const detachEarly = when === 'before' ? supervisor.attach(app.server, { path: '/ws' }) : undefined;
      await app.register(fastifyWebsocket);
      app.get('/fastify-ws', { websocket: true }, (socket) => {
        socket.on('message', (data: Buffer) => socket.send(`fastify: ${data.toString()}`));
      });
      app.get('/http', async () => 'plain http');
      await app.listen({ port: 0, host: '127.0.0.1' });
      const detach = detachEarly ?? supervisor.attach(app.server, { path: '/ws' });
      const base = `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

      const ours = await supervisedEcho(supervisor, base);
      const theirs = await connect(`${base}/fastify-ws`);
      theirs.send('hi');
      expect(await nextMessage(theirs)).toBe('fastify: hi');
      expect(await (await fetch(`${base.replace('ws:', 'http:')}/http`)).text()).toBe('plain http');
      // A path nobody serves is Fastify's to answer, and never reaches the supervisor.
      expect(await statusOf((app.server.address() as AddressInfo).port, '/nowhere')).toMatch(
        /^HTTP\/1\.1 404 /,
      );
      expect(events.rejected).toEqual([]);

      theirs.close();
      await finish(supervisor, [ours]);
      detach();
      await app.close();
      // @fastify/websocket removed its own listener (through our wrapper); nothing is left behind.
      expect(app.server.listenerCount('upgrade')).toBe(0);
    },
  );
});

describe('Express 5 with a plain ws server on another path', () => {
  it.each(['after', 'before'])(
    'attach(server, { path: "/ws" }) %s the ws server: both work, and other paths get ws’s answer',
    async (when) => {
      const supervisor = startSupervisor();
      const app = express();
      app.get('/http', (_request, response) => {
        response.send('plain http');
      });
      const server = createServer(app);
      const port = await listenOnLoopback(server);
      onTestFinished(() => closeServer(server));
      const base = `ws://127.0.0.1:${port}`;
      const detachEarly = when === 'before' ? supervisor.attach(server, { path: '/ws' }) : undefined;
      // ws with { server } answers 400 to every path but its own: the classic clash.
      const plain = new WebSocketServer({ server, path: '/plain' });
      onTestFinished(() => void plain.close());
      plain.on('connection', (ws) =>
        ws.on('message', (data: Buffer) => ws.send(`plain: ${data.toString()}`)),
      );
      const detach = detachEarly ?? supervisor.attach(server, { path: '/ws' });

      const ours = await supervisedEcho(supervisor, base);
      const theirs = await connect(`${base}/plain`);
      theirs.send('hi');
      expect(await nextMessage(theirs)).toBe('plain: hi');
      expect(await (await fetch(`http://127.0.0.1:${port}/http`)).text()).toBe('plain http');
      expect(await statusOf(port, '/nowhere')).toMatch(/^HTTP\/1\.1 400 /);

      theirs.close();
      await finish(supervisor, [ours]);
      // Detached, /ws is ws's again (400), and the server holds only ws's own listener.
      detach();
      expect(await statusOf(port, '/ws?user=alice')).toMatch(/^HTTP\/1\.1 400 /);
      expect(server.listenerCount('upgrade')).toBe(1);
      expect(supervisor.stats().counters).toMatchObject({ admitted: 1, rejected: 0 });
    },
  );
});

describe('a plain HTTP request with an Upgrade header (curl --http2 sends `Upgrade: h2c`)', () => {
  /** What `curl --http2 http://…/health` sends: an HTTP/1.1 GET that offers to upgrade to h2c. */
  async function h2cGet(port: number, path: string): Promise<string> {
    const socket = await rawConnect(port);
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade, HTTP2-Settings, close\r\n` +
        'Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n',
    );
    // The request asks for Connection: close (Express would keep the socket alive): read to the end.
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    await once(socket, 'end');
    return Buffer.concat(chunks).toString('latin1');
  }

  it("once an upgrade listener exists, Node never hands it to the app's routes: 404 from attach; a request without the header still reaches them", async () => {
    const supervisor = startSupervisor();
    const app = express();
    app.get('/health', (_request, response) => {
      response.send('ok\n');
    });
    const server = createServer(app);
    const port = await listenOnLoopback(server);
    onTestFinished(() => closeServer(server));
    // No upgrade listener yet: Node gives the request to 'request', and Express answers it.
    expect(await h2cGet(port, '/health')).toMatch(/^HTTP\/1\.1 200 [\s\S]*\r\n\r\nok\n$/);

    const detach = supervisor.attach(server, { path: '/ws' });
    // Now it is an 'upgrade' for another path, and nobody else listens for upgrades: our 404.
    expect(await h2cGet(port, '/health')).toMatch(/^HTTP\/1\.1 404 [\s\S]*\r\n\r\nnot found\n$/);
    expect(await (await fetch(`http://127.0.0.1:${port}/health`)).text()).toBe('ok\n'); // no Upgrade header

    const ws = await supervisedEcho(supervisor, `ws://127.0.0.1:${port}`);
    await finish(supervisor, [ws]);
    detach();
  });
});

describe('the order rule', () => {
  /** A server with no request handler of its own; its last upgrade listener, `last`, answers 418. */
  async function serverWithListeners() {
    const server = createServer();
    const port = await listenOnLoopback(server);
    onTestFinished(() => closeServer(server));
    const calls: string[] = [];
    const recorder = (name: string) => (request: IncomingMessage) =>
      void calls.push(`${name} ${request.url}`);
    const teapot = (request: IncomingMessage, socket: Duplex) => {
      calls.push(`last ${request.url}`);
      socket.end('HTTP/1.1 418 I am a teapot\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    };
    return { server, port, calls, recorder, teapot };
  }

  it('before and after attach, once and prepended: only other paths reach them, in their order; off() and detach restore', async () => {
    const { server, port, calls, recorder, teapot } = await serverWithListeners();
    const supervisor = startSupervisor();
    const a = recorder('a');
    const b = recorder('b (once)');
    server.on('upgrade', a);
    server.once('upgrade', b);
    const detach = supervisor.attach(server, { path: '/ws' });
    const d = recorder('d (prepended)');
    server.on('upgrade', teapot); // added after attach
    server.prependListener('upgrade', d);
    await Promise.resolve(); // the microtask that wraps late listeners

    const ours = await supervisedEcho(supervisor, `ws://127.0.0.1:${port}`);
    expect(calls).toEqual([]);
    expect(await statusOf(port, '/x')).toBe('HTTP/1.1 418 I am a teapot');
    expect(await statusOf(port, '/y')).toBe('HTTP/1.1 418 I am a teapot');
    expect(calls).toEqual([
      'd (prepended) /x',
      'a /x',
      'b (once) /x',
      'last /x',
      'd (prepended) /y',
      'a /y',
      'last /y',
    ]);
    // The app sees its own listeners, and removes them as usual.
    expect(server.listeners('upgrade').filter((l) => [a, b, d, teapot].includes(l as never))).toEqual([
      d,
      a,
      teapot,
    ]);
    server.off('upgrade', a);
    calls.length = 0;
    expect(await statusOf(port, '/z')).toBe('HTTP/1.1 418 I am a teapot');
    expect(calls).toEqual(['d (prepended) /z', 'last /z']);

    detach();
    expect(server.rawListeners('upgrade')).toEqual([d, teapot]);
    calls.length = 0;
    expect(await statusOf(port, '/ws?user=bob')).toBe('HTTP/1.1 418 I am a teapot');
    expect(calls).toEqual(['d (prepended) /ws?user=bob', 'last /ws?user=bob']);
    await finish(supervisor, [ours]);
  });

  it('a once listener not yet called is restored as once', async () => {
    const { server, port, calls, teapot } = await serverWithListeners();
    const supervisor = startSupervisor();
    server.once('upgrade', teapot);
    const detach = supervisor.attach(server, { path: '/ws' });
    detach();
    expect(server.listeners('upgrade')).toEqual([teapot]);
    expect(await statusOf(port, '/x')).toBe('HTTP/1.1 418 I am a teapot');
    expect(server.listenerCount('upgrade')).toBe(0);
    expect(calls).toEqual(['last /x']);
  });

  it('two supervisors own two paths of one server; a path is attached once; detaching twice is harmless', async () => {
    const server = createServer();
    const port = await listenOnLoopback(server);
    onTestFinished(() => closeServer(server));
    const [one, two] = [startSupervisor(), startSupervisor()];
    const detachOne = one.attach(server, { path: '/one' });
    const detachTwo = two.attach(server, { path: '/two' });
    expect(() => two.attach(server, { path: '/one' })).toThrow(
      expect.objectContaining({ code: 'WSSUP_INVALID_ARGUMENT' }),
    );
    const base = `ws://127.0.0.1:${port}`;
    const [a, b] = [await connect(`${base}/one?user=u`), await connect(`${base}/two?user=u`)];
    expect([one.stats().connections, two.stats().connections]).toEqual([1, 1]);
    expect(await statusOf(port, '/three')).toMatch(/^HTTP\/1\.1 404 /);

    detachOne();
    detachOne();
    expect(await statusOf(port, '/one?user=u')).toMatch(/^HTTP\/1\.1 404 /);
    const again = await connect(`${base}/two?user=v`);
    detachTwo();
    expect(server.listenerCount('upgrade')).toBe(0);
    for (const ws of [a, b, again]) ws.close();
    await Promise.all([allDisposed(one), allDisposed(two)]);
    expectNoLeaks(one);
    expectNoLeaks(two);
  });

  it('a path still attached by a supervisor that has shut down: the error says so and names the fix (detach)', async () => {
    const server = createServer();
    const port = await listenOnLoopback(server);
    onTestFinished(() => closeServer(server));
    const [first, second] = [startSupervisor(), startSupervisor()];
    const detachFirst = first.attach(server, { path: '/ws' });
    // While the owner runs, the plain message: nothing about a shutdown.
    expect(() => second.attach(server, { path: '/ws' })).toThrow(
      expect.objectContaining({
        code: 'WSSUP_INVALID_ARGUMENT',
        message: 'attach path /ws is already attached to this server',
      }),
    );
    const stopping = first.shutdown();
    const stillAttached = expect.objectContaining({
      code: 'WSSUP_INVALID_ARGUMENT',
      message: expect.stringMatching(
        /^attach path \/ws is still attached to this server by a supervisor that has shut down \(or is shutting down\): .*Call the function its attach\(\) returned/,
      ),
    });
    expect(() => second.attach(server, { path: '/ws' })).toThrow(stillAttached); // shutting down
    await stopping;
    expect(() => second.attach(server, { path: '/ws' })).toThrow(stillAttached); // shut down
    // The path stays the first one's (503) until detached; then the second one takes it.
    expect(await statusOf(port, '/ws?user=u')).toMatch(/^HTTP\/1\.1 503 /);
    detachFirst();
    second.attach(server, { path: '/ws' });
    const ws = await connect(`ws://127.0.0.1:${port}/ws?user=u`);
    expect(second.userStats('u')).toMatchObject({ live: 1 });
    ws.close();
    await allDisposed(second);
    expectNoLeaks(second);
  });
});

describe('without a path', () => {
  it('attach takes every upgrade and leaves the other listeners alone (Node calls them too)', async () => {
    const server: Server = createServer();
    const port = await listenOnLoopback(server);
    onTestFinished(() => closeServer(server));
    const seen: string[] = [];
    server.on('upgrade', (request: IncomingMessage) => void seen.push(request.url ?? ''));
    const supervisor = startSupervisor();
    supervisor.attach(server);
    const ws = await connect(`ws://127.0.0.1:${port}/anything?user=carol`);
    expect(seen).toEqual(['/anything?user=carol']);
    ws.close();
    await once(ws, 'close');
    await allDisposed(supervisor);
    expectNoLeaks(supervisor);
  });
});
