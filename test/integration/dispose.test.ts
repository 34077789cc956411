/**
 * Explicit resource management: `await using supervisor = createSupervisor(…)` shuts it down at
 * the end of the block, and so do the client (`close()`, then `closed`), serveForTest()'s app
 * (`close()`) and the dashboard (`using`: `close()`). Real servers on port 0, real ws clients.
 * `await using` itself is transpiled by vitest for Node 20 (which has the symbols, not the syntax).
 */
import { createServer } from 'node:http';
import { connect as connectTcp } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import WebSocket from 'ws';
import { createClient } from '../../src/client/index.js';
import { createDashboard } from '../../src/dashboard/index.js';
import { createSupervisor, type DisposedEvent, type Supervisor } from '../../src/index.js';
import { serveForTest } from '../../src/testing/index.js';
import {
  closed,
  closeServer,
  connect,
  expectNoLeaks,
  listenOnLoopback,
  startServer,
  userFromQuery,
} from '../helpers/server.js';

const newSupervisor = () =>
  createSupervisor({
    preset: 'test',
    authenticate: userFromQuery,
    onMessage: (connection, data, isBinary) => connection.send(data, { binary: isBinary }),
  });

describe('await using a supervisor', () => {
  it('shuts it down at the end of the block: its clients get 1001, nothing is left', async () => {
    const server = createServer();
    onTestFinished(() => closeServer(server));
    let kept: Supervisor | undefined;
    let ws: WebSocket | undefined;
    let closing: Promise<{ code: number; reason: string }> | undefined;
    {
      await using supervisor = newSupervisor();
      kept = supervisor;
      supervisor.attach(server);
      const port = await listenOnLoopback(server);
      const admitted = supervisor.once('admitted');
      ws = await connect(`ws://127.0.0.1:${port}/?user=alice`);
      closing = closed(ws);
      await admitted;
      expect(supervisor.stats().connections).toBe(1);
    }
    // Read at once, no wait: the block's end awaited the shutdown, each connection disposed.
    expect(kept.stats().connections).toBe(0);
    expectNoLeaks(kept);
    expect(await closing).toEqual({ code: 1001, reason: 'server shutting down' });
    expect(ws.readyState).toBe(WebSocket.CLOSED);
    // Shut down for good: a new attach is refused.
    expect(() => kept.attach(createServer())).toThrow(
      expect.objectContaining({ code: 'WSSUP_SHUTTING_DOWN' }),
    );
  });

  it('declared after its server (`await using` both), it shuts down before the server closes', async () => {
    let ws: WebSocket | undefined;
    let closing: Promise<{ code: number; reason: string }> | undefined;
    let kept: Supervisor | undefined;
    {
      // Node 20's server[Symbol.asyncDispose]() is close(), which waits for every connection:
      // disposed first, it would wait for the upgraded socket, which only the shutdown ends.
      await using server = createServer();
      await using supervisor = newSupervisor();
      kept = supervisor;
      supervisor.attach(server);
      const port = await listenOnLoopback(server);
      ws = await connect(`ws://127.0.0.1:${port}/?user=frank`);
      closing = closed(ws);
      expect(supervisor.stats().connections).toBe(1);
    }
    expect(await closing).toEqual({ code: 1001, reason: 'server shutting down' });
    expectNoLeaks(kept);
  });

  it('after an explicit shutdown, disposal is that shutdown: it resolves at once', async () => {
    const { supervisor, url } = await startServer();
    const ws = await connect(url('bob'));
    const closing = closed(ws);
    const shutdown = supervisor.shutdown({ deadlineMs: 200 });
    await shutdown;
    expect((await closing).code).toBe(1001);
    const disposal = supervisor[Symbol.asyncDispose]();
    expect(disposal).toBe(shutdown);
    await expect(disposal).resolves.toBeUndefined();
    expectNoLeaks(supervisor);
  });

  // An ordinary property, as the supervisor's other members: a spread keeps it, as the type says
  // (`const copy: Supervisor = { ...supervisor }` compiles), and `await using` the copy shuts the
  // supervisor down.
  it('is enumerable: `await using` a spread of the supervisor shuts the supervisor down', async () => {
    const supervisor = newSupervisor();
    onTestFinished(() => supervisor.shutdown());
    expect(Object.getOwnPropertySymbols({ ...supervisor })).toEqual([Symbol.asyncDispose]);
    {
      await using copy = { ...supervisor } satisfies Supervisor;
      expect(copy.stats().connections).toBe(0);
    }
    expect(() => supervisor.attach(createServer())).toThrow(
      expect.objectContaining({ code: 'WSSUP_SHUTTING_DOWN' }),
    );
  });
});

