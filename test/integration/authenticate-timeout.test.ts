/**
 * `authenticateTimeoutMs`: the wait for the app's `authenticate` is bounded.
 * An identity provider that hangs no longer holds the client's socket open:
 * at the timeout the request is refused as a failed `authenticate` is (HTTP
 * 500 or close 4500, `auth-failed`, an AppHookError for `authenticate`), and
 * a verdict that comes later is ignored. The timer is the supervisor's own,
 * on its clock: counted in pendingTimers while it runs, cleared when the
 * verdict comes, gone after shutdown. Time is a SimulatedClock, so the
 * timeout passes exactly when the test says.
 */
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { SimulatedClock } from 'xstate';
import { AppHookError, type AuthResult, Refusal, type SupervisorOptions } from '../../src/index.js';
import {
  askAuthenticate,
  connectionCount,
  rawConnect,
  readResponseHead,
  upgradeRequest,
} from '../helpers/cleanup.js';
import { closeRefusal, httpRefusal } from '../helpers/refusals.js';
import { startRulesServer } from '../helpers/rules.js';
import { allDisposed, connect, expectNoLeaks, userFromQuery } from '../helpers/server.js';

const authenticateTimeoutMs = 3_000;

/** Lets pending I/O callbacks and promise jobs run (no timer involved). */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** One call of the test's `authenticate`: it settles only when the test says. */
interface Call {
  user: string | null;
  resolve: (verdict: AuthResult) => void;
  reject: (error: unknown) => void;
}

/** How a test settles a call. */
type Settle = (call: Call) => void;

/**
 * A server whose `authenticate` waits for the test: each call is recorded
 * with its request, and settles only when the test resolves or rejects it.
 */
async function startHungServer(options: Partial<SupervisorOptions> = {}) {
  const calls: Call[] = [];
  const t = await startRulesServer({
    authenticateTimeoutMs,
    authenticate: (request) =>
      new Promise<AuthResult>((resolve, reject) => {
        calls.push({ user: userFromQuery(request), resolve, reject });
      }),
    ...options,
  });
  const ask = (user: string): Promise<Socket> => askAuthenticate(t.port, calls, user);
  return { t, calls, ask };
}

/** Records whether `socket` received anything at all. */
function watchBytes(socket: Socket) {
  const seen = { bytes: 0 };
  socket.on('data', (chunk: Buffer) => {
    seen.bytes += chunk.length;
  });
  return seen;
}

/** The one error reported: an AppHookError for authenticate, whose cause says it timed out. */
function expectTimedOutReport(errors: readonly unknown[]): void {
  expect(errors).toHaveLength(1);
  const error = errors[0];
  expect(error).toBeInstanceOf(AppHookError);
  expect(error).toMatchObject({
    code: 'WSSUP_APP_HOOK_FAILED',
    hook: 'authenticate',
    connectionId: undefined,
  });
  const cause = (error as AppHookError).cause;
  expect(cause).toBeInstanceOf(Error);
  expect(cause).toMatchObject({ name: 'TimeoutError' });
  expect((cause as Error).message).toBe(
    `timed out after ${authenticateTimeoutMs} ms (authenticateTimeoutMs)`,
  );
  expect((error as AppHookError).message).toBe(
    `App hook authenticate failed: timed out after ${authenticateTimeoutMs} ms (authenticateTimeoutMs)`,
  );
}

