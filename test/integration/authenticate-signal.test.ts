/**
 * `authenticate(request, { signal })`: the signal aborts when the upgrade attempt is abandoned
 * while authenticate still runs, so that an app's database lookup or HTTP call
 * (`fetch(url, { signal })`) can stop: the client went away (its socket reset, or its FIN),
 * `authenticateTimeoutMs` passed, or shutdown started. Its reason is a SupervisorError with
 * code WSSUP_AUTHENTICATE_ABORTED. A settled authenticate leaves nothing behind, and an app
 * that never reads `signal` gets no AbortController. Real sockets on port 0, simulated time.
 */
import { getEventListeners, once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import {
  type AuthenticateContext,
  type AuthResult,
  SupervisorError,
  type SupervisorOptions,
} from '../../src/index.js';
import { askAuthenticate, rawConnect, readResponseHead, upgradeRequest } from '../helpers/cleanup.js';
import { startRulesServer } from '../helpers/rules.js';
import { connect, expectNoLeaks, userFromQuery } from '../helpers/server.js';

const authenticateTimeoutMs = 3_000;

/** Lets pending I/O callbacks and promise jobs run (no timer involved). */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** One call of the test's `authenticate`: its context, and the verdict the test gives it. */
interface Call {
  user: string | null;
  request: IncomingMessage;
  context: AuthenticateContext;
  signal: AbortSignal;
  resolve: (verdict: AuthResult) => void;
  reject: (error: unknown) => void;
}

/**
 * A server whose `authenticate` reads its signal, as an app passing it to fetch() would, and
 * settles only when the test says; when the signal aborts, it rejects with the reason (fetch's way).
 */
async function startWaitingServer(options: Partial<SupervisorOptions> = {}) {
  const calls: Call[] = [];
  const syncRequests: IncomingMessage[] = [];
  const t = await startRulesServer({
    authenticateTimeoutMs,
    authenticate: (request, context) => {
      // User `sync`: a verdict at once, no wait.
      if (userFromQuery(request) === 'sync') {
        syncRequests.push(request);
        return 'sync';
      }
      return new Promise<AuthResult>((resolve, reject) => {
        const { signal } = context;
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
        calls.push({ user: userFromQuery(request), request, context, signal, resolve, reject });
      });
    },
    ...options,
  });
  const ask = (user: string): Promise<Socket> => askAuthenticate(t.port, calls, user);
  return { t, calls, syncRequests, ask };
}

function expectAborted(signal: AbortSignal | undefined, message: RegExp): void {
  expect(signal?.aborted).toBe(true);
  const reason: unknown = signal?.reason;
  expect(reason).toBeInstanceOf(SupervisorError);
  expect(reason).toMatchObject({ code: 'WSSUP_AUTHENTICATE_ABORTED' });
  expect(String((reason as Error | undefined)?.message)).toMatch(message);
}

describe("authenticate's signal", () => {
  it('aborts when the client resets its socket while authenticate waits', async () => {
    const { t, calls, ask } = await startWaitingServer();
    const socket = await ask('ann');
    const signal = calls[0]?.signal;
    expect(signal?.aborted).toBe(false);
    socket.resetAndDestroy(); // an RST: the server's socket closes
    await vi.waitFor(() => expect(signal?.aborted).toBe(true));
    expectAborted(signal, /client went away/);
    expect(t.events.rejected).toMatchObject([{ reason: 'socket-closed' }]);
    // The app's rejection with the reason, after the attempt was answered, is not reported.
    await turn();
    expect(t.errors).toEqual([]);
    expectNoLeaks(t.supervisor);
  });

  it('aborts when the client half-closes (FIN) while authenticate waits', async () => {
    const { t, calls, ask } = await startWaitingServer();
    const socket = await ask('ann');
    const closedSocket = once(socket.resume(), 'close');
    socket.end();
    await vi.waitFor(() => expect(calls[0]?.signal.aborted).toBe(true));
    expectAborted(calls[0]?.signal, /client went away/);
    expect(t.events.rejected).toMatchObject([{ reason: 'socket-closed' }]);
    await closedSocket;
    expect(t.errors).toEqual([]);
    expectNoLeaks(t.supervisor);
  });

  it('aborts at authenticateTimeoutMs, not a millisecond before', async () => {
    const { t, calls, ask } = await startWaitingServer();
    const socket = await ask('ann');
    const answer = readResponseHead(socket);
    t.clock.increment(authenticateTimeoutMs - 1);
    await turn();
    expect(calls[0]?.signal.aborted).toBe(false);
    t.clock.increment(1);
    expectAborted(calls[0]?.signal, /authenticateTimeoutMs \(3000 ms\)/);
    expect(await answer).toMatch(/^HTTP\/1\.1 500 /);
    await turn();
    // The timeout alone is reported, as before: the app's rejection with the reason is ignored.
    expect(t.errors).toHaveLength(1);
    expect(t.errors[0]).toMatchObject({ code: 'WSSUP_APP_HOOK_FAILED', hook: 'authenticate' });
    t.errors.length = 0;
    expectNoLeaks(t.supervisor);
  });

  it('aborts as shutdown starts, and the request is answered 503 then', async () => {
    const { t, calls, ask } = await startWaitingServer();
    const socket = await ask('ann');
    const answer = readResponseHead(socket);
    const shutdown = t.supervisor.shutdown();
    expectAborted(calls[0]?.signal, /shutting down/);
    expect(t.events.rejected).toMatchObject([{ reason: 'shutting-down', status: 503 }]);
    expect(await answer).toMatch(/^HTTP\/1\.1 503 /);
    await shutdown;
    await turn();
    expect(t.errors).toEqual([]);
    expectNoLeaks(t.supervisor);
  });

  it('never aborts for a normal admission, and nothing is left on it', async () => {
    const { t, calls, syncRequests } = await startWaitingServer();
    // A synchronous verdict's connection, whose upgrade added no socket listener: the baseline.
    const sync = await connect(t.url('sync'));
    const syncSocket = syncRequests[0]?.socket;
    const opened = connect(t.url('ann'));
    await vi.waitFor(() => expect(calls).toHaveLength(1));
    const call = calls[0] as Call;
    call.resolve('ann');
    const ws = await opened;
    await turn();
    expect(call.signal.aborted).toBe(false);
    // The test's own listener is its only one: the library added none to the signal.
    expect(getEventListeners(call.signal, 'abort')).toHaveLength(1);
    // The wait's 'end' and 'close' listeners are gone from the admitted socket (they would keep
    // the request, its head and the call alive for the connection's life): as many as on the
    // synchronous one's, ws's own.
    const socket = call.request.socket;
    for (const event of ['end', 'close']) {
      expect(socket.listenerCount(event)).toBe(syncSocket?.listenerCount(event));
    }
    // The context is the app's to read, not to abort: no method of the library's on it.
    expect('abandon' in call.context).toBe(false);
    sync.close();
    expect(t.supervisor.stats().resources.authenticating).toBe(0);
    // Past the old deadline, and past the client's going away: the settled call is not aborted.
    t.clock.increment(authenticateTimeoutMs);
    ws.close();
    await vi.waitFor(() => expect(t.supervisor.stats().connections).toBe(0));
    await t.supervisor.shutdown();
    expect(call.signal.aborted).toBe(false);
    expect(call.context.signal).toBe(call.signal);
    expect(t.errors).toEqual([]);
    expectNoLeaks(t.supervisor);
  });

  it('a verdict that came before the timeout fired is used, and its signal never aborts; one after it is refused', async () => {
    const { t, calls, ask } = await startWaitingServer();
    // The verdict's reaction runs (one microtask), then the timer fires before the upgrade's
    // continuation: authenticate settled in time.
    const opened = connect(t.url('ann'));
    await vi.waitFor(() => expect(calls).toHaveLength(1));
    calls[0]?.resolve('ann');
    await Promise.resolve();
    t.clock.increment(authenticateTimeoutMs);
    const ws = await opened;
    expect(calls[0]?.signal.aborted).toBe(false);
    expect(t.events.admitted).toMatchObject([{ userId: 'ann' }]);
    expect(t.events.rejected).toEqual([]);
    // The other order: the timeout first, the verdict after it, refused (500) and aborted.
    const socket = await ask('bob');
    const answer = readResponseHead(socket);
    t.clock.increment(authenticateTimeoutMs);
    calls[1]?.resolve('bob');
    expect(await answer).toMatch(/^HTTP\/1\.1 500 /);
    expectAborted(calls[1]?.signal, /authenticateTimeoutMs/);
    expect(t.errors).toHaveLength(1); // the timeout's report
    t.errors.length = 0;
    ws.close();
    await vi.waitFor(() => expect(t.supervisor.stats().connections).toBe(0));
    expectNoLeaks(t.supervisor);
  });

  it('a verdict that came before shutdown started is refused 503, its signal not aborted; one after it, aborted', async () => {
    const { t, calls, ask } = await startWaitingServer();
    const first = await ask('ann');
    const second = await ask('bob');
    const answers = [readResponseHead(first), readResponseHead(second)];
    calls[0]?.resolve('ann');
    await Promise.resolve();
    const shutdown = t.supervisor.shutdown();
    calls[1]?.resolve('bob');
    expect(calls[0]?.signal.aborted).toBe(false);
    expectAborted(calls[1]?.signal, /shutting down/);
    for (const answer of answers) expect(await answer).toMatch(/^HTTP\/1\.1 503 /);
    expect(t.events.rejected).toMatchObject([
      { reason: 'shutting-down', status: 503 },
      { reason: 'shutting-down', status: 503 },
    ]);
    expect(t.events.admitted).toEqual([]);
    await shutdown;
    await turn();
    expect(calls[0]?.signal.aborted).toBe(false);
    expect(t.errors).toEqual([]);
    expectNoLeaks(t.supervisor);
  });

  it('costs no AbortController when authenticate does not read it; one read late is aborted already', async () => {
    let made = 0;
    const Original = globalThis.AbortController;
    vi.stubGlobal(
      'AbortController',
      class extends Original {
        constructor() {
          super();
          made += 1;
        }
      },
    );
    // Restored after the test (the file runs isolated: test/isolated-files.ts).
    onTestFinished(() => {
      vi.unstubAllGlobals();
    });
    const contexts: AuthenticateContext[] = [];
    const verdicts: ((verdict: AuthResult) => void)[] = [];
    const t = await startRulesServer({
      authenticateTimeoutMs,
      authenticate: (request, context) => {
        contexts.push(context);
        if (userFromQuery(request) === 'sync') return 'sync';
        return new Promise<AuthResult>((resolve) => verdicts.push(resolve));
      },
    });
    const before = made;
    const sync = await connect(t.url('sync'));
    const opened = connect(t.url('ann'));
    await vi.waitFor(() => expect(verdicts).toHaveLength(1));
    verdicts[0]?.('ann');
    const ann = await opened;
    const socket = await rawConnect(t.port);
    socket.write(upgradeRequest('bob'));
    await vi.waitFor(() => expect(contexts).toHaveLength(3));
    const answer = readResponseHead(socket);
    t.clock.increment(authenticateTimeoutMs);
    expect(await answer).toMatch(/^HTTP\/1\.1 500 /);
    expect(made - before).toBe(0);
    // Read after the attempt was abandoned: aborted already, with the reason.
    expectAborted(contexts[2]?.signal, /authenticateTimeoutMs/);
    expect(made - before).toBe(1);
    t.errors.length = 0; // the timeout's report
    for (const ws of [sync, ann]) ws.close();
    await vi.waitFor(() => expect(t.supervisor.stats().connections).toBe(0));
    expectNoLeaks(t.supervisor);
  });
});
