/**
 * shutdown(): every client is closed with 1001, the promise resolves once
 * every connection reached `disposed`, it is idempotent, whoever does not
 * answer the close is terminated at the deadline, and nothing new gets in.
 * Time is a SimulatedClock: the deadline passes exactly when the test says.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { WebSocketServer } from 'ws';
import { SupervisorError } from '../../src/index.js';
import { expectShutDownWithDefaults, shutDownWithDefaults } from '../helpers/bad-shutdown.js';
import { httpRefusal } from '../helpers/refusals.js';
import {
  closeOf,
  nextEvent,
  type OwnServer,
  refusal,
  resumeReading,
  startOwnServer,
  stopReading,
  touch,
} from '../helpers/rules.js';
import { connect, expectNoLeaks, userFromQuery } from '../helpers/server.js';

/** Tracks whether a promise has settled, without awaiting it. */
function track(promise: Promise<void>) {
  const state = { resolved: false };
  void promise.then(() => {
    state.resolved = true;
  });
  return state;
}

/** Lets pending I/O callbacks and promise jobs run (no timer involved). */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

async function openAll(t: OwnServer, users: string[]) {
  const sockets = [];
  for (const user of users) {
    const ws = await connect(t.url(user));
    await touch(ws);
    sockets.push(ws);
  }
  return sockets;
}

