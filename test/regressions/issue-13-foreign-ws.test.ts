/**
 * Issue 13, item 4: an app's own `WebSocketServer` from another copy of `ws`.
 *
 * `ws` was a dependency and `webSocketServer` was checked with `instanceof`.
 * An app on ws@8.17.1 got a second, nested copy of ws under ws-supervisor,
 * its server was an instance of the other copy's class, and createSupervisor
 * threw `WSSUP_INVALID_OPTION … received a object`. ws is now a peer
 * dependency and the option is checked by shape.
 *
 * The other copy here is a real, separate install of ws 8.17.1 (the devDependency
 * alias `ws-8.17.1`): the oldest version the peer range accepts.
 */
import { createRequire } from 'node:module';
import { describe, expect, it, onTestFinished } from 'vitest';
import { WebSocketServer } from 'ws';
import { InvalidOptionError } from '../../src/index.js';
import { allDisposed, closed, connect, expectNoLeaks, nextMessage, startServer } from '../helpers/server.js';

const require = createRequire(import.meta.url);
// Loaded through require: the alias has no types of its own, and its API is ws's.
const otherWs = require('ws-8.17.1') as typeof import('ws');
const otherVersion = (require('ws-8.17.1/package.json') as { version: string }).version;

describe('a WebSocketServer from another copy of ws (issue 13)', () => {
  it('is a separate copy of ws 8.17.1, so instanceof cannot recognise its server', () => {
    expect(otherVersion).toBe('8.17.1');
    expect(otherWs.WebSocketServer).not.toBe(WebSocketServer);
    const wss = new otherWs.WebSocketServer({ noServer: true });
    onTestFinished(() => void wss.close());
    expect(wss instanceof WebSocketServer).toBe(false);
  });

  it('is accepted, and it does the handshakes of a real connection with its own ws options', async () => {
    const wss = new otherWs.WebSocketServer({ noServer: true, clientTracking: false, maxPayload: 16 });
    onTestFinished(() => void wss.close());
    const t = await startServer({ webSocketServer: wss });

    const ws = await connect(t.url('app-on-ws-8.17.1'));
    ws.send('hello');
    expect(await nextMessage(ws)).toBe('hello');
    expect(t.supervisor.userStats('app-on-ws-8.17.1')).toMatchObject({ live: 1 });

    // maxPayload is the app's server's option, not ours (64 KiB in the test preset):
    // the 17-byte message is refused by ws 8.17.1 with 1009.
    const closing = closed(ws);
    ws.send('x'.repeat(17));
    expect((await closing).code).toBe(1009);
    await allDisposed(t.supervisor);
    expect(t.disposed).toHaveLength(1);
    // The code the client got, read off ws 8.17.1's error: its status-code symbol is that
    // copy's own, found by its description (ws-error-close-code.ts).
    expect(t.disposed[0]).toMatchObject({ reason: 'error', closeCode: 1009 });
    expectNoLeaks(t.supervisor);
    expect(t.errors).toEqual([]);
  });

  it('is still refused when it does its own handshakes (no noServer)', async () => {
    const wss = new otherWs.WebSocketServer({ port: 0, host: '127.0.0.1' });
    onTestFinished(() => new Promise<void>((resolve) => wss.close(() => resolve())));
    await expect(startServer({ webSocketServer: wss })).rejects.toThrow(InvalidOptionError);
  });
});
