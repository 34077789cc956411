/**
 * ws-supervisor/testing's serveForTest(): an app on a real server on port 0, real `ws`
 * clients, and its close(): the clients answer the 1001 before a simulated clock moves,
 * the 100-move bound (WSSUP_TEST_SHUTDOWN_STUCK), the leak and socket-error check
 * (WSSUP_TEST_LEAKED), idempotence, and its typed refusals of bad arguments.
 */
import { once } from 'node:events';
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import WebSocket from 'ws';
import { SimulatedClock } from 'xstate';
import {
  type OpenRefusedError,
  refusal,
  ShutdownStuckError,
  serveForTest,
  TestLeakError,
} from '../../src/testing/index.js';
import { createEcho } from './echo-app.js';

/**
 * Another server at a URL a test opens: no 'upgrade' listener, so Node hands the upgrade to
 * `handler` as a plain request. Its connections are ended after the test.
 */
async function otherServer(handler: RequestListener): Promise<number> {
  const server = createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  onTestFinished(() => {
    server.closeAllConnections();
    return new Promise<void>((closed) => server.close(() => closed()));
  });
  return (server.address() as AddressInfo).port;
}

describe('serveForTest()', () => {
  it('serves the supervisor on 127.0.0.1, opens clients by path or URL, and records what happened', async () => {
    const app = await serveForTest(createEcho());
    onTestFinished(() => app.close());
    expect(app.url('/?user=alice')).toBe(`ws://127.0.0.1:${app.port}/?user=alice`);
    const byPath = await app.open('/?user=alice');
    const byUrl = await app.open(app.url('/?user=bob'));
    expect([byPath.name, byUrl.name]).toEqual([
      `#1 ws://127.0.0.1:${app.port}/?user=alice`,
      `#2 ws://127.0.0.1:${app.port}/?user=bob`,
    ]);
    byUrl.ws.send('hi');
    expect((await byUrl.messages.next()).text).toBe('hi');
    expect(app.history).toEqual([
      expect.stringMatching(/^admitted \{.*"userId":"alice"/),
      '  limit 5: idle ones evicted from 4 live',
      expect.stringMatching(/^admitted \{.*"userId":"bob"/),
      '  limit 5: idle ones evicted from 4 live',
    ]);
    await app.close();
    expect(app.history.filter((line) => line.startsWith('disposed '))).toHaveLength(2);
    expect(byPath.ws.readyState).toBe(WebSocket.CLOSED);
  });

  it("lets open()'s clients answer the 1001 before it moves simulated time (cleanupMs measured)", async () => {
    const clock = new SimulatedClock();
    const app = await serveForTest(createEcho({ clock, heartbeatIntervalMs: 3_600_000 }), { clock });
    const disposals: Array<[string, number | undefined]> = [];
    app.supervisor.on('disposed', ({ reason, cleanupMs }) => disposals.push([reason, cleanupMs]));
    await app.open('/?user=alice');
    const paused = await app.open('/?user=bob');
    paused.ws.pause(); // close() resumes it: it answers too
    await app.close();
    expect(disposals).toEqual([
      ['shutdown', 0],
      ['shutdown', 0],
    ]);
  });

  it("moves the supervisor's own simulated clock when options.clock is left out", async () => {
    const clock = new SimulatedClock();
    const app = await serveForTest(createEcho({ clock, heartbeatIntervalMs: 3_600_000 }));
    // A client of its own that never reads: it never answers the 1001, so only the shutdown's
    // deadline, on the supervisor's clock, ends it. On a clock nobody moved, close() never resolved.
    const silent = new WebSocket(app.url('/?user=alice'));
    onTestFinished(() => silent.terminate());
    await new Promise((resolve) => silent.once('open', resolve));
    silent.pause();
    const disposed = app.supervisor.once('disposed');
    await app.close();
    expect(await disposed).toMatchObject({ userId: 'alice', reason: 'shutdown', cleanupMs: undefined });
  });

  it('calls advanceTimers(drainTimeoutMs) once the shutdown has started', async () => {
    const advanced: number[] = [];
    const supervisor = createEcho();
    let shuttingDown: unknown;
    const app = await serveForTest(supervisor, {
      advanceTimers: (ms) => {
        shuttingDown = supervisor.stats().admission.reason;
        advanced.push(ms);
      },
    });
    await app.open('/?user=alice');
    await app.close();
    expect(advanced).toEqual([supervisor.options.drainTimeoutMs]);
    expect(shuttingDown).toBe('shutting-down');
  });

  it("open() rejects with ws's error for a refused upgrade, which close() does not report again", async () => {
    const app = await serveForTest(createEcho());
    await expect(app.open('/')).rejects.toThrow('Unexpected server response: 401');
    await app.close();
  });

  it("open()'s rejection for a refused upgrade carries the answer, as refusal() reads it: status, headers, body", async () => {
    const app = await serveForTest(createEcho({ maxConnectionsPerUser: 1 }));
    onTestFinished(() => app.close());
    const unauthenticated = await app.open('/').catch((error: unknown) => error);
    expect(unauthenticated).toBeInstanceOf(Error);
    expect(unauthenticated).toMatchObject({
      message: 'Unexpected server response: 401',
      statusCode: 401,
      headers: { 'ws-supervisor-refusal': 'unauthenticated' },
      body: 'unauthenticated\n',
    });
    await app.open('/?user=alice');
    await expect(app.open('/?user=alice')).rejects.toMatchObject({
      statusCode: 429,
      headers: { 'retry-after': '5', 'ws-supervisor-refusal': 'user-limit' },
      body: 'user has reached the maximum number of connections (1)\n',
    });
    await app.close(); // neither refused client's socket error is reported again
  });

  // Another server answers the upgrade as a plain request, with an event stream that never ends:
  // open() read the body whole, so it stayed pending (ws alone rejected at once).
  it("open()'s refused upgrade whose body never ends: rejects with the body read so far, bounded in time", async () => {
    const port = await otherServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.write('data: hello\n\n');
    });
    const app = await serveForTest(createEcho());
    onTestFinished(() => app.close());
    const refused = (await app
      .open(`ws://127.0.0.1:${port}/events`)
      .catch((error) => error)) as OpenRefusedError;
    expect(refused).toBeInstanceOf(Error);
    expect(refused).toMatchObject({
      message: 'Unexpected server response: 200',
      statusCode: 200,
      headers: { 'content-type': 'text/event-stream' },
      body: 'data: hello\n\n',
    });
    expect(refused.cause).toBeInstanceOf(Error); // ws's own error
    await app.close(); // the client's socket error is not reported again
  });

  it("open()'s refused upgrade with an endless large body: rejects with its first 64 KiB", async () => {
    const port = await otherServer((_request, response) => {
      response.writeHead(503, { 'content-type': 'text/plain' });
      response.write('x'.repeat(100 * 1024)); // more than the cap, and never ended
    });
    const app = await serveForTest(createEcho());
    onTestFinished(() => app.close());
    const refused = (await app.open(`ws://127.0.0.1:${port}/`).catch((error) => error)) as OpenRefusedError;
    expect(refused).toMatchObject({ message: 'Unexpected server response: 503', statusCode: 503 });
    expect(refused.body).toBe('x'.repeat(64 * 1024));
  });

  // A body cut short by the server (its connection ended before Content-Length): the read failed,
  // and open() rejected with ws's 'WebSocket was closed before the connection was established',
  // the answer lost.
  it("open()'s refused upgrade whose body is cut short keeps the status, headers and what came", async () => {
    const port = await otherServer((_request, response) => {
      response.writeHead(401, { 'content-type': 'text/plain', 'content-length': '100' });
      response.write('unauth', () => response.socket?.destroy());
    });
    const app = await serveForTest(createEcho());
    onTestFinished(() => app.close());
    await expect(app.open(`ws://127.0.0.1:${port}/`)).rejects.toMatchObject({
      message: 'Unexpected server response: 401',
      statusCode: 401,
      headers: { 'content-length': '100' },
      body: 'unauth',
      cause: expect.any(Error),
    });
  });

  it('close() right after an open() that failed past the 101 (a subprotocol not asked for) shuts the app down', async () => {
    const app = await serveForTest(createEcho({ authenticate: () => 'carol' }));
    // ws asked for none (the header is the test's own), so it aborts the handshake at the 101: its
    // socket is still closing when open() rejects, and close() threw a TypeError from ws's
    // resume() before it shut the supervisor down.
    const opening = app.open('/', { headers: { 'sec-websocket-protocol': 'chat' } });
    await expect(opening).rejects.toThrow('Server sent a subprotocol but none was requested');
    await app.close();
    expect(app.supervisor.stats().admission.reason).toBe('shutting-down');
  });

  it('close() is idempotent: a second call returns the first promise; open() after it rejects', async () => {
    const app = await serveForTest(createEcho());
    const { ws } = await app.open('/?user=alice');
    const first = app.close();
    expect(app.close()).toBe(first);
    await expect(app.open('/?user=bob')).rejects.toMatchObject({ code: 'WSSUP_SHUTTING_DOWN' });
    await first;
    expect(ws.readyState).toBe(WebSocket.CLOSED);
    expect(app.close()).toBe(first);
  });

  it('rejects close() with WSSUP_TEST_LEAKED naming the client whose socket error no wait read', async () => {
    const app = await serveForTest(createEcho());
    await app.open('/?user=alice');
    // The reply (5 bytes) is over the client's maxPayload: ws errors, closes with 1006, and the
    // inbox keeps the error, unread.
    const { ws, messages } = await app.open('/?user=bob', { maxPayload: 4 });
    ws.send('hello');
    expect((await messages.closed).code).toBe(1006);
    const error = await app.close().then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect(error).toBeInstanceOf(TestLeakError);
    expect(error).toMatchObject({
      code: 'WSSUP_TEST_LEAKED',
      leaks: [],
      socketErrors: [`#2 ws://127.0.0.1:${app.port}/?user=bob: Max payload size exceeded`],
    });
    expect((error as Error).message).toContain('socket error no wait read: #2 ws://');
  });

  // Its leak (a spied stats()) is in serve-for-test-isolated.test.ts.

  it('rejects close() with WSSUP_TEST_SHUTDOWN_STUCK after 100 moves that do not end the shutdown, naming the client', async () => {
    // A paced shutdown the test started closes alice at once, and bob only in its second batch,
    // 30 simulated minutes later: 100 moves of a tenth of drainTimeoutMs (10 minutes) do not end it.
    const clock = new SimulatedClock();
    clock.increment(5_000); // the test's own move: simulatedMs counts close()'s only
    const supervisor = createEcho({ clock, drainTimeoutMs: 60_000, heartbeatIntervalMs: 3_600_000 });
    const app = await serveForTest(supervisor, { clock });
    await app.open('/?user=alice');
    const bob = await app.open('/?user=bob');
    const firstDisposed = new Promise<void>((resolve) => supervisor.on('disposed', () => resolve()));
    const stopped = supervisor.shutdown({ deadlineMs: 3_600_000, pace: { windowMs: 3_600_000, batches: 2 } });
    await firstDisposed;
    const error = await app.close().then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect(error).toBeInstanceOf(ShutdownStuckError);
    expect(error).toMatchObject({
      code: 'WSSUP_TEST_SHUTDOWN_STUCK',
      stillConnected: [bob.name],
      simulatedMs: 100 * (60_000 / 10),
      message: `serveForTest close(): shutdown() has not resolved after close() moved the clock 600000 ms; open()'s clients still connected: ${bob.name}`,
    });
    // close() terminated the clients and let go of the server all the same: the shutdown ends.
    await stopped;
    expect(bob.ws.readyState).toBe(WebSocket.CLOSED);
    expect(Object.entries(supervisor.stats().resources).filter(([, held]) => held !== 0)).toEqual([]);
  });
});