describe('shutdown', () => {
  it('closes every client with 1001 and resolves once every connection is disposed', async () => {
    const t = await startOwnServer();
    const sockets = await openAll(t, ['ann', 'ann', 'ben', 'cid']);
    const closes = Promise.all(sockets.map((ws) => closeOf(ws)));

    const done = t.supervisor.shutdown();
    await done;

    // When the promise resolves, every connection has reached disposed: nothing is left to wait for.
    expect(t.events.disposed).toHaveLength(4);
    expect(t.supervisor.stats()).toMatchObject({
      connections: 0,
      users: 0,
      counters: { admitted: 4, disposed: 4, evicted: 0, rejected: 0 },
    });
    expect(t.events.disposed.map((event) => [event.reason, event.closeCode])).toEqual(
      Array(4).fill(['shutdown', 1001]),
    );
    expect(await closes).toEqual(Array(4).fill({ code: 1001, reason: 'server shutting down' }));
    expectNoLeaks(t.supervisor);
    expect(t.errors).toEqual([]);
  });

  it('does not resolve while a connection is still draining, and resolves once it is disposed', async () => {
    const t = await startOwnServer({ drainTimeoutMs: 60_000 });
    const [polite, deaf] = await openAll(t, ['dee', 'dee']);
    if (polite === undefined || deaf === undefined) throw new Error('unreachable');
    stopReading(deaf);
    const politeClosed = closeOf(polite);

    const done = t.supervisor.shutdown({ deadlineMs: 10_000 });
    const state = track(done);
    expect((await politeClosed).code).toBe(1001);
    await allDisposedBut(t, 1);
    await turn();
    expect(state.resolved).toBe(false);
    expect(t.supervisor.stats()).toMatchObject({ connections: 1, byState: { draining: 1 } });

    // The deaf client finally reads, sees the close frame and answers it: now everyone is disposed.
    const deafClosed = closeOf(deaf);
    resumeReading(deaf);
    expect(await deafClosed).toEqual({ code: 1001, reason: 'server shutting down' });
    await done;
    expect(t.events.disposed.map((event) => event.reason)).toEqual(['shutdown', 'shutdown']);
    expectNoLeaks(t.supervisor);
  });

  it('is idempotent: every call returns the same promise, whatever its (valid) options', async () => {
    const t = await startOwnServer();
    const sockets = await openAll(t, ['eli']);
    const closes = Promise.all(sockets.map((ws) => closeOf(ws)));
    const first = t.supervisor.shutdown();
    expect(t.supervisor.shutdown()).toBe(first);
    expect(t.supervisor.shutdown({ deadlineMs: 1 })).toBe(first);
    await first;
    expect(t.supervisor.shutdown()).toBe(first);
    await closes;
    // Each connection was closed once and disposed once.
    expect(t.events.disposed).toHaveLength(1);
    expectNoLeaks(t.supervisor);
  });

  it('with no connection at all, resolves and leaves nothing behind', async () => {
    const t = await startOwnServer();
    await t.supervisor.shutdown();
    expectNoLeaks(t.supervisor);
  });

  it('terminates, at the deadline and not before, every client that does not answer the close', async () => {
    const deadlineMs = 300;
    const t = await startOwnServer({ drainTimeoutMs: 60_000 });
    const [polite, deaf1, deaf2] = await openAll(t, ['fin', 'fin', 'gil']);
    if (polite === undefined || deaf1 === undefined || deaf2 === undefined) throw new Error('unreachable');
    stopReading(deaf1);
    stopReading(deaf2);
    const politeClosed = closeOf(polite);

    const done = t.supervisor.shutdown({ deadlineMs });
    const state = track(done);
    expect((await politeClosed).code).toBe(1001);
    await allDisposedBut(t, 2);

    t.clock.increment(deadlineMs - 1);
    await turn();
    expect(state.resolved).toBe(false);
    expect(t.supervisor.stats().byState.draining).toBe(2);

    t.clock.increment(1);
    // Terminated: disposed synchronously, as shutdown() means it; the close it sent stays the cause.
    expect(t.supervisor.stats().connections).toBe(0);
    await done;
    expect(t.events.disposed.slice(1)).toMatchObject([
      { reason: 'shutdown', closeCode: 1001, lifetimeMs: deadlineMs },
      { reason: 'shutdown', closeCode: 1001, lifetimeMs: deadlineMs },
    ]);
    // The sockets really are gone: the clients see the connection end once they read again.
    const gone = Promise.all([closeOf(deaf1), closeOf(deaf2)]);
    resumeReading(deaf1);
    resumeReading(deaf2);
    await gone;
    expectNoLeaks(t.supervisor);
  });

  it('a connection that drains for less than the deadline ends at its own drainTimeoutMs', async () => {
    const t = await startOwnServer({ drainTimeoutMs: 200 });
    const [deaf] = await openAll(t, ['hal']);
    if (deaf === undefined) throw new Error('unreachable');
    stopReading(deaf);
    const done = t.supervisor.shutdown({ deadlineMs: 10_000 });
    t.clock.increment(199);
    expect(t.supervisor.stats().byState.draining).toBe(1);
    t.clock.increment(1);
    expect(t.supervisor.stats().connections).toBe(0);
    await done;
    expect(t.events.disposed).toMatchObject([{ reason: 'shutdown', closeCode: 1001, lifetimeMs: 200 }]);
    expectNoLeaks(t.supervisor);
  });

  it('a connection already draining when shutdown starts keeps its reason and is terminated at the deadline', async () => {
    const t = await startOwnServer({ drainTimeoutMs: 60_000 });
    const [deaf] = await openAll(t, ['ivy']);
    const handle = t.handles[0];
    if (deaf === undefined || handle === undefined) throw new Error('unreachable');
    stopReading(deaf);
    handle.close(4000, 'bye');
    expect(t.supervisor.stats().byState.draining).toBe(1);

    const done = t.supervisor.shutdown({ deadlineMs: 100 });
    t.clock.increment(100);
    await done;
    expect(t.events.disposed).toMatchObject([{ reason: 'app-close', closeCode: 4000 }]);
    expectNoLeaks(t.supervisor);
  });

  it('after shutdown starts, the app can no longer send through a handle', async () => {
    const t = await startOwnServer({ drainTimeoutMs: 60_000 });
    const [deaf] = await openAll(t, ['jon']);
    const handle = t.handles[0];
    if (deaf === undefined || handle === undefined) throw new Error('unreachable');
    stopReading(deaf);
    const done = t.supervisor.shutdown({ deadlineMs: 100 });
    expect(handle.send('too late')).toBe(false);
    t.clock.increment(100);
    await done;
    expect(handle.send('too late')).toBe(false);
    expectNoLeaks(t.supervisor);
  });

  it('aborts a handshake still in progress with HTTP 503 and the shutdown’s Retry-After', async () => {
    // An async verifyClient that never answers holds the connection in `connecting`.
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload: 65_536,
      verifyClient: (_info, _callback) => {},
    });
    onTestFinished(() => wss.close());
    const t = await startOwnServer({ webSocketServer: wss });
    const admitted = nextEvent(t.supervisor, 'admitted');
    const refused = httpRefusal(t.url('neo'));
    await admitted;
    expect(t.supervisor.stats().byState).toEqual({ connecting: 1, active: 0, draining: 0 });

    await t.supervisor.shutdown();
    // What an upgrade during shutdown gets (the README's table), so a client backs off alike.
    expect(await refused).toMatchObject({
      status: 503,
      headers: { 'retry-after': '1' },
      body: 'server is shutting down\n',
    });
    expect(t.events.disposed).toMatchObject([{ userId: 'neo', reason: 'shutdown' }]);
    expectNoLeaks(t.supervisor);
  });

  it('refuses with 503, as it starts, an upgrade whose authentication was still pending; the verdict after it admits nobody', async () => {
    let authenticated: (userId: string) => void = () => {};
    const t = await startOwnServer({
      drainTimeoutMs: 60_000,
      authenticate: (request) =>
        userFromQuery(request) === 'ola'
          ? new Promise<string>((resolve) => (authenticated = resolve))
          : userFromQuery(request),
    });
    const [deaf] = await openAll(t, ['kim']);
    if (deaf === undefined) throw new Error('unreachable');
    stopReading(deaf); // holds the shutdown open: the verdict comes while it is under way
    const asked = new Promise<void>((resolve) => t.server.once('upgrade', () => resolve()));
    const refused = refusal(t.url('ola'));
    await asked;
    const done = t.supervisor.shutdown({ deadlineMs: 1_000 });
    const state = track(done);
    authenticated('ola');
    expect(await refused).toEqual({ status: 503, body: 'server is shutting down\n' });
    // Answered as shutdown started, while the deaf peer still holds it open: before the
    // verdict was read, so the event names no user.
    expect(state.resolved).toBe(false);
    expect(t.events.rejected).toMatchObject([{ reason: 'shutting-down', status: 503, userId: undefined }]);
    t.clock.increment(1_000);
    await done;
    expect(t.events.admitted.map((event) => event.userId)).toEqual(['kim']);
    expectNoLeaks(t.supervisor);
  });

  it('answers 503, as it starts, an upgrade whose authenticate has not settled; a late verdict changes nothing', async () => {
    // An identity provider that hangs: the socket must not outlive the shutdown.
    let authenticated: (userId: string) => void = () => {};
    const t = await startOwnServer({
      authenticate: () => new Promise<string>((resolve) => (authenticated = resolve)),
    });
    const asked = new Promise<void>((resolve) => t.server.once('upgrade', () => resolve()));
    const refused = refusal(t.url('pia'));
    await asked;
    await t.supervisor.shutdown();
    expect(await refused).toEqual({ status: 503, body: 'server is shutting down\n' });
    expect(t.events.rejected).toMatchObject([{ reason: 'shutting-down', status: 503, via: 'http' }]);

    authenticated('pia');
    // Every microtask has run by the next turn of the event loop: the verdict has been acted on.
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(t.events.rejected).toHaveLength(1); // answered once
    expect(t.events.admitted).toEqual([]);
    expectNoLeaks(t.supervisor);
    expect(t.errors).toEqual([]);
  });

  describe.each(['attach', 'handleUpgrade'] as const)('new upgrades (server routed by %s)', (route) => {
    it('are refused with HTTP 503 while shutdown is under way', async () => {
      const t = await startOwnServer({ drainTimeoutMs: 60_000 }, route);
      const [deaf] = await openAll(t, ['kim']);
      if (deaf === undefined) throw new Error('unreachable');
      stopReading(deaf); // holds the shutdown open
      const done = t.supervisor.shutdown({ deadlineMs: 1_000 });
      const state = track(done);

      const refused = await refusal(t.url('kim'));
      expect(refused).toEqual({ status: 503, body: 'server is shutting down\n' });
      expect(await refusal(t.url('newcomer'))).toMatchObject({ status: 503 });
      expect(state.resolved).toBe(false);
      expect(t.events.rejected).toMatchObject([
        { reason: 'shutting-down', status: 503 },
        { reason: 'shutting-down', status: 503 },
      ]);
      // A refusal during shutdown allocates nothing either.
      expect(t.supervisor.stats()).toMatchObject({
        connections: 1,
        counters: { admitted: 1, rejected: 2 },
        resources: { connectionActors: 1, userSupervisors: 1 },
      });

      t.clock.increment(1_000);
      await done;
      expectNoLeaks(t.supervisor);
    });

    it('are refused with HTTP 503 after shutdown resolved', async () => {
      const t = await startOwnServer({}, route);
      await openAll(t, ['lea']);
      await t.supervisor.shutdown();
      expect(await refusal(t.url('lea'))).toEqual({ status: 503, body: 'server is shutting down\n' });
      expect(t.events.rejected).toMatchObject([{ reason: 'shutting-down', status: 503 }]);
      expectNoLeaks(t.supervisor);
    });
  });

  it('attach() once shutdown has started throws SupervisorError WSSUP_SHUTTING_DOWN', async () => {
    const t = await startOwnServer({ drainTimeoutMs: 60_000 });
    const [deaf] = await openAll(t, ['max']);
    if (deaf === undefined) throw new Error('unreachable');
    stopReading(deaf);
    const done = t.supervisor.shutdown({ deadlineMs: 100 });
    const during = catchError(() => t.supervisor.attach(t.server));
    t.clock.increment(100);
    await done;
    const after = catchError(() => t.supervisor.attach(t.server));
    for (const error of [during, after]) {
      expect(error).toBeInstanceOf(SupervisorError);
      expect(error).toMatchObject({ code: 'WSSUP_SHUTTING_DOWN' });
      // What to do: an app's test suite that shares one supervisor across tests met this at its second test.
      expect((error as Error).message).toBe(
        'cannot attach: shutdown() was called, and a supervisor does not start again: create a new one (in tests, one per test)',
      );
    }
    // attach() refused to add a second listener; the first stays to answer 503.
    expect(t.server.listenerCount('upgrade')).toBe(1);
    expectNoLeaks(t.supervisor);
  });
});

