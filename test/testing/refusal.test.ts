/**
 * ws-supervisor/testing's refusal(url) against a real server on port 0: the
 * answer to a refused upgrade (status, headers, body read bounded: 64 KiB, 1 s), with the
 * client's socket ended; WSSUP_NOT_REFUSED when the upgrade opens instead.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import WebSocket from 'ws';
import { createSupervisor, SupervisorError } from '../../src/index.js';
import { refusal } from '../../src/testing/index.js';
import { expectNoLeaks } from '../helpers/server.js';

/** A supervisor (limit 1, user from ?user=) on a server on port 0; the server's TCP sockets, as they come. */
async function start() {
  const supervisor = createSupervisor({
    preset: 'test',
    maxConnectionsPerUser: 1,
    authenticate: (request) => new URLSearchParams(request.url?.split('?')[1]).get('user'),
  });
  const server = createServer();
  const sockets: Socket[] = [];
  server.on('connection', (socket) => sockets.push(socket));
  supervisor.attach(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  onTestFinished(async () => {
    await supervisor.shutdown({ deadlineMs: 0 });
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as AddressInfo;
  return { supervisor, sockets, url: (query: string) => `ws://127.0.0.1:${port}/?${query}` };
}

/**
 * An HTTP server on port 0 whose `upgrade` handler is `onUpgrade` (it writes what it likes, and
 * never closes the socket); the server's TCP sockets, as they come, each with whether the client
 * has ended its side.
 */
async function rawServer(onUpgrade: (socket: Socket) => void) {
  const server = createServer();
  const sockets: Array<{ socket: Socket; ended: Promise<unknown> }> = [];
  server.on('connection', (socket) => {
    // `end`, or `close` when the client's side ended before it was read, or `error`: a client
    // that destroys its socket while this server still writes (a trickling body) resets it
    // (ECONNRESET), which is the client's side gone too. Without any of them the test times out.
    const ended = new Promise((resolve) => {
      for (const event of ['end', 'close', 'error']) socket.once(event, resolve);
    });
    sockets.push({ socket, ended });
  });
  server.on('upgrade', (_request, socket: Socket) => onUpgrade(socket));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  onTestFinished(async () => {
    server.closeAllConnections();
    for (const { socket } of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return { sockets, url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/` };
}

/** Resolves once the client has ended its side of every socket (the server's end sees `end`). */
async function allEnded(sockets: Array<{ ended: Promise<unknown> }>) {
  expect(sockets.length).toBeGreaterThan(0);
  await Promise.all(sockets.map(({ ended }) => ended));
}

/** Resolves once every socket has closed. */
const allClosed = (sockets: Socket[]) =>
  Promise.all(sockets.map((socket) => (socket.closed ? undefined : once(socket, 'close'))));

describe('refusal(url)', () => {
  it('resolves with the status, headers and whole body of a refusal at the limit, and leaves no socket open', async () => {
    const { supervisor, sockets, url } = await start();
    const held = refusal(url('user=ann')).catch((error: unknown) => error);
    // The first of ann's upgrades opens: refusal() rejects, and terminates it.
    expect(await held).toMatchObject({ code: 'WSSUP_NOT_REFUSED' });
    await expect(refusal(url('user=ann'))).rejects.toThrow(/to be refused, but it opened/);
    await allClosed(sockets);
    expect(supervisor.stats().connections).toBe(0);

    // Held by a real client this time, so that the next one is refused.
    const ws = new WebSocket(url('user=bob'));
    onTestFinished(() => ws.terminate());
    await once(ws, 'open');
    const answer = await refusal(url('user=bob'));
    expect(answer).toEqual({
      statusCode: 429,
      headers: expect.objectContaining({ 'retry-after': expect.any(String) }),
      body: 'user has reached the maximum number of connections (1)\n',
    });
    ws.terminate();
    await allClosed(sockets); // the refused one's socket too: nothing of refusal() stays open
    await expect.poll(() => supervisor.stats().connections).toBe(0);
  });

  it('reads a 401 (authenticate returned null) with its body', async () => {
    const { sockets, url } = await start();
    expect(await refusal(url('nobody'))).toMatchObject({ statusCode: 401, body: 'unauthenticated\n' });
    await allClosed(sockets);
  });

  it('passes the client options on (headers)', async () => {
    const supervisor = createSupervisor({
      preset: 'test',
      authenticate: (request) => (request.headers['x-token'] === 'ok' ? 'ann' : null),
    });
    const server = createServer();
    supervisor.attach(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    onTestFinished(async () => {
      await supervisor.shutdown({ deadlineMs: 0 });
      await new Promise((resolve) => server.close(resolve));
      expectNoLeaks(supervisor);
    });
    const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    expect((await refusal(url, { headers: { 'x-token': 'no' } })).statusCode).toBe(401);
    const opened = await refusal(url, { headers: { 'x-token': 'ok' } }).catch((error: unknown) => error);
    expect(opened).toBeInstanceOf(SupervisorError);
    expect(opened).toMatchObject({ code: 'WSSUP_NOT_REFUSED' });
  });

  it('rejects within handshakeTimeout when the server accepts the upgrade and never answers, and closes its socket', async () => {
    const { sockets, url } = await rawServer((socket) => void socket); // holds the request: no answer
    const error = await refusal(url, { handshakeTimeout: 50 }).catch((rejected: unknown) => rejected);
    expect(error).toMatchObject({ message: 'Opening handshake has timed out' });
    await allEnded(sockets);
  });

  it('times out by default (handshakeTimeout 3 s) when the server never answers', {
    timeout: 15_000,
  }, async () => {
    const { sockets, url } = await rawServer((socket) => void socket);
    await expect(refusal(url)).rejects.toMatchObject({ message: 'Opening handshake has timed out' });
    await allEnded(sockets);
  });

  it('rejects within handshakeTimeout when a 4xx body never ends, and closes its socket', async () => {
    const { sockets, url } = await rawServer((socket) => {
      // Chunked: the head and a first chunk, then nothing (no terminating 0-length chunk).
      socket.write(
        'HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n5\r\nForbi\r\n',
      );
    });
    const error = await refusal(url, { handshakeTimeout: 50 }).catch((rejected: unknown) => rejected);
    // ws's handshakeTimeout is one of inactivity, and it stays armed while the body is read.
    expect(error).toMatchObject({ message: 'Opening handshake has timed out' });
    await allEnded(sockets);
  });

  /**
   * Another real HTTP server on port 0 that answers the upgrade as a plain request: `head`, then
   * a chunk of `chunk` every `everyMs` ms, for ever (each well inside the inactivity timeout).
   */
  async function endlessServer(head: string, chunk: string, everyMs: number) {
    const { sockets, url } = await rawServer((socket) => {
      socket.write(head);
      const timer = setInterval(() => {
        if (!socket.destroyed) socket.write(`${Buffer.byteLength(chunk).toString(16)}\r\n${chunk}\r\n`);
      }, everyMs);
      socket.on('close', () => clearInterval(timer));
    });
    return { sockets, url };
  }

  it.each([
    ['200 OK', 200, 'text/event-stream'],
    ['429 Too Many Requests', 429, 'text/plain'],
  ])(
    'resolves with the body so far when a %s body keeps trickling and never ends (read for at most 1 s), and ends its socket',
    async (status, statusCode, type) => {
      const { sockets, url } = await endlessServer(
        `HTTP/1.1 ${status}\r\nTransfer-Encoding: chunked\r\nContent-Type: ${type}\r\n\r\n`,
        'data: more\n',
        20,
      );
      // ws's handshakeTimeout (3 s, of inactivity) never fires: a chunk comes every 20 ms.
      const answer = await refusal(url);
      expect(answer.statusCode).toBe(statusCode);
      expect(answer.headers['content-type']).toBe(type);
      // Whole chunks, some of them: what came before the bound cut the read.
      expect(answer.body).toMatch(/^(data: more\n)+$/);
      await allEnded(sockets);
    },
  );

  it('reads at most the first 64 KiB of a 100 KiB body', async () => {
    const body = 'x'.repeat(100 * 1024);
    const { sockets, url } = await rawServer((socket) => {
      socket.write(
        `HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      );
    });
    const answer = await refusal(url);
    expect(answer.statusCode).toBe(403);
    expect(answer.body).toHaveLength(64 * 1024);
    expect(answer.body).toBe(body.slice(0, 64 * 1024));
    await allEnded(sockets);
  });

  it("ends the client's socket itself, when the server keeps its end open after a 4xx", async () => {
    // The supervisor destroys its end after a refusal; this server does not (keep-alive, body
    // of a known length): only refusal()'s own ending of the socket closes the connection.
    const { sockets, url } = await rawServer((socket) => {
      socket.write('HTTP/1.1 401 Unauthorized\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\nno\n');
    });
    expect(await refusal(url)).toMatchObject({ statusCode: 401, body: 'no\n' });
    await allEnded(sockets);
  });

  it("rejects with ws's own error when nothing listens (ECONNREFUSED)", async () => {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    await expect(refusal(`ws://127.0.0.1:${port}/`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});