describe("serveForTest() with options.handler: the app's HTTP routes on the same server", () => {
  it('serves a route and admits a WebSocket on the same port; a route that broadcasts reaches the client', async () => {
    const supervisor = createEcho();
    const app = await serveForTest(supervisor, {
      handler: (request, response) => {
        if (request.url === '/online') {
          response.end(JSON.stringify(supervisor.stats().connections));
        } else if (request.url?.startsWith('/notify/')) {
          const delivered = supervisor.sendToUser(request.url.slice('/notify/'.length), 'notice');
          response.end(String(delivered));
        } else {
          response.statusCode = 404;
          response.end();
        }
      },
    });
    onTestFinished(() => app.close());
    const alice = await app.open('/?user=alice');
    const online = await fetch(`http://127.0.0.1:${app.port}/online`);
    expect([online.status, await online.text()]).toEqual([200, '1']);
    const notify = await fetch(`http://127.0.0.1:${app.port}/notify/alice`, { method: 'POST' });
    expect(await notify.text()).toBe('1');
    expect((await alice.messages.next()).text).toBe('notice');
    expect((await fetch(`http://127.0.0.1:${app.port}/other`)).status).toBe(404);
    await app.close();
    expect(alice.ws.readyState).toBe(WebSocket.CLOSED);
  });

  it("close() ends the handler's HTTP connections: a keep-alive one and a response still streaming", async () => {
    const app = await serveForTest(createEcho(), {
      handler: (request, response) => {
        if (request.url === '/events') {
          response.writeHead(200, { 'content-type': 'text/event-stream' });
          response.write('data: hello\n\n'); // and never ends: an SSE stream
        } else {
          response.end('ok');
        }
      },
    });
    onTestFinished(() => app.close());
    await app.open('/?user=alice');
    const plain = await fetch(`http://127.0.0.1:${app.port}/`); // keep-alive (undici's default)
    expect([plain.headers.get('connection'), await plain.text()]).toEqual(['keep-alive', 'ok']);
    const events = await fetch(`http://127.0.0.1:${app.port}/events`);
    const reader = events.body?.getReader();
    expect(new TextDecoder().decode((await reader?.read())?.value)).toBe('data: hello\n\n');
    const ended = reader?.read().catch((error: unknown) => error);
    await app.close(); // hung on the stream before close() ended the server's connections
    expect(await ended).toBeInstanceOf(Error); // the stream was cut, not ended
  });
});