function catchError(call: () => unknown): unknown {
  try {
    call();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

/** Waits until all but `left` of the admitted connections are disposed. */
async function allDisposedBut(t: OwnServer, left: number): Promise<void> {
  const { admitted } = t.supervisor.stats().counters;
  if (t.events.disposed.length >= admitted - left) return;
  await new Promise<void>((resolve) => {
    const off = t.supervisor.on('disposed', () => {
      if (t.events.disposed.length >= admitted - left) {
        off();
        resolve();
      }
    });
  });
}

describe('shutdown() with bad options shuts down with the defaults, then rejects with WSSUP_INVALID_ARGUMENT', () => {
  it.each([
    // Past setTimeout's ceiling, Node fires a timer after 1 ms: every connection would be terminated at once.
    ['a deadline no timer can hold', { deadlineMs: 2_147_483_648 }],
    ['a negative deadline', { deadlineMs: -5 }],
    ['null', null],
    ['a string', 'soon'],
    // As createSupervisor() refuses unknown options: a typo must not pass silently.
    ['a misspelt option', { deadline: 30_000 }],
    ['a misspelt pace option', { deadlineMs: 1_000, pace: { window: 500 } }],
    // A value, not an absent option: it once passed silently as drainTimeoutMs.
    ['a null deadline', { deadlineMs: null }],
  ])('%s', async (_name, options) => {
    const t = await startOwnServer();
    const call = () => t.supervisor.shutdown(options as { deadlineMs: number });
    const ws = await connect(t.url('ida'));
    await touch(ws);
    // A shutdown asked for must happen (newcomer trial): a non-object too, a stop handler's
    // `shutdown(Number(process.env.X))` being the same mistake as a bad deadlineMs.
    const first = await expectShutDownWithDefaults(t, call, ws);
    // Ops user trial: a later call returned the first's promise, its own options unchecked, so
    // a bad one looked accepted. The first call's options win, and a bad one still rejects,
    // saying that the shutdown already under way went on.
    const later = await call().then(
      () => undefined,
      (error: SupervisorError) => error,
    );
    expect(later).toMatchObject({ code: 'WSSUP_INVALID_ARGUMENT' });
    expect(later?.message).toBe(
      first.message.replace(
        shutDownWithDefaults,
        '; the shutdown already under way went on with its own options',
      ),
    );
    const settled = t.supervisor.shutdown({ deadlineMs: 5 });
    expect(t.supervisor.shutdown({ deadlineMs: 1_000 })).toBe(settled);
    await settled;
    expectNoLeaks(t.supervisor);
  });

  it('a bad call while a shutdown runs rejects only once that shutdown has ended, its options kept', async () => {
    const t = await startOwnServer({ drainTimeoutMs: 60_000 });
    const ws = await connect(t.url('ida'));
    await touch(ws);
    stopReading(ws); // it never answers the close: only the deadline ends it
    const done = t.supervisor.shutdown({ deadlineMs: 100 });
    const order: string[] = [];
    const bad = t.supervisor.shutdown({ deadlineMs: -1 }).catch((error: SupervisorError) => {
      order.push(`rejected ${error.code}`);
    });
    void done.then(() => order.push('shut down'));
    t.clock.increment(99);
    await Promise.resolve();
    expect(order).toEqual([]);
    expect(t.supervisor.stats().connections).toBe(1);
    t.clock.increment(1); // the first call's deadline, not the default's 60 s
    await bad;
    expect(order).toEqual(['shut down', 'rejected WSSUP_INVALID_ARGUMENT']);
    expectNoLeaks(t.supervisor);
  });

  it('the longest deadline a timer can hold is accepted', async () => {
    const t = await startOwnServer();
    await t.supervisor.shutdown({ deadlineMs: 2_147_483_647 });
    expectNoLeaks(t.supervisor);
  });
});
