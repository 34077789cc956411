/**
 * Upgrades waiting for an asynchronous `authenticate` are counted:
 * `stats().resources.authenticating` and the gauge
 * `ws_supervisor_authenticating_upgrades`. An on-call engineer whose identity
 * provider is slow sees how many upgrades are stuck in it; the count returns
 * to 0 on every way out of the wait (a verdict, authenticateTimeoutMs, a
 * client gone meanwhile, shutdown). Real sockets on port 0, simulated time.
 * The last test pins the README's claim that Node's `server.maxConnections`
 * bounds how many `authenticate` calls run at once.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Registry } from 'prom-client';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import type { AuthResult, Supervisor, SupervisorOptions } from '../../src/index.js';
import { registerMetrics } from '../../src/metrics/index.js';
import {
  askAuthenticate,
  connectionCount,
  rawConnect,
  readResponseHead,
  upgradeRequest,
} from '../helpers/cleanup.js';
import { parseExposition } from '../helpers/prometheus.js';
import { startRulesServer } from '../helpers/rules.js';
import { allDisposed, expectNoLeaks, userFromQuery } from '../helpers/server.js';

const authenticateTimeoutMs = 3_000;

/** Lets pending I/O callbacks and promise jobs run (no timer involved). */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

interface Call {
  user: string | null;
  resolve: (verdict: AuthResult) => void;
}

/** A server whose `authenticate` settles only when the test says, with its metrics registered. */
async function startWaitingServer(options: Partial<SupervisorOptions> = {}) {
  const calls: Call[] = [];
  const t = await startRulesServer({
    authenticateTimeoutMs,
    authenticate: (request) =>
      new Promise<AuthResult>((resolve) => {
        calls.push({ user: userFromQuery(request), resolve });
      }),
    ...options,
  });
  const registry = new Registry();
  onTestFinished(registerMetrics(t.supervisor, { registry }));
  const ask = (user: string): Promise<Socket> => askAuthenticate(t.port, calls, user);
  /** The count as stats() and a scrape of /metrics both say it (they must agree). */
  const waiting = async (): Promise<number> => {
    const counted = t.supervisor.stats().resources.authenticating;
    const scraped = parseExposition(await registry.metrics()).value('ws_supervisor_authenticating_upgrades');
    expect(scraped, 'the gauge agrees with stats()').toBe(counted);
    return counted;
  };
  return { t, calls, ask, waiting };
}

const callOf = (calls: readonly Call[], index: number): Call => {
  const call = calls[index];
  if (call === undefined) throw new Error(`no authenticate call ${index}`);
  return call;
};

