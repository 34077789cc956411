/**
 * README, "Embedding it (with `ws` and `node:http`)" and "Coexisting with
 * other upgrade handlers": the claims attach.test.ts, coexist.test.ts,
 * attach-http2.test.ts, bad-input.test.ts and the examples' tests did not
 * prove. Real servers on port 0, a real `ws` client and raw upgrade requests.
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import * as http2 from 'node:http2';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { connect as tcpConnect } from 'node:net';
import type { Duplex } from 'node:stream';
import express from 'express';
import Fastify from 'fastify';
import { describe, expect, it, onTestFinished } from 'vitest';
import WebSocket from 'ws';
import { createSupervisor, type Supervisor } from '../../src/index.js';
import {
  allDisposed,
  closeServer,
  connect,
  expectNoLeaks,
  listenOnLoopback,
  startServer,
  userFromQuery,
} from '../helpers/server.js';

describe('Embedding it', () => {
  it('`data` is always a Buffer, and send() sends a Buffer as a binary frame: echo with { binary: isBinary } keeps text text', async () => {
    const seen: Array<[boolean, boolean]> = [];
    const t = await startServer({
      onMessage: (connection, data, isBinary) => {
        seen.push([Buffer.isBuffer(data), isBinary]);
        if (data.toString() === 'plain')
          connection.send(data); // no { binary }: a binary frame
        else connection.send(data, { binary: isBinary });
      },
    });
    const ws = await connect(t.url('ada'));
    const frame = async (data: string | Buffer) => {
      const reply = once(ws, 'message');
      ws.send(data);
      const [received, isBinary] = (await reply) as [Buffer, boolean];
      return [received.toString('hex'), isBinary];
    };
    expect(await frame('text')).toEqual([Buffer.from('text').toString('hex'), false]);
    expect(await frame(Buffer.from([0, 1]))).toEqual(['0001', true]);
    expect(await frame('plain')).toEqual([Buffer.from('plain').toString('hex'), true]);
    expect(seen).toEqual([
      [true, false],
      [true, true],
      [true, false],
    ]);
    ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });
});

/** The status line a raw upgrade request for `path` is answered with. */
async function statusOf(port: number, path: string): Promise<string> {
  const socket = tcpConnect(port, '127.0.0.1');
  onTestFinished(() => void socket.destroy());
  socket.write(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
      'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
  );
  const [first] = (await once(socket, 'data')) as [Buffer];
  socket.destroy();
  return first.toString().split('\r\n')[0] ?? '';
}

function supervisor(): Supervisor {
  const made = createSupervisor({ preset: 'test', authenticate: userFromQuery });
  onTestFinished(() => made.shutdown({ deadlineMs: 200 }));
  return made;
}

