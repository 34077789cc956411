/**
 * README claims of "Close codes and HTTP statuses" that no test checked in
 * full (most rows are proven elsewhere: refusals.test.ts, bad-input.test.ts,
 * handshake.test.ts, session-expiry.test.ts, shutdown.test.ts,
 * close-refusal.test.ts, ws-terminations.test.ts…). A supervisor on port 0,
 * real ws clients and raw sockets over loopback.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import type WebSocket from 'ws';
import type { AuthResult, RejectedEvent } from '../../src/index.js';
import { rawConnect, readResponseHead, upgradeRequest } from '../helpers/cleanup.js';
import { httpRefusal } from '../helpers/refusals.js';
import {
  allDisposed,
  connect,
  expectNoLeaks,
  ioWait,
  nextMessage,
  startServer,
  userFromQuery,
} from '../helpers/server.js';

describe('authenticate returned an expiresAt already past (README: HTTP 401, body `session expired`)', () => {
  it('is answered 401 with the body `session expired`, reason unauthenticated', async () => {
    const t = await startServer({
      authenticate: (request) => ({ userId: userFromQuery(request) ?? '', expiresAt: Date.now() - 1_000 }),
    });
    const rejected: RejectedEvent[] = [];
    t.supervisor.on('rejected', (event) => rejected.push(event));
    expect(await httpRefusal(t.url('old'))).toMatchObject({ status: 401, body: 'session expired\n' });
    expect(rejected).toMatchObject([{ reason: 'unauthenticated', status: 401, via: 'http' }]);
    expectNoLeaks(t.supervisor);
  });
});

describe('an upgrade that failed unexpectedly before anything was written (README: HTTP 500, no Retry-After)', () => {
  it('an authenticate result whose userId getter throws: 500 internal-error, no Retry-After, reported as WSSUP_INTERNAL', async () => {
    const boom = new Error('getter bug');
    const t = await startServer({
      authenticate: () =>
        ({
          get userId(): string {
            throw boom;
          },
        }) as AuthResult,
    });
    const rejected: RejectedEvent[] = [];
    t.supervisor.on('rejected', (event) => rejected.push(event));
    const socket = await rawConnect(t.port);
    socket.write(upgradeRequest('getter'));
    const head = await readResponseHead(socket);
    expect(head).toMatch(/^HTTP\/1\.1 500 /);
    expect(head.toLowerCase()).not.toContain('retry-after');
    expect(rejected).toMatchObject([{ reason: 'internal-error', status: 500, via: 'http' }]);
    expect(t.errors.splice(0)).toEqual([expect.objectContaining({ code: 'WSSUP_INTERNAL', cause: boom })]);
    expectNoLeaks(t.supervisor);
  });
});

describe('the client went away while authenticate was deciding (README: nothing to answer)', () => {
  it('rejected as socket-closed, its status and via both undefined', async () => {
    const answers: ((user: string) => void)[] = [];
    const t = await startServer({
      authenticate: () => new Promise<string>((resolve) => answers.push(resolve)),
    });
    const serverSockets: Duplex[] = [];
    t.server.on('upgrade', (_request: IncomingMessage, socket: Duplex) => serverSockets.push(socket));
    const rejected: RejectedEvent[] = [];
    t.supervisor.on('rejected', (event) => rejected.push(event));
    const socket = await rawConnect(t.port);
    socket.write(upgradeRequest('gone'));
    await vi.waitFor(() => expect(answers).toHaveLength(1), ioWait);
    const serverClosed = new Promise((resolve) => serverSockets[0]?.once('close', resolve));
    socket.resetAndDestroy();
    await serverClosed;
    answers[0]?.('gone');
    await vi.waitFor(() => expect(rejected).toHaveLength(1), ioWait);
    expect(rejected[0]).toMatchObject({ reason: 'socket-closed' });
    expect([rejected[0]?.status, rejected[0]?.via]).toEqual([undefined, undefined]);
    expectNoLeaks(t.supervisor);
  });
});

describe('no open connection is closed for overload (README: 1013 is never sent)', () => {
  it('at maxConnections, newcomers get 503 and every connection already open stays open and echoes', async () => {
    const t = await startServer({ maxConnections: 2 });
    const held: WebSocket[] = [await connect(t.url('ann')), await connect(t.url('bob'))];
    const closes: number[] = [];
    for (const ws of held) ws.on('close', (code) => closes.push(code));
    for (const user of ['cid', 'ann', 'dot']) {
      expect(await httpRefusal(t.url(user)), user).toMatchObject({
        status: 503,
        headers: { 'retry-after': '5' },
      });
    }
    for (const ws of held) {
      ws.send('still here');
      expect(await nextMessage(ws)).toBe('still here');
    }
    expect(closes).toEqual([]);
    expect(t.disposed).toEqual([]);
    expect(t.supervisor.stats().counters).toMatchObject({ admitted: 2, rejected: 3 });
    for (const ws of held) ws.close();
    await allDisposed(t.supervisor);
    expect(t.disposed.map((event) => event.closeCode)).not.toContain(1013);
    expectNoLeaks(t.supervisor);
  });
});