describe('serveForTest() with options.path: the app mounted on its own path, as in production', () => {
  it('admits upgrades on the path only, refuses others with 404, and url() defaults to the path', async () => {
    const app = await serveForTest(createEcho(), { path: '/ws' });
    onTestFinished(() => app.close());
    expect(app.url()).toBe(`ws://127.0.0.1:${app.port}/ws`);
    const alice = await app.open('/ws?user=alice');
    expect(alice.userId).toBe('alice');
    const other = await refusal(app.url('/other?user=alice'));
    expect(other.statusCode).toBe(404);
    await expect(app.open('/?user=bob')).rejects.toThrow('Unexpected server response: 404');
    expect(app.supervisor.stats().connections).toBe(1);
  });

  // url('?user=a') was ws://…/?user=a, and open('?user=a') went to '/': a 404.
  it("a query alone goes onto the path, in url() and open(); a path that starts with '/' stays the server's", async () => {
    const app = await serveForTest(createEcho(), { path: '/ws' });
    onTestFinished(() => app.close());
    expect(app.url('?user=a')).toBe(`ws://127.0.0.1:${app.port}/ws?user=a`);
    expect(app.url('/?user=a')).toBe(`ws://127.0.0.1:${app.port}/?user=a`);
    const alice = await app.open('?user=alice');
    expect(alice.userId).toBe('alice');
    expect(alice.name).toBe(`#1 ws://127.0.0.1:${app.port}/ws?user=alice`);
    await expect(app.open('/?user=bob')).rejects.toMatchObject({ statusCode: 404 });
  });

  it("without a path, a query alone is on '/'", async () => {
    const app = await serveForTest(createEcho());
    onTestFinished(() => app.close());
    expect(app.url('?user=a')).toBe(`ws://127.0.0.1:${app.port}/?user=a`);
  });
});

