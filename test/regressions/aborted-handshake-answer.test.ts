/**
 * A connection that ends before its WebSocket handshake opened (shutdown, the
 * connect timeout, the app's own close, a hook of the app's server that
 * breaks the handshake) still gets a definite answer: an HTTP status, or with
 * `refuse: 'close'` a close frame. The `disposed` event and `onClose` said
 * `closeCode: undefined` and nothing else, so a log line or a metric keyed on
 * them could not tell what the peer was told. They now say it: `closeCode`
 * for the close frame it is sent, `httpStatus` for the HTTP answer it got.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { WebSocketServer } from 'ws';
import type { DisposeInfo, SupervisorOptions } from '../../src/index.js';
import { closeRefusal, httpRefusal } from '../helpers/refusals.js';
import { nextEvent, type RulesServer, startRulesServer, stopReading } from '../helpers/rules.js';
import { allDisposed, expectNoLeaks, ioWait } from '../helpers/server.js';

const connectTimeoutMs = 1_000;

interface Held {
  t: RulesServer;
  /** What onClose was given, in order. */
  closes: DisposeInfo[];
  /** Lets the held handshakes finish (ws then opens the socket, or finds it gone). */
  release: () => void;
}

/** A server whose own verifyClient holds every handshake but user `deaf`'s until release(): each stays `connecting`. */
async function startHeldServer(options: Partial<SupervisorOptions> = {}): Promise<Held> {
  const answers: ((verified: boolean) => void)[] = [];
  const webSocketServer = new WebSocketServer({
    noServer: true,
    maxPayload: 65_536,
    verifyClient: (info, callback) => {
      if (info.req.url?.includes('user=deaf') === true) callback(true);
      else answers.push(callback);
    },
  });
  onTestFinished(() => void webSocketServer.close());
  const closes: DisposeInfo[] = [];
  const t = await startRulesServer({
    webSocketServer,
    connectTimeoutMs,
    onClose: (_connection, info) => void closes.push(info),
    ...options,
  });
  const release = () => {
    for (const answer of answers.splice(0)) answer(true);
  };
  return { t, closes, release };
}

/** The fields under test, as the `disposed` event and onClose both carry them. */
function expectAnswered(held: Held, expected: Partial<DisposeInfo>): void {
  expect(held.t.events.disposed).toMatchObject([expected]);
  expect(held.closes).toMatchObject([expected]);
  // Exactly one of them: a close frame, or an HTTP answer.
  expect(held.closes[0]).toMatchObject({ closeCode: expected.closeCode, httpStatus: expected.httpStatus });
}

describe('over HTTP (the default), an aborted handshake reports the status the client got', () => {
  it('shutdown: 503, no close code', async () => {
    const held = await startHeldServer();
    const admitted = nextEvent(held.t.supervisor, 'admitted');
    const refused = httpRefusal(held.t.url('neo'));
    await admitted;
    await held.t.supervisor.shutdown();
    expect(await refused).toMatchObject({ status: 503 });
    expectAnswered(held, { reason: 'shutdown', closeCode: undefined, httpStatus: 503 });
    expectNoLeaks(held.t.supervisor);
  });

  it('the connect timeout: 503, no close code', async () => {
    const held = await startHeldServer();
    const admitted = nextEvent(held.t.supervisor, 'admitted');
    const refused = httpRefusal(held.t.url('wes'));
    await admitted;
    held.t.clock.increment(connectTimeoutMs);
    expect(await refused).toMatchObject({ status: 503 });
    expectAnswered(held, { reason: 'connect-timeout', closeCode: undefined, httpStatus: 503 });
    expectNoLeaks(held.t.supervisor);
  });

  // The app's code is not sent (there is no WebSocket to carry it): the status it stands for is.
  it.each([
    [4429, 429],
    [4003, 403],
    [1000, 403],
  ])('the app’s close(%i) from the admitted event: %i, no close code', async (code, status) => {
    const held = await startHeldServer();
    held.t.supervisor.on('admitted', ({ connectionId }) =>
      held.t.supervisor.connection(connectionId)?.close(code, 'not now'),
    );
    expect(await httpRefusal(held.t.url('kim'))).toMatchObject({ status });
    await allDisposed(held.t.supervisor);
    expectAnswered(held, { reason: 'app-close', closeCode: undefined, httpStatus: status });
    expectNoLeaks(held.t.supervisor);
  });

  it('a hook of the app’s server that breaks the handshake: 503, no close code', async () => {
    const webSocketServer = new WebSocketServer({ noServer: true, maxPayload: 65_536 }).on('headers', () => {
      throw new Error('handshake hook bug');
    });
    const held = await startHeldServer({ webSocketServer });
    expect(await httpRefusal(held.t.url('gil'))).toMatchObject({ status: 503 });
    await allDisposed(held.t.supervisor);
    expectAnswered(held, { reason: 'error', closeCode: undefined, httpStatus: 503 });
    expectNoLeaks(held.t.supervisor);
  });
});

