/**
 * onClose runs for every admitted connection, as `disposed` is emitted for it, even one
 * whose handshake never completed (onOpen never ran). `opened` tells the two apart, so an
 * app counting +1 in onOpen and −1 in onClose pairs them only when `opened`.
 */
import { once } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import { WebSocketServer } from 'ws';
import { SimulatedClock } from 'xstate';
import type { DisposeInfo } from '../../src/index.js';
import { nextDisposed, rawConnect, upgradeRequest } from '../helpers/cleanup.js';
import { closed, connect, ioWait, startServer } from '../helpers/server.js';

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

  it('a client gone while verifyClient held it: onClose runs, opened is false, onOpen never ran', async () => {
    // Your own server, whose asynchronous verifyClient answers late (README, `webSocketServer`).
    const answers: ((verified: boolean) => void)[] = [];
    const webSocketServer = new WebSocketServer({
      noServer: true,
      maxPayload: 65_536,
      verifyClient: (_info, callback) => answers.push(callback),
    });
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
    const answers: ((verified: boolean) => void)[] = [];
    const webSocketServer = new WebSocketServer({
      noServer: true,
      maxPayload: 65_536,
      verifyClient: (_info, callback) => answers.push(callback),
    });
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
});
