/**
 * onClose runs for every admitted connection, as `disposed` is emitted for it, even one
 * that never became active (onOpen never ran). `opened` tells the two apart, so an app
 * counting +1 in onOpen and −1 in onClose pairs them only when `opened`: it says whether
 * onOpen ran, not whether the WebSocket handshake completed (with `refuse: 'close'` a
 * connection closed from an `admitted` listener is upgraded, yet never opened).
 */
import { once } from 'node:events';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { SimulatedClock } from 'xstate';
import type { DisposeInfo } from '../../src/index.js';
import { nextDisposed, rawConnect, upgradeRequest } from '../helpers/cleanup.js';
import { closed, connect, ioWait, startServer } from '../helpers/server.js';

/** Your own server, whose asynchronous verifyClient answers late (README, `webSocketServer`): each answer kept. */
function lateVerifier() {
  const answers: ((verified: boolean) => void)[] = [];
  const webSocketServer = new WebSocketServer({
    noServer: true,
    maxPayload: 65_536,
    verifyClient: (_info, callback) => answers.push(callback),
  });
  return { answers, webSocketServer };
}

/** A supervisor counting what the app sees: onOpen +1, onClose −1 when `opened`. */
async function counted(options: Parameters<typeof startServer>[0] = {}) {
  const closes: DisposeInfo[] = [];
  let open = 0;
  const t = await startServer({
    clock: new SimulatedClock(),
    onOpen: () => {
      open += 1;
    },
    onClose: (_connection, info) => {
      closes.push(info);
      if (info.opened) open -= 1;
    },
    ...options,
  });
  return { t, closes, open: () => open };
}