describe("with refuse: 'close', an aborted handshake reports the close code the client is sent", () => {
  it('shutdown: 4503, no HTTP status', async () => {
    const held = await startHeldServer({ refuse: 'close' });
    const deaf = await held.t.open('deaf');
    stopReading(deaf.ws); // holds the shutdown open, so the handshake finishes before it ends
    const admitted = nextEvent(held.t.supervisor, 'admitted', (event) => event.userId === 'neo');
    const refused = closeRefusal(held.t.url('neo'));
    await admitted;
    const done = held.t.supervisor.shutdown({ deadlineMs: 1_000 });
    await expect.poll(() => held.t.events.disposed.length, ioWait).toBe(1);
    expectAnswered(held, { reason: 'shutdown', closeCode: 4503, httpStatus: undefined });
    held.release();
    expect(await refused).toMatchObject({ code: 4503 });
    held.t.clock.increment(1_000);
    await done;
    expect(held.t.events.disposed.map((event) => event.userId)).toEqual(['neo', 'deaf']);
    expectNoLeaks(held.t.supervisor);
  });

  it('the connect timeout: 4503, no HTTP status', async () => {
    const held = await startHeldServer({ refuse: 'close' });
    const admitted = nextEvent(held.t.supervisor, 'admitted');
    const refused = closeRefusal(held.t.url('wes'));
    await admitted;
    held.t.clock.increment(connectTimeoutMs);
    expectAnswered(held, { reason: 'connect-timeout', closeCode: 4503, httpStatus: undefined });
    held.release();
    expect(await refused).toMatchObject({ code: 4503 });
    await expect.poll(() => held.t.supervisor.stats().resources.closeRefusals, ioWait).toBe(0);
    expectNoLeaks(held.t.supervisor);
  });

  it('the app’s close(4003) from the admitted event: 4003 as given, no HTTP status', async () => {
    const held = await startHeldServer({ refuse: 'close' });
    held.t.supervisor.on('admitted', ({ connectionId }) =>
      held.t.supervisor.connection(connectionId)?.close(4003, 'kicked'),
    );
    const refused = closeRefusal(held.t.url('kim'));
    await expect.poll(() => held.t.events.disposed.length, ioWait).toBe(1);
    expectAnswered(held, { reason: 'app-close', closeCode: 4003, httpStatus: undefined });
    held.release();
    expect(await refused).toEqual({ code: 4003, reason: 'kicked', retryAfter: undefined });
    await expect.poll(() => held.t.supervisor.stats().resources.closeRefusals, ioWait).toBe(0);
    expectNoLeaks(held.t.supervisor);
  });

  it('past maxCloseRefusals the refusal is HTTP: the status, no close code', async () => {
    const held = await startHeldServer({ refuse: 'close', maxCloseRefusals: 0 });
    const admitted = nextEvent(held.t.supervisor, 'admitted');
    const refused = httpRefusal(held.t.url('wes'));
    await admitted;
    held.t.clock.increment(connectTimeoutMs);
    expect(await refused).toMatchObject({ status: 503 });
    expectAnswered(held, { reason: 'connect-timeout', closeCode: undefined, httpStatus: 503 });
    expectNoLeaks(held.t.supervisor);
  });
});
