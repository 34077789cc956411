/**
 * Testing your own service built on ws-supervisor, with vitest: a real `ws`
 * server on port 0, real `ws` clients, and simulated time for the rules that
 * take minutes (idle eviction, heartbeats). docs/testing-your-app.md
 * quotes the regions below (test/examples/readme-snippets.test.ts).
 *
 *   npm run example:testing-your-app
 *
 * It imports `ws-supervisor` by name, as your tests will: here that resolves to
 * this package's dist/, so the script builds first (as `npm test` does).
 */
// #region imports
import { once } from 'node:events';
import { createServer } from 'node:http';
import express from 'express';
import { describe, expect, it, type TestContext, vi } from 'vitest';
import WebSocket from 'ws';
import { createSupervisor, type Supervisor, type SupervisorOptions } from 'ws-supervisor';
import { refusal, serveForTest } from 'ws-supervisor/testing';
import { SimulatedClock } from 'xstate';

// …and your app's factory, e.g. import { createChat } from '../src/chat.js' (here it is below).
// #endregion imports

// #region app
// The app under test (in your repo, your own module): a token per user, and a
// JSON protocol: {"say": text} is answered {"from": user, "said": text}; anything
// else closes the connection with 4100. Tests pass what they change (a clock, limits).
// A token may end its session: 'token-alice@<epoch ms>' (a real app reads a JWT's exp * 1000).
// Typed app data (createSupervisor<ChatData>): connection.data is a ChatData | undefined.
interface ChatData {
  plan: 'free' | 'pro';
}
// One object per user: all of alice's connections share its `data` (return a copy per call for per-connection state).
const users: Record<string, { userId: string; data: ChatData }> = {
  'token-alice': { userId: 'alice', data: { plan: 'pro' } },
  'token-bob': { userId: 'bob', data: { plan: 'free' } },
};

function createChat(overrides: Partial<SupervisorOptions<ChatData>> = {}): Supervisor<ChatData> {
  return createSupervisor<ChatData>({
    preset: 'production',
    authenticate: (request) => {
      const token = new URLSearchParams(request.url?.split('?')[1]).get('token') ?? '';
      const [name = '', endsAt] = token.split('@');
      const user = users[name];
      if (user === undefined) return null; // null: HTTP 401
      return endsAt === undefined ? user : { ...user, expiresAt: Number(endsAt) }; // 4002 once past
    },
    onMessage: (connection, data) => {
      let message: { say?: unknown };
      try {
        message = JSON.parse(data.toString());
      } catch {
        connection.close(4100, 'expected JSON');
        return;
      }
      connection.send(JSON.stringify({ from: connection.userId, said: message.say }));
    },
    ...overrides,
  });
}
// #endregion app

// #region harness
/**
 * Your app on a real HTTP server on port 0 (serveForTest), closed after the test: shut down,
 * the clients' answers to the 1001 let in, the leak check; what the supervisor did is printed
 * when the test fails. `context` is the test's own (it('…', async (context) => …)): its
 * onTestFinished cleans up this test's app, under describe.concurrent too.
 */
async function startChat(context: TestContext, overrides: Parameters<typeof createChat>[0] = {}) {
  const app = await serveForTest(createChat(overrides), {
    advanceTimers: (ms) => vi.isFakeTimers() && vi.advanceTimersByTime(ms),
  });
  context.onTestFinished(() => app.close());
  context.onTestFailed(() => console.log(`what the supervisor did:\n${app.history.join('\n')}`));
  return { supervisor: app.supervisor, open: app.open, url: (token: string) => app.url(`/?token=${token}`) };
}
// #endregion harness

// #region protocol
it('answers {"say"} and closes with 4100 on anything but JSON', async (context) => {
  const { supervisor, url, open } = await startChat(context);
  // Which connection the client is: the id the supervisor admitted it with, on its own socket.
  const { ws, messages, connectionId, userId } = await open(url('token-alice'));
  expect(userId).toBe('alice');
  expect(supervisor.connection(connectionId)?.data?.plan).toBe('pro'); // typed: ChatData | undefined

  ws.send(JSON.stringify({ say: 'hi' }));
  const reply = await messages.next(); // every message from the open on, one per next(): none lost
  expect(JSON.parse(reply.text)).toEqual({ from: 'alice', said: 'hi' });

  const disposed = supervisor.once('disposed', { matches: (event) => event.connectionId === connectionId });
  ws.send('not json');
  const { code, reason } = await messages.closed;
  expect([code, reason]).toEqual([4100, 'expected JSON']);
  // The client's close can come before the server has let go of the socket: wait for `disposed`.
  expect(await disposed).toMatchObject({ reason: 'app-close', closeCode: 4100 });
  expect(supervisor.stats().connections).toBe(0);
});
// #endregion protocol