describe('disposed and onClose say whether the connection opened', () => {
  it('a connection that opened: opened is true in both', async () => {
    const { t, closes, open } = await counted();
    const ws = await connect(t.url('ann'));
    expect(open()).toBe(1);
    const disposed = nextDisposed(t.supervisor);
    ws.close(1000);
    await closed(ws);
    expect(await disposed).toMatchObject({ userId: 'ann', reason: 'closed', closeCode: 1000, opened: true });
    expect(closes).toMatchObject([{ reason: 'closed', opened: true }]);
    expect(open()).toBe(0);
  });

  // `opened` is set before onOpen runs (ws-adapter.ts, runOpenHook), whatever the hook does: one
  // that throws, or closes the connection itself, has run all the same, and its +1 is paired.
  // (Their dispose comes after the hook returns, so these cannot tell a flag set just after it;
  // they fail for one set only when onOpen returns, or only when the connection is not leaving.)
  it('onOpen throws (after its +1): the connection closes with 1011, and opened is true in both', async () => {
    let open = 0;
    const closes: DisposeInfo[] = [];
    const t = await startServer({
      clock: new SimulatedClock(),
      onOpen: () => {
        open += 1;
        throw new Error('onOpen failed');
      },
      onClose: (_connection, info) => {
        closes.push(info);
        if (info.opened) open -= 1;
      },
    });
    const disposed = nextDisposed(t.supervisor);
    const ws = new WebSocket(t.url('ada'));
    onTestFinished(() => ws.terminate());
    expect((await closed(ws)).code).toBe(1011);
    expect(await disposed).toMatchObject({ userId: 'ada', closeCode: 1011, opened: true });
    expect(closes).toMatchObject([{ closeCode: 1011, opened: true }]);
    expect(t.errors).toMatchObject([{ code: 'WSSUP_APP_HOOK_FAILED', hook: 'onOpen' }]);
    expect(open).toBe(0);
  });

  it('the app closes the connection inside onOpen: opened is true in both, its +1 paired', async () => {
    let open = 0;
    const closes: DisposeInfo[] = [];
    const t = await startServer({
      clock: new SimulatedClock(),
      onOpen: (connection) => {
        open += 1;
        connection.close(4000, 'not today');
      },
      onClose: (_connection, info) => {
        closes.push(info);
        if (info.opened) open -= 1;
      },
    });
    const disposed = nextDisposed(t.supervisor);
    const ws = new WebSocket(t.url('bo'));
    onTestFinished(() => ws.terminate());
    expect(await closed(ws)).toEqual({ code: 4000, reason: 'not today' });
    expect(await disposed).toMatchObject({
      userId: 'bo',
      reason: 'app-close',
      closeCode: 4000,
      opened: true,
    });
    expect(closes).toMatchObject([{ reason: 'app-close', closeCode: 4000, opened: true }]);
    expect(open).toBe(0);
  });

  it('a client gone while verifyClient held it: onClose runs, opened is false, onOpen never ran', async () => {
    const { answers, webSocketServer } = lateVerifier();
    const { t, closes, open } = await counted({ webSocketServer });
    const socket = await rawConnect(t.port);
    socket.write(upgradeRequest('ben'));
    await vi.waitFor(() => expect(answers).toHaveLength(1), ioWait);
    expect(t.supervisor.stats().byState.connecting).toBe(1);
    const disposed = nextDisposed(t.supervisor);
    socket.destroy(); // the client vanishes while its handshake waits
    await once(socket, 'close');
    answers[0]?.(true); // the late yes finds the socket gone
    const event = await disposed;
    expect(event).toMatchObject({ userId: 'ben', reason: 'closed', closeCode: 1006, opened: false });
    expect(event.httpStatus).toBeUndefined();
    expect(closes).toMatchObject([{ reason: 'closed', closeCode: 1006, opened: false }]);
    expect(open()).toBe(0); // not −1: onOpen never ran, and onClose did not count it
  });

  it('a client that resets while verifyClient holds it: opened false, no closeCode, its socketError', async () => {
    const { answers, webSocketServer } = lateVerifier();
    const { t, closes, open } = await counted({ webSocketServer });
    const socket = await rawConnect(t.port);
    socket.write(upgradeRequest('cy'));
    await vi.waitFor(() => expect(answers).toHaveLength(1), ioWait);
    const disposed = nextDisposed(t.supervisor);
    socket.resetAndDestroy();
    const event = await disposed;
    answers[0]?.(true);
    expect(event).toMatchObject({ reason: 'error', opened: false, socketError: { code: 'ECONNRESET' } });
    expect(event.closeCode).toBeUndefined();
    expect(event.httpStatus).toBeUndefined();
    expect(closes).toMatchObject([{ reason: 'error', opened: false }]);
    expect(open()).toBe(0);
  });

  it("refuse: 'close', closed from an admitted listener: upgraded (the client saw open), yet opened is false", async () => {
    const { t, closes, open } = await counted({ refuse: 'close' });
    t.supervisor.on('admitted', ({ connectionId }) =>
      t.supervisor.connection(connectionId)?.close(4000, 'kicked'),
    );
    const disposed = nextDisposed(t.supervisor);
    const ws = new WebSocket(t.url('dee'));
    onTestFinished(() => ws.terminate());
    let sawOpen = false;
    ws.once('open', () => {
      sawOpen = true;
    });
    const { code, reason } = await closed(ws);
    // The upgrade completed: the client's socket opened, and read the app's code as a close frame.
    expect({ sawOpen, code, reason }).toEqual({ sawOpen: true, code: 4000, reason: 'kicked' });
    expect(await disposed).toMatchObject({
      userId: 'dee',
      reason: 'app-close',
      closeCode: 4000,
      opened: false,
    });
    expect(closes).toMatchObject([{ reason: 'app-close', closeCode: 4000, opened: false }]);
    expect(open()).toBe(0); // onOpen never ran: the connection never became active
  });

  it('a handshake held past connectTimeoutMs: onClose runs with opened false, the client got 503', async () => {
    const webSocketServer = new WebSocketServer({
      noServer: true,
      maxPayload: 65_536,
      verifyClient: (_info, _callback) => {}, // asynchronous (two parameters), never answers
    });
    const clock = new SimulatedClock();
    const { t, closes, open } = await counted({ webSocketServer, clock, connectTimeoutMs: 2_000 });
    const socket = await rawConnect(t.port);
    socket.write(upgradeRequest('eli'));
    await vi.waitFor(() => expect(t.supervisor.stats().byState.connecting).toBe(1), ioWait);
    const disposed = nextDisposed(t.supervisor);
    clock.increment(2_000);
    expect(await disposed).toMatchObject({
      userId: 'eli',
      reason: 'connect-timeout',
      httpStatus: 503,
      opened: false,
    });
    expect(closes).toMatchObject([{ reason: 'connect-timeout', httpStatus: 503, opened: false }]);
    expect(open()).toBe(0);
  });
});