describe('an authenticate that never settles', () => {
  it('is answered HTTP 500 when the clock reaches authenticateTimeoutMs, not a millisecond before', async () => {
    const { t, ask } = await startHungServer();
    const idle = t.supervisor.stats().resources.pendingTimers;
    const socket = await ask('ann');
    const seen = watchBytes(socket);
    // The wait is bounded by one timer of the supervisor's, counted while it runs.
    expect(t.supervisor.stats().resources.pendingTimers).toBe(idle + 1);

    t.clock.increment(authenticateTimeoutMs - 1);
    await turn();
    await turn();
    expect(seen.bytes).toBe(0);
    expect(t.events.rejected).toEqual([]);
    expect(t.errors).toEqual([]);
    expect(t.supervisor.stats().resources.pendingTimers).toBe(idle + 1);

    const answer = readResponseHead(socket);
    t.clock.increment(1);
    // Decided inside the clock's tick: the refusal is already counted and told.
    expect(t.events.rejected).toMatchObject([
      { reason: 'auth-failed', status: 500, via: 'http', message: 'authentication failed' },
    ]);
    expect(await answer).toMatch(/^HTTP\/1\.1 500 /);
    await once(socket, 'close');
    expectTimedOutReport(t.errors);
    expect(t.supervisor.stats().resources.pendingTimers).toBe(0);
    expect(t.supervisor.stats().counters).toEqual({ admitted: 0, rejected: 1, evicted: 0, disposed: 0 });
    await vi.waitFor(async () => expect(await connectionCount(t.server)).toBe(0));
    expectNoLeaks(t.supervisor);
  });

  it.each<[string, Settle]>([
    ['a user id', (call) => call.resolve('ann')],
    ['null', (call) => call.resolve(null)],
    ['a Refusal', (call) => call.resolve(new Refusal(403, 'account suspended'))],
    ['a rejection', (call) => call.reject(new Error('token store down, late'))],
  ])(
    'a late verdict (%s) is ignored: nothing answered twice, admitted or reported',
    async (_name, settle) => {
      const { t, calls, ask } = await startHungServer();
      const socket = await ask('ann');
      const answer = readResponseHead(socket);
      t.clock.increment(authenticateTimeoutMs);
      expect(await answer).toMatch(/^HTTP\/1\.1 500 /);

      settle(calls[0] as Call);
      // Every microtask has run by the next turn of the event loop: the verdict has been acted on.
      await turn();
      expect(t.events.rejected).toHaveLength(1);
      expect(t.events.admitted).toEqual([]);
      expect(t.supervisor.userStats('ann')).toBeUndefined();
      expectTimedOutReport(t.errors);
      expectNoLeaks(t.supervisor);
    },
  );

  it("under refuse: 'close' is refused with close 4500, as a failed authenticate is", async () => {
    const { t, calls } = await startHungServer({ refuse: 'close', closeRefusalTimeoutMs: 700 });
    const refused = closeRefusal(t.url('ann'));
    await vi.waitFor(() => expect(calls).toHaveLength(1));
    t.clock.increment(authenticateTimeoutMs);
    expect(await refused).toEqual({
      code: 4500,
      reason: 'authentication failed refusal=auth-failed',
      retryAfter: undefined,
    });
    expect(t.events.rejected).toMatchObject([{ reason: 'auth-failed', status: 500, via: 'close' }]);
    expectTimedOutReport(t.errors);
    await vi.waitFor(() => expect(t.supervisor.stats().resources.closeRefusals).toBe(0));
    calls[0]?.resolve('ann');
    await turn();
    expect(t.events.rejected).toHaveLength(1);
    expectNoLeaks(t.supervisor);
  });

  it('times each request from its own start, and each is answered once', async () => {
    const { t, ask } = await startHungServer();
    const first = await ask('ann');
    const firstAnswer = readResponseHead(first);
    t.clock.increment(1_000);
    const second = await ask('ben');
    const seen = watchBytes(second);
    expect(t.supervisor.stats().resources.pendingTimers).toBe(2);

    t.clock.increment(authenticateTimeoutMs - 1_000);
    expect(await firstAnswer).toMatch(/^HTTP\/1\.1 500 /);
    await turn();
    expect(seen.bytes).toBe(0);
    expect(t.supervisor.stats().resources.pendingTimers).toBe(1);

    const secondAnswer = readResponseHead(second);
    t.clock.increment(1_000);
    expect(await secondAnswer).toMatch(/^HTTP\/1\.1 500 /);
    expect(t.events.rejected.map((event) => [event.reason, event.status])).toEqual([
      ['auth-failed', 500],
      ['auth-failed', 500],
    ]);
    expect(t.errors).toHaveLength(2);
    expectNoLeaks(t.supervisor);
  });

  it("handleUpgrade()'s promise settles at the timeout, not with the app's promise", async () => {
    // An app that routes upgrades itself and awaits handleUpgrade must not wait on its IdP forever.
    const { t, calls } = await startHungServer();
    t.server.removeAllListeners('upgrade');
    const handled: Promise<void>[] = [];
    t.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      handled.push(t.supervisor.handleUpgrade(request, socket, head));
    });
    const state = { settled: false };
    const socket = await rawConnect(t.port);
    socket.write(upgradeRequest('ann'));
    await vi.waitFor(() => expect(calls).toHaveLength(1));
    void handled[0]?.then(() => {
      state.settled = true;
    });
    await turn();
    expect(state.settled).toBe(false);

    t.clock.increment(authenticateTimeoutMs);
    await turn();
    expect(state.settled).toBe(true);
    expect(await readResponseHead(socket)).toMatch(/^HTTP\/1\.1 500 /);
    expectNoLeaks(t.supervisor);
  });

  it('leaves nothing after shutdown(): answered 503, its timer cleared, the timeout never reported', async () => {
    const { t, calls, ask } = await startHungServer();
    const socket = await ask('ann');
    const answer = readResponseHead(socket);
    expect(t.supervisor.stats().resources.pendingTimers).toBe(1);
    await t.supervisor.shutdown();
    expect(await answer).toMatch(/^HTTP\/1\.1 503 /);
    expect(t.supervisor.stats().resources.pendingTimers).toBe(0);
    t.clock.increment(authenticateTimeoutMs);
    calls[0]?.resolve('ann');
    await turn();
    expect(t.events.rejected).toMatchObject([{ reason: 'shutting-down', status: 503 }]);
    expect(t.errors).toEqual([]);
    expectNoLeaks(t.supervisor);
  });
});