describe('upgrades waiting for authenticate', () => {
  it('are counted one by one, in stats() and /metrics, and leave the count at each verdict', async () => {
    const { t, calls, ask, waiting } = await startWaitingServer();
    expect(await waiting()).toBe(0);
    const sockets: Socket[] = [];
    for (const user of ['ann', 'bob', 'cy', 'dee', 'eve']) {
      sockets.push(await ask(user));
      expect(await waiting()).toBe(sockets.length);
    }

    // null → 401, a user id → 101; each verdict takes its upgrade out of the count.
    const refused = readResponseHead(sockets[0] as Socket);
    callOf(calls, 0).resolve(null);
    expect(await refused).toMatch(/^HTTP\/1\.1 401 /);
    expect(await waiting()).toBe(4);
    for (let i = 1; i < 5; i++) {
      const answer = readResponseHead(sockets[i] as Socket);
      callOf(calls, i).resolve(callOf(calls, i).user);
      expect(await answer).toMatch(/^HTTP\/1\.1 101 /);
      expect(await waiting()).toBe(4 - i);
    }
    expect(t.supervisor.stats().connections).toBe(4);
    for (const socket of sockets) socket.destroy();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it('leave the count at authenticateTimeoutMs, all at once, not before', async () => {
    const { t, ask, waiting } = await startWaitingServer();
    const sockets = [await ask('ann'), await ask('bob'), await ask('cy')];
    t.clock.increment(authenticateTimeoutMs - 1);
    await turn();
    expect(await waiting()).toBe(3);
    const answers = sockets.map((socket) => readResponseHead(socket));
    t.clock.increment(1);
    expect(await waiting()).toBe(0);
    for (const answer of answers) expect(await answer).toMatch(/^HTTP\/1\.1 500 /);
    expect(t.events.rejected.map((event) => event.reason)).toEqual([
      'auth-failed',
      'auth-failed',
      'auth-failed',
    ]);
    expect(t.errors).toHaveLength(3); // the three timeouts, reported
    t.errors.length = 0;
    expectNoLeaks(t.supervisor);
  });

  it('a client gone during authenticate (its FIN, or a reset) leaves the count at once; its verdict changes nothing', async () => {
    const { t, calls, ask, waiting } = await startWaitingServer();
    const first = await ask('ann');
    const second = await ask('bob');
    first.destroy(); // a FIN: Node's HTTP server leaves the server's socket half-open
    second.resetAndDestroy();
    // The wait ends as the server reads either (authenticate's signal aborts then: the app's
    // lookup can stop), each refused as socket-closed.
    await vi.waitFor(async () => expect(await waiting()).toBe(0));
    expect(t.events.rejected.map((event) => event.reason)).toEqual(['socket-closed', 'socket-closed']);

    callOf(calls, 0).resolve('ann');
    await turn();
    t.clock.increment(authenticateTimeoutMs);
    expect(await waiting()).toBe(0);
    expect(t.events.rejected).toHaveLength(2);
    expect(t.events.admitted).toEqual([]);
    expect(t.errors).toEqual([]); // no timeout: the waits had ended
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it('leave the count at shutdown, answered 503 there', async () => {
    const { t, ask, waiting } = await startWaitingServer();
    const sockets = [await ask('ann'), await ask('bob')];
    expect(await waiting()).toBe(2);
    const answers = sockets.map((socket) => readResponseHead(socket));
    await t.supervisor.shutdown();
    expect(await waiting()).toBe(0);
    for (const answer of answers) expect(await answer).toMatch(/^HTTP\/1\.1 503 /);
    expectNoLeaks(t.supervisor);
  });

  it('a synchronous authenticate is never counted', async () => {
    const t = await startRulesServer();
    let during: number | undefined;
    const supervisor: Supervisor = t.supervisor;
    supervisor.on('admitted', () => {
      during = supervisor.stats().resources.authenticating;
    });
    const ann = await t.open('ann');
    expect(during).toBe(0);
    ann.ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });
});

describe("Node's server.maxConnections bounds the upgrades waiting for authenticate", () => {
  it('a client that resets its connection leaves the count at once: resets cannot pile up past the cap', async () => {
    // Node stops counting a socket once it has closed, so a wait held until the verdict or
    // authenticateTimeoutMs (its request, its head and a timer) escaped the cap: 10 clients that
    // reset one after the other left 10 waits behind a cap of 3 (1,000 with 60 KB heads held
    // 123 MB in a scratch run), until authenticateTimeoutMs.
    const { t, calls, ask, waiting } = await startWaitingServer();
    const cap = 3;
    t.server.maxConnections = cap;
    const serverSockets: Duplex[] = [];
    t.server.on('upgrade', (_request: IncomingMessage, socket: Duplex) => serverSockets.push(socket));
    for (let i = 0; i < 10; i++) {
      const socket = await ask(`user${i}`);
      const serverSide = serverSockets[i] as Duplex;
      // Not once(): it would reject on the ECONNRESET the server socket emits first.
      const serverClosed = new Promise((resolve) => serverSide.once('close', resolve));
      socket.resetAndDestroy();
      await serverClosed;
      await turn();
      expect(await waiting(), `after reset ${i + 1}`).toBe(0);
    }
    expect(t.supervisor.stats().resources.pendingTimers).toBe(0); // no authenticateTimeoutMs left
    expect(t.events.rejected.map((event) => [event.reason, event.status])).toEqual(
      Array.from({ length: 10 }, () => ['socket-closed', undefined]),
    );
    // The app's verdicts, when they come, are ignored: nobody is admitted, nothing is refused twice.
    for (const call of calls) call.resolve(call.user);
    await turn();
    expect(t.events.rejected).toHaveLength(10);
    expect(t.supervisor.stats().counters.admitted).toBe(0);
    expect(t.errors).toEqual([]);
    expectNoLeaks(t.supervisor);
  });

  it('a socket past the cap is dropped by Node before any upgrade: authenticate is never called for it', async () => {
    const { t, calls, waiting } = await startWaitingServer();
    const cap = 3;
    t.server.maxConnections = cap;
    let dropped = 0;
    t.server.on('drop', () => {
      dropped += 1;
    });
    const sockets: Socket[] = [];
    const closed: Promise<void>[] = [];
    for (let i = 0; i < 2 * cap; i++) {
      const socket = await rawConnect(t.port);
      closed.push(new Promise<void>((resolve) => socket.once('close', () => resolve())));
      socket.write(upgradeRequest(`user${i}`));
      sockets.push(socket);
    }
    await vi.waitFor(() => expect(dropped).toBe(cap));
    await Promise.all(closed.slice(cap)); // Node closed the ones past the cap
    await turn();
    expect(calls).toHaveLength(cap);
    expect(await waiting()).toBe(cap);

    // A place freed (a verdict, here a refusal) lets the next socket in, not before.
    const answer = readResponseHead(sockets[0] as Socket);
    callOf(calls, 0).resolve(null);
    expect(await answer).toMatch(/^HTTP\/1\.1 401 /);
    expect(await waiting()).toBe(cap - 1);
    await vi.waitFor(async () => expect(await connectionCount(t.server)).toBe(cap - 1));
    const late = await rawConnect(t.port);
    late.write(upgradeRequest('late'));
    await vi.waitFor(() => expect(calls).toHaveLength(cap + 1));
    expect(await waiting()).toBe(cap);

    await t.supervisor.shutdown();
    expect(await waiting()).toBe(0);
    expectNoLeaks(t.supervisor);
  });
});