describe('await using a client', () => {
  it('closes its socket at the end of the block: the server hears the 1000, and `closed` has resolved', async () => {
    const { supervisor, url } = await startServer();
    const gone: DisposedEvent[] = [];
    supervisor.on('disposed', (event) => gone.push(event));
    let ended = false;
    {
      await using client = createClient({ url: url('carol'), WebSocket });
      void client.closed.then(() => {
        ended = true;
      });
      await client.once('open');
      expect(supervisor.stats().connections).toBe(1);
    }
    // `closed` resolved before the block ended: the server has answered the 1000.
    expect(ended).toBe(true);
    await expect.poll(() => gone.length).toBe(1);
    expect(gone[0]).toMatchObject({ userId: 'carol', reason: 'closed' });
    expect(supervisor.stats().connections).toBe(0);
  });

  it('does not throw for a client closed already, and resolves', async () => {
    const { url } = await startServer();
    const client = createClient({ url: url('dave'), WebSocket });
    await client.once('open');
    client.close();
    await client.closed;
    await expect(client[Symbol.asyncDispose]()).resolves.toBeUndefined();
    expect(client.state).toBe('closed');
  });
});

/** Resolves with the error code of a TCP connection to `port` on loopback, `connected` if one opens. */
const tcpOutcome = (port: number) =>
  new Promise<string>((settle) => {
    const socket = connectTcp(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      settle('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => settle(error.code ?? error.message));
  });

describe('await using serveForTest()', () => {
  it("closes the app at the end of the block: its client gets the shutdown's 1001, its port is closed", async () => {
    const supervisor = newSupervisor();
    let ws: WebSocket | undefined;
    let closing: Promise<{ code: number; reason: string }> | undefined;
    let port = 0;
    {
      await using app = await serveForTest(supervisor);
      ({ port } = app);
      ({ ws } = await app.open('/?user=erin'));
      closing = closed(ws);
      expect(await tcpOutcome(port)).toBe('connected');
    }
    expect(await closing).toEqual({ code: 1001, reason: 'server shutting down' });
    expectNoLeaks(supervisor as Supervisor);
    // close() closed the app's HTTP server: the block's end awaited it, not the shutdown alone.
    expect(await tcpOutcome(port)).toBe('ECONNREFUSED');
  });

  it("runs close()'s leak check: a socket error no test read makes the block reject with WSSUP_TEST_LEAKED", async () => {
    const scope = async () => {
      await using app = await serveForTest(newSupervisor());
      // The echo (5 bytes) is over the client's maxPayload: ws errors, and its inbox keeps the error, unread.
      const { ws, messages } = await app.open('/?user=fay', { maxPayload: 4 });
      ws.send('hello');
      expect((await messages.closed).code).toBe(1006);
    };
    await expect(scope()).rejects.toMatchObject({
      code: 'WSSUP_TEST_LEAKED',
      message: expect.stringMatching(/\/\?user=fay: Max payload size exceeded/),
    });
  });
});

describe('using a dashboard', () => {
  it('closes it at the end of the block: later requests get 503', async () => {
    const { supervisor } = await startServer();
    const server = createServer();
    onTestFinished(() => closeServer(server));
    {
      using dashboard = createDashboard(supervisor, { authorize: () => true });
      server.on('request', dashboard);
      const port = await listenOnLoopback(server);
      const open = await fetch(`http://127.0.0.1:${port}${dashboard.basePath}/`);
      expect(open.status).toBe(200);
      await open.arrayBuffer();
    }
    const { port } = server.address() as { port: number };
    const after = await fetch(`http://127.0.0.1:${port}/dashboard/`);
    expect(after.status).toBe(503);
    await after.arrayBuffer();
  });
});
