/**
 * Testing your own service built on ws-supervisor, with vitest: a real `ws`
 * server on port 0, real `ws` clients, and simulated time for the rules that
 * take minutes (idle eviction, heartbeats). The README's "Testing your app"
 * quotes the regions below (test/examples/readme-snippets.test.ts).
 *
 *   npm run example:testing-your-app
 *
 * It imports `ws-supervisor` by name, as your tests will: here that resolves to
 * this package's dist/, so the script builds first (as `npm test` does).
 */
// #region imports
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { text } from 'node:stream/consumers';
import { describe, expect, it, type TestContext, vi } from 'vitest';
import WebSocket from 'ws';
import { createSupervisor, type Supervisor, type SupervisorOptions } from 'ws-supervisor';
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
/** Your app on a real HTTP server on port 0; after the test, shut down and check that nothing leaked. */
// `context` is the test's own (it('…', async (context) => …)): its onTestFinished runs this
// test's cleanup, under describe.concurrent too (the one imported from vitest may run it when
// another test ends). Its options are whatever your createChat() takes (Partial<SupervisorOptions<Data>>
// for an app typed with createSupervisor<Data>()), so this compiles for a typed app and an untyped one.
async function startChat(context: TestContext, overrides: Parameters<typeof createChat>[0] = {}) {
  const supervisor = createChat(overrides);
  const server = createServer();
  supervisor.attach(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  // A test that waits for an event that never comes times out and says nothing: print what happened.
  const seen: string[] = [];
  for (const name of ['admitted', 'rejected', 'evicted', 'disposed'] as const) {
    supervisor.on(name, (event) => seen.push(`${name} ${JSON.stringify(event)}`));
  }
  // The user's limit in force (one that authenticate returns wins over the option), and T.
  supervisor.on('admitted', ({ userId }) => {
    const user = supervisor.userStats(userId);
    seen.push(`  limit ${user?.limit}: idle ones evicted from ${user?.evictAt} live`);
  });
  context.onTestFailed(() => console.log(`what the supervisor did:\n${seen.join('\n')}`));
  context.onTestFinished(async () => {
    const stopped = supervisor.shutdown();
    // On simulated time the shutdown's deadline is simulated too: move the time past it, or a
    // client that never answers the 1001 holds shutdown() until the hook times out.
    if (overrides.clock instanceof SimulatedClock)
      overrides.clock.increment(supervisor.options.drainTimeoutMs);
    else if (vi.isFakeTimers()) vi.advanceTimersByTime(supervisor.options.drainTimeoutMs);
    await stopped;
    // Its sockets are gone when this resolves; a close that fails fails the test.
    await new Promise<void>((closed, failed) => server.close((error) => (error ? failed(error) : closed())));
    // The leak check: every actor agrees with the books, and nothing is held.
    expect(supervisor.audit().mismatches).toEqual([]);
    const stats = supervisor.stats();
    expect(stats.connections).toBe(0);
    expect(stats.counters.disposed).toBe(stats.counters.admitted);
    expect(
      Object.values(stats.resources).every((held) => held === 0),
      JSON.stringify(stats.resources),
    ).toBe(true);
  });
  /** A client, open; terminated after the test whatever happens. */
  async function open(url: string, options?: WebSocket.ClientOptions): Promise<WebSocket> {
    const ws = new WebSocket(url, options);
    context.onTestFinished(() => ws.terminate());
    await once(ws, 'open'); // rejects on 'error', e.g. an upgrade refused with 401
    return ws;
  }
  return { supervisor, open, url: (token: string) => `ws://127.0.0.1:${port}/?token=${token}` };
}

/** The answer to an upgrade the server must refuse (its status, headers and body); fails if it opens. */
async function refusal(
  url: string,
): Promise<{ statusCode: number | undefined; headers: IncomingHttpHeaders; body: string }> {
  // No terminate() after the test: on a socket still connecting, ws reports that as an 'error'.
  const ws = new WebSocket(url);
  ws.on('open', () => ws.emit('error', new Error(`expected ${url} to be refused, but it opened`)));
  // With this listener, ws hands over the response instead of an 'error' ("Unexpected server response").
  const [, response] = (await once(ws, 'unexpected-response')) as [unknown, IncomingMessage];
  // Read it all now: resumed and read a turn of I/O later, its body would be gone ('').
  const body = await text(response); // e.g. "user has reached the maximum number of connections (2)\n"
  return { statusCode: response.statusCode, headers: response.headers, body };
}
// #endregion harness

// #region protocol
it('answers {"say"} and closes with 4100 on anything but JSON', async (context) => {
  const { supervisor, url, open } = await startChat(context);
  const admitted = supervisor.once('admitted');
  const ws = await open(url('token-alice'));
  const { connectionId } = await admitted;
  expect(supervisor.connection(connectionId)?.data?.plan).toBe('pro'); // typed: ChatData | undefined

  ws.send(JSON.stringify({ say: 'hi' }));
  const [reply] = await once(ws, 'message');
  expect(JSON.parse(String(reply))).toEqual({ from: 'alice', said: 'hi' });

  const disposed = supervisor.once('disposed', { matches: (event) => event.connectionId === connectionId });
  ws.send('not json');
  const [code, reason] = await once(ws, 'close');
  expect([code, String(reason)]).toEqual([4100, 'expected JSON']);
  // The client's close can come before the server has let go of the socket: wait for `disposed`.
  expect(await disposed).toMatchObject({ reason: 'app-close', closeCode: 4100 });
  expect(supervisor.stats().connections).toBe(0);
});
// #endregion protocol

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
  const ws = await open(url('token-alice'));

  clock.increment(idleTimeoutMs / 2);
  ws.send(JSON.stringify({ say: 'still here' }));
  await once(ws, 'message'); // the server has seen the message: activity, stamped on the clock
  clock.increment(idleTimeoutMs / 2);
  expect(supervisor.userStats('alice')).toMatchObject({ live: 1, idle: 0 });

  const evicted = supervisor.once('evicted');
  const disposed = supervisor.once('disposed');
  const closed = once(ws, 'close');
  clock.increment(idleTimeoutMs / 2); // quiet for idleTimeoutMs: evicted in this call
  // increment() has run the due delays and what they decided (the eviction, its event) when it
  // returns; what goes over the network (the 4001 reaching the client) comes later: await it.
  expect(supervisor.userStats('alice')).toMatchObject({ live: 0, draining: 1 });
  expect(await evicted).toMatchObject({ userId: 'alice', cause: 'idle' });
  const [code, reason] = await closed;
  expect([code, String(reason)]).toEqual([4001, 'evicted: idle']);
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

  const pinged = once(live, 'ping');
  clock.increment(heartbeatIntervalMs); // both are pinged
  await pinged;
  live.send(JSON.stringify({ say: 'pong went first' })); // same socket, so its pong is ahead:
  await once(live, 'message'); // once this is answered, the server has the pong

  const disposed = supervisor.once('disposed');
  const closed = once(dead, 'close');
  clock.increment(heartbeatIntervalMs); // no pong from bob: terminated, no close frame
  expect(supervisor.userStats('bob')).toBeUndefined(); // disposed in this call: its slot is free
  expect(await disposed).toMatchObject({ userId: 'bob', reason: 'dead-peer' });
  expect((await closed)[0]).toBe(1006);
  expect(live.readyState).toBe(WebSocket.OPEN);
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
  const ws = await open(url(`token-alice@${Date.now() + sessionMs}`));

  clock.increment(sessionMs - 1); // nothing is due yet: the expiry is found by the heartbeat
  expect(supervisor.userStats('alice')).toMatchObject({ live: 1 });
  const disposed = supervisor.once('disposed');
  const closed = once(ws, 'close');
  clock.increment(1); // the heartbeat: expired, closed with 4002 (createClient reconnects with a fresh token)
  const [code, reason] = await closed;
  expect([code, String(reason)]).toEqual([4002, 'session expired']);
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
  const ws = await open(url('token-alice'));

  const disposed = supervisor.once('disposed');
  const closed = once(ws, 'close');
  vi.advanceTimersByTime(idleTimeoutMs - 1);
  expect(supervisor.userStats('alice')).toMatchObject({ live: 1, idle: 0 });
  // Runs what falls due before it returns, as increment() does (over 500 connections going idle
  // in the same ms: 500 a fake ms, so advance 1 ms more per further 500; see the README).
  vi.advanceTimersByTime(1);
  expect(supervisor.userStats('alice')).toMatchObject({ live: 0, draining: 1 });
  const [code, reason] = await closed;
  expect([code, String(reason)]).toEqual([4001, 'evicted: idle']);
  expect(await disposed).toMatchObject({ reason: 'evicted', closeCode: 4001 });
});
// #endregion fake-timers