describe('serveForTest() refuses bad arguments with WSSUP_INVALID_ARGUMENT', () => {
  it.each([
    ['no supervisor', undefined, undefined, /expected a supervisor/],
    ['an object that is not one', { attach() {} }, undefined, /expected a supervisor/],
    ['options not an object', 'supervisor', 'fast', /expected options/],
    ['a clock without increment()', 'supervisor', { clock: { now: () => 0 } }, /options\.clock must be/],
    ['advanceTimers not a function', 'supervisor', { advanceTimers: 5000 }, /options\.advanceTimers must be/],
    ['an unknown option', 'supervisor', { clocks: new SimulatedClock() }, /unknown option 'clocks'/],
    ['a handler not a function', 'supervisor', { handler: { get: () => {} } }, /options\.handler must be/],
    ['a path without its leading /', 'supervisor', { path: 'ws' }, /options\.path must start with "\/"/],
    ['a path with a query', 'supervisor', { path: '/ws?v=1' }, /options\.path must start with "\/"/],
  ])('%s', async (_name, supervisor, options, message) => {
    const given = supervisor === 'supervisor' ? createEcho() : supervisor;
    // biome-ignore lint/suspicious/noExplicitAny: bad arguments on purpose
    const call = () => serveForTest(given as any, options as any);
    // expect.stringMatching: a bare RegExp in toMatchObject matches any string (vitest 4), so the
    // messages were never checked.
    await expect(call()).rejects.toMatchObject({
      code: 'WSSUP_INVALID_ARGUMENT',
      message: expect.stringMatching(message),
    });
  });

  it('a clock the supervisor does not use: none of its own, or another (close() would move the wrong one)', async () => {
    await expect(serveForTest(createEcho(), { clock: new SimulatedClock() })).rejects.toMatchObject({
      code: 'WSSUP_INVALID_ARGUMENT',
      message:
        "serveForTest(): options.clock is not the supervisor's: createSupervisor() was given no clock, so its timers run on real time. Pass the same clock to createSupervisor({ clock }), or leave it out here.",
    });
    const other = createEcho({ clock: new SimulatedClock() });
    await expect(serveForTest(other, { clock: new SimulatedClock() })).rejects.toMatchObject({
      code: 'WSSUP_INVALID_ARGUMENT',
      message:
        "serveForTest(): options.clock is not the supervisor's: createSupervisor() was given another clock. Leave it out here: serveForTest() uses the supervisor's.",
    });
    // Refused before anything was attached: the supervisors are still free to serve.
    await (await serveForTest(other)).close();
  });

  it('a supervisor already served, and one already shut down (WSSUP_SHUTTING_DOWN)', async () => {
    const supervisor = createEcho();
    const app = await serveForTest(supervisor);
    await expect(serveForTest(supervisor)).rejects.toMatchObject({
      code: 'WSSUP_INVALID_ARGUMENT',
      message: expect.stringMatching(/already served/),
    });
    await app.close();
    const stopped = createEcho();
    await stopped.shutdown();
    await expect(serveForTest(stopped)).rejects.toMatchObject({ code: 'WSSUP_SHUTTING_DOWN' });
  });
});
