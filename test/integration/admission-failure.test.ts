/**
 * An admission that the machines never decided: a bug path, with no way in
 * from the public API since the app's `inspect` observer is isolated from the
 * actors (test/integration/inspect-isolation.test.ts; a throwing `inspect`
 * reached it before). It stays as the guard of a bug in ws-supervisor or
 * XState, so it is driven here through the upgrade path itself (src/upgrade.ts)
 * with the real books, rejections and close refusals, real sockets, and a
 * real XState actor standing for a user supervisor that ignores ADMIT. The
 * client gets what every internal failure at admission gets (HTTP 500, close
 * 4500 with `refuse: 'close'`, reason `internal-error`, no retry hint), and
 * onError gets WSSUP_INTERNAL; not a reset, nor a 503 that says the server is
 * shutting down and to come back.
 */
import { createServer } from 'node:http';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { createActor, createMachine, SimulatedClock } from 'xstate';
import { Books, UserRecord } from '../../src/books.js';
import { afterWaitingIo, createCountingClock } from '../../src/clock.js';
import { createConnectionIds } from '../../src/connection-id.js';
import type { SupervisorError } from '../../src/errors.js';
import { type RejectedEvent, SupervisorEvents } from '../../src/events.js';
import { resolveOptions, type SupervisorOptions } from '../../src/options.js';
import { createRejections } from '../../src/rejections.js';
import { messageFit } from '../../src/send-arguments.js';
import { createSendEdges } from '../../src/send-edges.js';
import { SocketAdmissions } from '../../src/socket-admissions.js';
import { CloseRefusals } from '../../src/transport/close-refusal.js';
import type { ConnectionEnv } from '../../src/transport/ws-adapter.js';
import { WebSocketServer } from '../../src/transport/ws-peer.js';
import { createUpgradePath } from '../../src/upgrade.js';
import { createUserLimits } from '../../src/user-limit.js';
import { closeRefusal, httpRefusal } from '../helpers/refusals.js';
import { closeServer, ioWait, listenOnLoopback, userFromQuery } from '../helpers/server.js';

/** The upgrade path of a server whose user supervisors decide nothing. */
async function startUndecided(refuse: 'http' | 'close') {
  const errors: SupervisorError[] = [];
  const rejected: RejectedEvent[] = [];
  const report = (error: SupervisorError) => errors.push(error);
  const options: SupervisorOptions = { preset: 'test', refuse, authenticate: userFromQuery };
  const resolved = resolveOptions(options);
  const clock = createCountingClock(new SimulatedClock());
  const wss = new WebSocketServer({ noServer: true, clientTracking: false });
  const books = new Books();
  const events = new SupervisorEvents(report);
  events.on('rejected', (event) => rejected.push(event));
  const env: ConnectionEnv = {
    wss,
    maxBufferedBytes: resolved.maxBufferedBytes,
    messageFit: messageFit(resolved.maxBufferedBytes),
    hooks: {},
    report,
    now: clock.now,
    activity: resolved.activity,
    idleTimeoutMs: resolved.idleTimeoutMs,
    idleSinceSend: () => {},
    bookLeaving: () => {},
    books,
    maxRoomsPerConnection: resolved.maxRoomsPerConnection,
    sendEdges: createSendEdges(afterWaitingIo),
    listeners: 0,
    retryHints: resolved.retryAfterMs,
  };
  const closeRefusals = new CloseRefusals({
    wss,
    clock,
    inspect: {},
    report,
    timeoutMs: resolved.closeRefusalTimeoutMs,
    max: refuse === 'close' ? resolved.maxCloseRefusals : 0,
    counter: env,
  });
  // A real actor that handles no event: ADMIT is ignored, as by a supervisor failed inside its step.
  const deaf = createActor(createMachine({})).start();
  onTestFinished(() => void deaf.stop());
  const users = new Map<string, UserRecord>();
  const userLimits = createUserLimits(resolved);
  const { handleUpgrade } = createUpgradePath({
    options,
    resolved,
    wss,
    env,
    books,
    users,
    clock,
    report,
    reject: createRejections({
      retryHints: resolved.retryAfterMs,
      closeRefusals,
      counters: books.counters,
      events,
    }),
    supervisorOf: (userId) => new UserRecord(userId, deaf, userLimits.standard),
    capacityReleased: (record) => {
      record.capacityHeld = false;
    },
    nextConnectionId: createConnectionIds(),
    cluster: undefined,
    holdChanged: () => {},
    isShuttingDown: () => false,
    userLimits,
    socketAdmissions: new SocketAdmissions(),
  });
  const server = createServer();
  server.on('upgrade', (request, socket, head) => void handleUpgrade(request, socket, head));
  const port = await listenOnLoopback(server);
  onTestFinished(async () => {
    closeRefusals.close();
    await closeServer(server);
  });
  const url = (user: string) => `ws://127.0.0.1:${port}/?user=${user}`;
  return { url, errors, rejected, books, env, clock, closeRefusals };
}

describe('an admission the machines did not decide', () => {
  it('is refused with HTTP 500 internal-error and reported as WSSUP_INTERNAL', async () => {
    const t = await startUndecided('http');
    const answer = await httpRefusal(t.url('kim'));
    expect(answer).toMatchObject({ status: 500, body: 'internal error\n' });
    expect(answer.headers['retry-after']).toBeUndefined();
    expect(t.rejected).toMatchObject([{ reason: 'internal-error', status: 500, userId: 'kim', via: 'http' }]);
    expect(t.errors).toEqual([
      expect.objectContaining({
        code: 'WSSUP_INTERNAL',
        message: expect.stringMatching(/^no admission decision/),
      }),
    ]);
    // Nothing of it is left: no connection booked, no listener, no timer.
    expect(t.books.counters).toMatchObject({ admitted: 0, rejected: 1 });
    expect(t.books.connections).toBe(0);
    expect(t.env.listeners).toBe(0);
    expect(t.clock.pending).toBe(0);
  });

  it("with refuse: 'close', gets close 4500 and no retry hint", async () => {
    const t = await startUndecided('close');
    expect(await closeRefusal(t.url('kim'))).toEqual({
      code: 4500,
      reason: 'internal error refusal=internal-error',
      retryAfter: undefined,
    });
    expect(t.rejected).toMatchObject([{ reason: 'internal-error', status: 500, via: 'close' }]);
    await vi.waitFor(() => expect(t.closeRefusals.inFlight).toBe(0), ioWait);
    expect(t.env.listeners).toBe(0);
    expect(t.clock.pending).toBe(0);
  });
});