describe('Coexisting with other upgrade handlers', () => {
  it('attach() given an Express app or a Fastify instance, not the server that listens, throws WSSUP_INVALID_ARGUMENT naming what to pass', async () => {
    const fastify = Fastify();
    onTestFinished(() => fastify.close());
    for (const app of [express(), fastify]) {
      expect(() => supervisor().attach(app as never)).toThrow(
        expect.objectContaining({
          code: 'WSSUP_INVALID_ARGUMENT',
          message: expect.stringMatching(
            /what http\.createServer\(\) or Express's app\.listen\(\) returns, Fastify's app\.server/,
          ),
        }),
      );
    }
  });

  it('a once listener added after attach() is wrapped as once: it sees one other request, then is gone', async () => {
    const server = createServer();
    const port = await listenOnLoopback(server);
    onTestFinished(() => closeServer(server));
    supervisor().attach(server, { path: '/ws' });
    const calls: string[] = [];
    const teapot = (request: IncomingMessage, socket: Duplex) => {
      calls.push(request.url ?? '');
      socket.end('HTTP/1.1 418 I am a teapot\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    };
    server.once('upgrade', teapot);
    const own = () => server.listeners('upgrade').filter((listener) => listener === teapot);
    expect(own()).toEqual([teapot]);
    expect(await statusOf(port, '/x')).toBe('HTTP/1.1 418 I am a teapot');
    expect(own()).toEqual([]);
    expect(await statusOf(port, '/x')).toMatch(/^HTTP\/1\.1 404 /); // nobody else listens now
    expect(calls).toEqual(['/x']);
  });

  it('server.off() removes a once listener added after attach() before it fired', async () => {
    const server = createServer();
    const port = await listenOnLoopback(server);
    onTestFinished(() => closeServer(server));
    supervisor().attach(server, { path: '/ws' });
    const calls: string[] = [];
    const listener = (request: IncomingMessage) => void calls.push(request.url ?? '');
    server.once('upgrade', listener);
    server.off('upgrade', listener);
    expect(server.listeners('upgrade')).not.toContain(listener);
    expect(await statusOf(port, '/x')).toMatch(/^HTTP\/1\.1 404 /);
    expect(calls).toEqual([]);
  });

  it('with two paths attached, one undo keeps the other path owned; the last undo restores the listeners as they were', async () => {
    const server = createServer();
    const port = await listenOnLoopback(server);
    onTestFinished(() => closeServer(server));
    const calls: string[] = [];
    const teapot = (request: IncomingMessage, socket: Duplex) => {
      calls.push(request.url ?? '');
      socket.end('HTTP/1.1 418 I am a teapot\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    };
    server.on('upgrade', teapot);
    const [one, two] = [supervisor(), supervisor()];
    const detachOne = one.attach(server, { path: '/one' });
    const detachTwo = two.attach(server, { path: '/two' });

    detachOne();
    expect(await statusOf(port, '/one')).toBe('HTTP/1.1 418 I am a teapot'); // now the app's
    expect(await statusOf(port, '/two?user=ada')).toBe('HTTP/1.1 101 Switching Protocols');
    expect(calls).toEqual(['/one']); // never the path still attached

    detachTwo();
    expect(server.rawListeners('upgrade')).toEqual([teapot]);
    expect(await statusOf(port, '/two?user=ada')).toBe('HTTP/1.1 418 I am a teapot');
    expect(calls).toEqual(['/one', '/two?user=ada']);
    await allDisposed(two);
  });
});

// A self-signed certificate for localhost and 127.0.0.1 (test/helpers/fixtures), as attach-http2.test.ts uses.
const fixture = (name: string) => readFileSync(new URL(`../helpers/fixtures/${name}`, import.meta.url));
const tls = { key: fixture('localhost-key.pem'), cert: fixture('localhost-cert.pem') };

describe('Embedding it over TLS', () => {
  it('attach() of a node:https server carries wss:// upgrades on its path', async () => {
    const server = createHttpsServer(tls, (_request, response) => response.end('your routes here\n'));
    const port = await listenOnLoopback(server as never);
    onTestFinished(() => closeServer(server as never));
    const echo = createSupervisor({
      preset: 'test',
      authenticate: userFromQuery,
      onMessage: (connection, data, isBinary) => connection.send(data, { binary: isBinary }),
    });
    onTestFinished(() => echo.shutdown({ deadlineMs: 200 }));
    echo.attach(server, { path: '/ws' });
    const ws = new WebSocket(`wss://127.0.0.1:${port}/ws?user=ada`, { ca: tls.cert });
    onTestFinished(() => ws.terminate());
    await once(ws, 'open');
    const reply = once(ws, 'message');
    ws.send('over tls');
    expect(String((await reply)[0])).toBe('over tls');
    ws.close();
    await allDisposed(echo);
    expectNoLeaks(echo);
  });

  it('http2.createSecureServer() without allowHTTP1: Node refuses every HTTP/1.1 client before any upgrade (403 without ALPN, a failed TLS handshake offering http/1.1)', async () => {
    const server = http2.createSecureServer(tls);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const sockets = new Set<Duplex>();
    server.on('connection', (socket: Duplex) => sockets.add(socket));
    onTestFinished(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const errors: unknown[] = [];
    const made = createSupervisor({
      preset: 'test',
      authenticate: userFromQuery,
      onError: (error) => errors.push(error),
    });
    onTestFinished(() => made.shutdown({ deadlineMs: 200 }));
    made.attach(server, { path: '/ws' }); // accepted: Node gives no way to read allowHTTP1 back
    const { port } = server.address() as AddressInfo;
    const url = `wss://127.0.0.1:${port}/ws?user=ada`;

    // No ALPN offered (ws under Node): HTTP 403 from Node itself.
    const plain = new WebSocket(url, { ca: tls.cert });
    plain.on('error', () => {}); // the refusal, expected
    onTestFinished(() => plain.terminate());
    const [, response] = (await once(plain, 'unexpected-response')) as [unknown, IncomingMessage];
    expect(response.statusCode).toBe(403);
    response.resume();

    // ALPN offering http/1.1 only, as a browser's WebSocket does: the TLS handshake fails.
    const browserLike = new WebSocket(url, { ca: tls.cert, ALPNProtocols: ['http/1.1'] } as never);
    onTestFinished(() => browserLike.terminate());
    const [error] = (await once(browserLike, 'error').catch((thrown: unknown) => [thrown])) as [Error];
    expect(String(error)).toMatch(/no application protocol/);

    expect(made.stats().counters).toMatchObject({ admitted: 0, rejected: 0 });
    expect(errors).toEqual([]);
    expectNoLeaks(made);
  });
});