describe('an authenticate that settles in time', () => {
  it('admits as before and leaves no timer: passing the old deadline changes nothing', async () => {
    const { t, calls } = await startHungServer();
    const opened = connect(t.url('ann'));
    await vi.waitFor(() => expect(calls).toHaveLength(1));
    t.clock.increment(authenticateTimeoutMs - 1);
    calls[0]?.resolve('ann');
    const ws = await opened;
    expect(t.events.admitted).toMatchObject([{ userId: 'ann' }]);

    t.clock.increment(1);
    await turn();
    expect(t.events.rejected).toEqual([]);
    expect(t.errors).toEqual([]);
    ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor); // the connection's timers are gone, and so is authenticate's
  });

  it.each<[string, Settle, number]>([
    ['null: 401', (call) => call.resolve(null), 401],
    ['a Refusal: its status', (call) => call.resolve(new Refusal(403, 'account suspended')), 403],
    ['a rejection: 500, reported once', (call) => call.reject(new Error('token store down')), 500],
  ])('a refusal (%s) clears the timer at once', async (_name, settle, status) => {
    const { t, calls } = await startHungServer();
    const refused = httpRefusal(t.url('ann'));
    await vi.waitFor(() => expect(calls).toHaveLength(1));
    expect(t.supervisor.stats().resources.pendingTimers).toBe(1);
    settle(calls[0] as Call);
    expect((await refused).status).toBe(status);
    expect(t.supervisor.stats().resources.pendingTimers).toBe(0);
    t.clock.increment(authenticateTimeoutMs);
    await turn();
    expect(t.events.rejected).toHaveLength(1);
    expect(t.errors).toHaveLength(status === 500 ? 1 : 0);
    expectNoLeaks(t.supervisor);
  });

  it('a synchronous authenticate sets no timer at all', async () => {
    const simulated = new SimulatedClock();
    const set = { timers: 0 };
    const clock = {
      setTimeout: (fn: () => void, ms: number) => {
        set.timers += 1;
        return simulated.setTimeout(fn, ms);
      },
      clearTimeout: (id: number) => simulated.clearTimeout(id),
      now: () => simulated.now(),
    };
    const t = await startRulesServer({ authenticateTimeoutMs, clock, authenticate: () => null });
    const before = set.timers;
    expect((await httpRefusal(t.url('ann'))).status).toBe(401);
    expect(set.timers).toBe(before);
    expectNoLeaks(t.supervisor);
  });
});