// The harness's shutdown on fake timers: a client that never answers the 1001 holds it until the
// drain deadline, which the harness moves past (vi.advanceTimersByTime) once shutdown() has started.
it('shuts down under vi.useFakeTimers() although a client never answers the 1001', async (context) => {
  let silent: WebSocket | undefined;
  // Registered before startChat(): they run after the harness's shutdown (its hook is the one that
  // would time out). The client is not open()'s, which terminates its clients before the shutdown.
  context.onTestFinished(() => void vi.useRealTimers());
  context.onTestFinished(() => silent?.terminate());
  vi.useFakeTimers();
  const { supervisor, url } = await startChat(context, { heartbeatIntervalMs: 3_600_000 });
  silent = new WebSocket(url('token-bob'));
  await once(silent, 'open');
  silent.pause(); // reads nothing more: the 1001 is never read, so never answered
  expect(supervisor.stats().connections).toBe(1);
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
  second.send(JSON.stringify({ say: 'still here' }));
  await once(second, 'message'); // the second is active; the first stays quiet

  const evicted = supervisor.once('evicted');
  const closed = once(first, 'close');
  clock.increment(idleTimeoutMs / 2); // the first has been idle for idleTimeoutMs: evicted (2 ≥ T = 0)
  expect(supervisor.userStats('alice')).toMatchObject({ live: 1, idle: 0, draining: 1, limit: 20 });
  expect(await evicted).toMatchObject({ userId: 'alice', cause: 'idle' });
  expect((await closed)[0]).toBe(4001);
  expect(second.readyState).toBe(WebSocket.OPEN);
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
    const ws = await open(url('token-bob'));
    await quickOneDone; // the test below has ended, and its cleanup has run
    expect(ws.readyState).toBe(WebSocket.OPEN);
    ws.send(JSON.stringify({ say: 'still here' }));
    const [reply] = await once(ws, 'message');
    expect(JSON.parse(String(reply))).toEqual({ from: 'bob', said: 'still here' });
    expect(supervisor.stats().connections).toBe(1);
  });
  it('ends while the test above is still running', async (context) => {
    context.onTestFinished(() => quickOneFinished()); // registered first: runs after the harness's shutdown
    const { url, open } = await startChat(context);
    const ws = await open(url('token-alice'));
    ws.send(JSON.stringify({ say: 'hi' }));
    await once(ws, 'message');
  });
});
// #endregion concurrent