// #region await-using
// Without the harness: `await using` (TypeScript 5.2+) closes the app when the test's block
// ends, pass or fail: the shutdown, then the leak check (a leak fails the test).
it('closes the app at the end of the test with await using', async () => {
  await using app = await serveForTest(createChat());
  const { ws, messages } = await app.open(app.url('/?token=token-alice'));
  ws.send(JSON.stringify({ say: 'hi' }));
  expect(JSON.parse((await messages.next()).text)).toEqual({ from: 'alice', said: 'hi' });
});
// #endregion await-using

// #region own-server
// Your own HTTP server (your routes' own) instead of serveForTest(): declare the server first.
// Scopes end in reverse: the supervisor shuts down (each client gets its 1001), then the server
// closes. The other way round, server.close() waits for the upgraded sockets, which only the
// shutdown ends: the test hangs, and vitest says only "Test timed out".
it('closes its own HTTP server after the supervisor, declared in that order', async () => {
  await using server = createServer();
  await using supervisor = createChat();
  supervisor.attach(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  const ws = new WebSocket(`ws://127.0.0.1:${port}/?token=token-alice`);
  await once(ws, 'open');
  expect(supervisor.userStats('alice')).toMatchObject({ live: 1 });
});
// #endregion own-server

// #region routes
// Your app's HTTP routes on the same server: options.handler (an Express app, Koa's
// app.callback(), a node:http handler) answers plain requests, upgrades still go to the
// supervisor, and close() ends the routes' connections too (a fetch's keep-alive one).
it("serves the app's REST routes beside its WebSockets", async () => {
  const supervisor = createChat();
  const routes = express()
    .get('/online', (_request, response) => {
      response.json({ connections: supervisor.stats().connections });
    })
    .post('/notice', (_request, response) => {
      response.json({ delivered: supervisor.sendToUser('alice', JSON.stringify({ notice: 'at 6' })) });
    });
  await using app = await serveForTest(supervisor, { handler: routes });
  const { messages } = await app.open(app.url('/?token=token-alice'));
  const online = await fetch(app.httpUrl('/online'));
  expect(await online.json()).toEqual({ connections: 1 });
  const notice = await fetch(app.httpUrl('/notice'), { method: 'POST' });
  expect(await notice.json()).toEqual({ delivered: 1 });
  expect(JSON.parse((await messages.next()).text)).toEqual({ notice: 'at 6' });
});
// #endregion routes

// #region limit
it('refuses a user at the limit with HTTP 429 and a Retry-After', async (context) => {
  const { supervisor, url, open } = await startChat(context, { maxConnectionsPerUser: 2 });
  await open(url('token-bob'));
  await open(url('token-bob'));
  const rejected = supervisor.once('rejected');
  const response = await refusal(url('token-bob'));
  expect(response.statusCode).toBe(429);
  expect(response.headers['retry-after']).toBe('5');
  expect(await rejected).toMatchObject({ reason: 'user-limit', userId: 'bob', status: 429 });
  expect(response.body).toBe('user has reached the maximum number of connections (2)\n');
  expect(supervisor.userStats('bob')).toMatchObject({ live: 2, limit: 2 });
});
// #endregion limit

// #region idle
it('evicts an idle connection with 4001 after idleTimeoutMs of simulated time', async (context) => {
  const clock = new SimulatedClock();
  const { supervisor, url, open } = await startChat(context, {
    clock,
    maxConnectionsPerUser: 1, // eviction starts at T = ceil(evictionThreshold × limit) live connections: 1
    heartbeatIntervalMs: 3_600_000, // one rule per test: no ping (and no pong to wait for) in these 7.5 minutes
  });
  const { idleTimeoutMs } = supervisor.options; // 5 minutes, not one of them waited for
  const { ws, messages } = await open(url('token-alice'));

  clock.increment(idleTimeoutMs / 2);
  ws.send(JSON.stringify({ say: 'still here' }));
  await messages.next(); // the server has seen the message: activity, stamped on the clock
  clock.increment(idleTimeoutMs / 2);
  expect(supervisor.userStats('alice')).toMatchObject({ live: 1, idle: 0 });

  const evicted = supervisor.once('evicted');
  const disposed = supervisor.once('disposed');
  clock.increment(idleTimeoutMs / 2); // quiet for idleTimeoutMs: evicted in this call
  // increment() has run the due delays and what they decided (the eviction, its event) when it
  // returns: check the books first, a clear diff at once where an await would time out. What goes
  // over the network (the 4001 reaching the client) comes later: await it.
  expect(supervisor.userStats('alice')).toMatchObject({ live: 0, draining: 1 });
  expect(await evicted).toMatchObject({ userId: 'alice', cause: 'idle' });
  const { code, reason } = await messages.closed;
  expect([code, reason]).toEqual([4001, 'evicted: idle']);
  expect(await disposed).toMatchObject({ reason: 'evicted', closeCode: 4001 });
});
// #endregion idle

// #region heartbeat
it('terminates a peer that stops answering pings, by the next heartbeat', async (context) => {
  const clock = new SimulatedClock();
  const { supervisor, url, open } = await startChat(context, { clock });
  const { heartbeatIntervalMs } = supervisor.options;
  const live = await open(url('token-alice'));
  const dead = await open(url('token-bob'), { autoPong: false }); // a peer that is gone

  const pinged = once(live.ws, 'ping');
  clock.increment(heartbeatIntervalMs); // both are pinged
  await pinged;
  live.ws.send(JSON.stringify({ say: 'pong went first' })); // same socket, so its pong is ahead:
  await live.messages.next(); // once this is answered, the server has the pong

  const disposed = supervisor.once('disposed');
  clock.increment(heartbeatIntervalMs); // no pong from bob: terminated, no close frame
  expect(supervisor.userStats('bob')).toBeUndefined(); // disposed in this call: its slot is free
  expect(await disposed).toMatchObject({ userId: 'bob', reason: 'dead-peer' });
  expect((await dead.messages.closed).code).toBe(1006);
  expect(live.ws.readyState).toBe(WebSocket.OPEN);
});
// #endregion heartbeat

// #region expiry
it("closes a session with 4002 once its token's expiresAt has passed, on simulated time", async (context) => {
  const clock = new SimulatedClock();
  const sessionMs = 3_600_000; // an hour-long token
  // The first heartbeat, an hour after the open, finds the session over: no ping, no pong to wait for.
  const { supervisor, url, open } = await startChat(context, { clock, heartbeatIntervalMs: sessionMs });
  // expiresAt is on the wall clock, as your tokens are: mint it with Date.now(), not the clock's now()
  // (0). The supervisor counts the time left from the admission, on its own clock.
  const { messages } = await open(url(`token-alice@${Date.now() + sessionMs}`));

  clock.increment(sessionMs - 1); // nothing is due yet: the expiry is found by the heartbeat
  expect(supervisor.userStats('alice')).toMatchObject({ live: 1 });
  const disposed = supervisor.once('disposed');
  clock.increment(1); // the heartbeat: expired, closed with 4002 (createClient reconnects with a fresh token)
  const { code, reason } = await messages.closed;
  expect([code, reason]).toEqual([4002, 'session expired']);
  expect(await disposed).toMatchObject({ userId: 'alice', reason: 'expired', closeCode: 4002 });
});
// #endregion expiry

// #region fake-timers
it('evicts an idle connection under vi.useFakeTimers(), on the default clock (no clock option)', async (context) => {
  // Registered before startChat(), so it runs after the harness's shutdown (the last registered runs first).
  context.onTestFinished(() => void vi.useRealTimers());
  vi.useFakeTimers(); // before the app starts: a delay already set on real time is not moved by a fake advance
  const { supervisor, url, open } = await startChat(context, {
    maxConnectionsPerUser: 1,
    heartbeatIntervalMs: 3_600_000,
  });
  const { idleTimeoutMs } = supervisor.options;
  const { messages } = await open(url('token-alice'));

  const disposed = supervisor.once('disposed');
  vi.advanceTimersByTime(idleTimeoutMs - 1);
  expect(supervisor.userStats('alice')).toMatchObject({ live: 1, idle: 0 });
  // Runs what falls due before it returns, as increment() does (over 500 connections going idle
  // in the same ms: 500 a fake ms, so advance 1 ms more per further 500; see docs/testing-your-app.md).
  vi.advanceTimersByTime(1);
  expect(supervisor.userStats('alice')).toMatchObject({ live: 0, draining: 1 });
  const { code, reason } = await messages.closed;
  expect([code, reason]).toEqual([4001, 'evicted: idle']);
  expect(await disposed).toMatchObject({ reason: 'evicted', closeCode: 4001 });
});
// #endregion fake-timers

// The harness's shutdown on fake timers: a client that never answers the 1001 holds it until the
// drain deadline, which the harness moves past (vi.advanceTimersByTime) once shutdown() has started.
it('shuts down under vi.useFakeTimers() although a client never answers the 1001', async (context) => {
  let silent: WebSocket | undefined;
  // Registered before startChat(): they run after the harness's shutdown (its hook is the one that
  // would time out). The client is not open()'s, whose clients answer the 1001.
  context.onTestFinished(() => void vi.useRealTimers());
  context.onTestFinished(() => silent?.terminate());
  vi.useFakeTimers();
  const { supervisor, url } = await startChat(context, { heartbeatIntervalMs: 3_600_000 });
  silent = new WebSocket(url('token-bob'));
  await once(silent, 'open');
  silent.pause(); // reads nothing more: the 1001 is never read, so never answered
  expect(supervisor.stats().connections).toBe(1);
});

// On the default, real clock a client that never answers the 1001 holds shutdown() for drainTimeoutMs
// (5 s of real time): a test that leaves one ends the app itself with deadlineMs: 0, which terminates
// it at once (the harness's shutdown() then gets that call's promise: the first call's options win).
it('ends a client that never answers the 1001 at once on the real clock, with shutdown({ deadlineMs: 0 })', async (context) => {
  let silent: WebSocket | undefined;
  context.onTestFinished(() => silent?.terminate()); // runs after the harness's shutdown
  const { supervisor, url } = await startChat(context);
  silent = new WebSocket(url('token-bob'));
  await once(silent, 'open');
  silent.pause(); // reads nothing more: the 1001 is never read, so never answered
  const disposed = supervisor.once('disposed');
  await supervisor.shutdown({ deadlineMs: 0 });
  expect(await disposed).toMatchObject({ userId: 'bob', reason: 'shutdown', cleanupMs: undefined });
});

// The harness's shutdown on simulated time: it moves the clock past the deadline only once open()'s
// clients have answered the 1001 (one the test paused reads again first), so none ends as a silent
// peer: each is disposed by its answer, its cleanupMs measured (0: the clock did not move meanwhile).
it("lets open()'s clients answer the shutdown's 1001 before it moves simulated time", async (context) => {
  const disposals: Array<[string, number | undefined]> = [];
  // Registered before startChat(): runs after the harness's shutdown.
  context.onTestFinished(() => {
    expect(disposals).toEqual([
      ['shutdown', 0],
      ['shutdown', 0],
      ['shutdown', 0],
    ]);
  });
  const clock = new SimulatedClock();
  const { supervisor, url, open } = await startChat(context, { clock, heartbeatIntervalMs: 3_600_000 });
  supervisor.on('disposed', ({ reason, cleanupMs }) => disposals.push([reason, cleanupMs]));
  await open(url('token-alice'));
  await open(url('token-bob'), { autoPong: false }); // it answers a close frame all the same
  const paused = await open(url('token-alice'));
  paused.ws.pause();
  expect(supervisor.stats().connections).toBe(3);
});

// A paced shutdown that the test starts and does not await: its later batches wait on the simulated
// clock, so the harness moves it (a step at a time, once nothing more happens without it) instead of
// waiting for every client's close first (it waited for ever, and its hook timed out).
it('shuts down on simulated time after a paced shutdown() the test did not await', async (context) => {
  const disposals: Array<[string, number | undefined]> = [];
  context.onTestFinished(() => {
    // Registered before startChat(): runs after the harness's shutdown. Both answered their 1001.
    expect(disposals).toEqual([
      ['shutdown', 0],
      ['shutdown', 0],
    ]);
  });
  const clock = new SimulatedClock();
  const { supervisor, url, open } = await startChat(context, { clock, heartbeatIntervalMs: 3_600_000 });
  supervisor.on('disposed', ({ reason, cleanupMs }) => disposals.push([reason, cleanupMs]));
  await open(url('token-alice'));
  await open(url('token-bob'));
  const disposed = supervisor.once('disposed');
  void supervisor.shutdown({ pace: { windowMs: 1000, batches: 2 } }); // the second batch at 500 ms
  expect(await disposed).toMatchObject({ reason: 'shutdown' }); // the first batch: one of the two, at once
  expect(supervisor.stats().connections).toBe(1); // the other waits for the clock
});

// An error of a client's socket that no wait reported fails the test, naming the client: here the
// client's own maxPayload (4 bytes) is smaller than the reply, so ws errors and closes with 1009;
// the inbox takes the error (nothing throws) and keeps it in `errors`, which close() checks
// (WSSUP_TEST_LEAKED).
describe("the harness's check of open()'s clients' errors", () => {
  let failures: string[] = [];
  it.fails('fails a test whose client had an error no wait read', async (context) => {
    context.onTestFailed(({ task }) => {
      failures = (task.result?.errors ?? []).map((error) => String(error.message));
    });
    const { url, open } = await startChat(context);
    await open(url('token-alice'));
    const { ws, messages } = await open(url('token-bob'), { maxPayload: 4 });
    ws.send(JSON.stringify({ say: 'hi' }));
    expect((await messages.closed).code).toBe(1006); // ws closed the socket at once, no close frame
  });
  it('names the client and its error (the test above, which ran first)', () => {
    expect(failures).toEqual([
      expect.stringMatching(
        /^serveForTest close\(\): after the shutdown\nsocket error no wait read: #2 ws:\/\/127\.0\.0\.1:\d+\/\?token=token-bob: Max payload size exceeded$/,
      ),
    ]);
  });
});

// A plan limit from authenticate wins over the maxConnectionsPerUser option: with 20, T is 14, and
// maxConnectionsPerUser: 1 changes nothing. evictionThreshold: 0 makes T 0 whatever the limit.
it('evicts an idle connection of a user whose authenticate returns a plan limit (20), with evictionThreshold: 0', async (context) => {
  const clock = new SimulatedClock();
  const { supervisor, url, open } = await startChat(context, {
    clock,
    authenticate: () => ({ userId: 'alice', maxConnectionsPerUser: 20 }), // the plan's limit
    maxConnectionsPerUser: 1, // ignored for alice: her limit is authenticate's 20
    evictionThreshold: 0, // T = ceil(0 × 20) = 0: every connection goes once idle
    heartbeatIntervalMs: 3_600_000,
  });
  const { idleTimeoutMs } = supervisor.options;
  const first = await open(url('token-alice'));
  const second = await open(url('token-alice'));
  expect(supervisor.userStats('alice')).toMatchObject({ live: 2, limit: 20 });
  clock.increment(idleTimeoutMs / 2);
  second.ws.send(JSON.stringify({ say: 'still here' }));
  await second.messages.next(); // the second is active; the first stays quiet

  const evicted = supervisor.once('evicted');
  clock.increment(idleTimeoutMs / 2); // the first has been idle for idleTimeoutMs: evicted (2 ≥ T = 0)
  expect(supervisor.userStats('alice')).toMatchObject({ live: 1, idle: 0, draining: 1, limit: 20 });
  expect(await evicted).toMatchObject({ userId: 'alice', cause: 'idle' });
  expect((await first.messages.closed).code).toBe(4001);
  expect(second.ws.readyState).toBe(WebSocket.OPEN);
});

// #region concurrent
// Under describe.concurrent (or it.concurrent) tests run at once, and each cleans up its own app.
describe.concurrent('two tests at once, each with its own app', () => {
  let quickOneFinished: () => void = () => {};
  const quickOneDone = new Promise<void>((resolve) => {
    quickOneFinished = resolve;
  });
  it("outlives the other test's cleanup: its app and client are its own", async (context) => {
    const { supervisor, url, open } = await startChat(context);
    const { ws, messages } = await open(url('token-bob'));
    await quickOneDone; // the test below has ended, and its cleanup has run
    expect(ws.readyState).toBe(WebSocket.OPEN);
    ws.send(JSON.stringify({ say: 'still here' }));
    const reply = await messages.next();
    expect(JSON.parse(reply.text)).toEqual({ from: 'bob', said: 'still here' });
    expect(supervisor.stats().connections).toBe(1);
  });
  it('ends while the test above is still running', async (context) => {
    context.onTestFinished(() => quickOneFinished()); // registered first: runs after the harness's shutdown
    const { url, open } = await startChat(context);
    const { ws, messages } = await open(url('token-alice'));
    ws.send(JSON.stringify({ say: 'hi' }));
    await messages.next();
  });
});
// #endregion concurrent
