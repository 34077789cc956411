/**
 * Undo attach() only once the HTTP server has closed (README, "Embedding it", the shutdown
 * order; examples/fastify.ts). Undone right after `await supervisor.shutdown()`, as a NestJS
 * trial did in beforeApplicationShutdown, an upgrade arriving before the server closes
 * finds no `upgrade` listener, and Node hands it to the app as a plain GET: Express answered
 * `404 Cannot GET /ws?token=…`, echoing the token, on a keep-alive socket. Kept attached
 * until then, the supervisor answers it 503 and closes the socket. Real servers on port 0,
 * raw upgrade requests.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import { connect as tcpConnect } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createSupervisor } from '../../src/index.js';
import { closed, connect, expectNoLeaks, listenOnLoopback, userFromQuery } from '../helpers/server.js';

const SECRET = 'token-not-to-be-echoed';

/** The whole answer to a raw upgrade request, once the server has closed the socket. */
async function upgradeAnswer(port: number, path: string): Promise<string> {
  const socket = tcpConnect(port, '127.0.0.1');
  onTestFinished(() => void socket.destroy());
  socket.write(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
      'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
  );
  let answer = '';
  socket.on('data', (chunk: Buffer) => {
    answer += chunk.toString();
  });
  // A keep-alive answer (the app's 404) keeps it open until the server's keep-alive timeout
  // (5 s) closes it: the answer then read is that 404, and the assertions on it fail.
  await once(socket, 'close');
  return answer;
}

describe('an upgrade arriving after shutdown(), before the server has closed', () => {
  it("node:http with Express: gets the supervisor's 503, not the app's 404 echoing the URL; detached in close()'s callback", async () => {
    const app = express(); // its 404: `Cannot GET /ws?user=…` in the body, keep-alive
    const server = createServer(app);
    const port = await listenOnLoopback(server);
    onTestFinished(() => {
      server.closeAllConnections();
      server.close();
    });
    const supervisor = createSupervisor({ preset: 'test', authenticate: userFromQuery });
    onTestFinished(() => supervisor.shutdown()); // idempotent: a no-op once the test has shut it down
    const detach = supervisor.attach(server, { path: '/ws' });
    const ws = await connect(`ws://127.0.0.1:${port}/ws?user=ada`);
    const goingAway = closed(ws);

    await supervisor.shutdown();
    expect((await goingAway).code).toBe(1001);
    // The server has not closed yet: the framework's other shutdown steps run here.
    const answer = await upgradeAnswer(port, `/ws?user=ada&token=${SECRET}`);
    expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 503 Service Unavailable');
    expect(answer).not.toContain(SECRET);
    expect(answer).not.toMatch(/Cannot GET/);

    const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
    await serverClosed;
    detach(); // only now: no connection is left to bring an upgrade
    expectNoLeaks(supervisor);
  });

  it("Fastify as examples/fastify.ts: shut down in preClose, detached in onClose; an upgrade in between (another plugin's preClose) gets the supervisor's 503", async () => {
    const app = Fastify();
    const supervisor = createSupervisor({ preset: 'test', authenticate: userFromQuery });
    const detach = supervisor.attach(app.server, { path: '/ws' });
    app.addHook('preClose', async () => {
      await supervisor.shutdown();
    });
    app.addHook('onClose', async () => detach());
    let port = 0;
    let answer: string | undefined;
    // Registered later, so run after the supervisor's shutdown and before the server closes.
    app.addHook('preClose', async () => {
      answer = await upgradeAnswer(port, `/ws?user=ada&token=${SECRET}`);
    });
    onTestFinished(() => app.close());
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.server.address() as { port: number }).port;
    const ws = await connect(`ws://127.0.0.1:${port}/ws?user=ada`);
    const goingAway = closed(ws);

    await app.close();
    expect((await goingAway).code).toBe(1001);
    // Not Fastify's own 503 ({"error":"Service Unavailable",…}), which answers any request while it closes.
    expect(answer?.split('\r\n')[0]).toBe('HTTP/1.1 503 Service Unavailable');
    expect(answer).not.toContain(SECRET);
    expect(answer).not.toContain('"statusCode":503');
    expectNoLeaks(supervisor);
  });
});
