/**
 * The `rejected` event's type is a union on `reason` (src/events.ts): each
 * reason says which fields it sets. rejections.ts asserts that type over one
 * object literal, so this file proves it at run time: one refusal per reason,
 * provoked as a client would, and the whole event it was told as (`live` and
 * `limit` on `user-limit` only; a `userId` on the refusals after authenticate;
 * a `retryAfterMs` on 429 and 503 only; nothing sent on `socket-closed`).
 * Real sockets on port 0.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { SimulatedClock } from 'xstate';
import { type AuthResult, Refusal, type RejectedEvent } from '../../src/index.js';
import { REJECT_STATUSES } from '../../src/reasons.js';
import { rawConnect, readResponseHead, upgradeRequest } from '../helpers/cleanup.js';
import { MemoryBook } from '../helpers/memory-slot-store.js';
import { httpRefusal } from '../helpers/refusals.js';
import { type RulesServer, startRulesServer } from '../helpers/rules.js';
import { allDisposed, ioWait, userFromQuery } from '../helpers/server.js';

/** What every refusal over HTTP from a ws client on loopback carries, whatever its reason. */
const overHttp = {
  message: expect.any(String),
  via: 'http',
  remoteAddress: '127.0.0.1',
  userAgent: undefined,
  correlationId: undefined,
  retryAfterMs: undefined,
  live: undefined,
  limit: undefined,
} as const;

/** The one event the server told, once a refusal was answered. */
async function onlyRejection(t: RulesServer): Promise<RejectedEvent> {
  await vi.waitFor(() => expect(t.events.rejected).toHaveLength(1), ioWait);
  const [event] = t.events.rejected;
  if (event === undefined) throw new Error('no rejected event');
  // The metrics' `status` label: one of the reason's listed statuses, or none exactly when nothing was sent.
  expect([...REJECT_STATUSES[event.reason], undefined]).toContain(event.status);
  expect(event.status === undefined).toBe(event.via === undefined);
  return event;
}

describe('the rejected event sets, for each reason, the fields its type says', () => {
  it('user-limit: the user, the live count and the limit, and the 429 hint', async () => {
    const t = await startRulesServer();
    for (let i = 0; i < 5; i += 1) await t.open('ann');
    expect((await httpRefusal(t.url('ann'))).status).toBe(429);
    expect(await onlyRejection(t)).toEqual({
      ...overHttp,
      reason: 'user-limit',
      status: 429,
      userId: 'ann',
      retryAfterMs: 5_000,
      live: 5,
      limit: 5,
    });
  });

  it('rate-limited: the user and the time until its next token, no count', async () => {
    const t = await startRulesServer({ admissionRate: { perSecond: 0.5, burst: 1 }, lingerMs: 60_000 });
    const held = await t.open('amy');
    expect((await httpRefusal(t.url('amy'))).status).toBe(429);
    expect(await onlyRejection(t)).toEqual({
      ...overHttp,
      reason: 'rate-limited',
      status: 429,
      userId: 'amy',
      retryAfterMs: 2_000,
    });
    held.ws.close();
    await allDisposed(t.supervisor);
    t.clock.increment(60_000);
  });

  it('process-limit: the user and the 503 hint, no count', async () => {
    const t = await startRulesServer({ maxConnections: 1 });
    await t.open('ann');
    expect((await httpRefusal(t.url('bob'))).status).toBe(503);
    expect(await onlyRejection(t)).toEqual({
      ...overHttp,
      reason: 'process-limit',
      status: 503,
      userId: 'bob',
      retryAfterMs: 5_000,
    });
  });

  it('store-unavailable: the user and the breaker’s hint, no count', async () => {
    const clock = new SimulatedClock();
    const book = new MemoryBook(() => clock.now());
    const t = await startRulesServer({
      clock,
      cluster: { store: book.store('node-0', 30_000), nodeId: 'node-0', onStoreUnavailable: 'reject' },
    });
    await vi.waitFor(() => expect(t.supervisor.stats().cluster?.leaseHeld).toBe(true), ioWait);
    book.down = true;
    expect((await httpRefusal(t.url('amy'))).status).toBe(503);
    expect(await onlyRejection(t)).toEqual({
      ...overHttp,
      reason: 'store-unavailable',
      status: 503,
      userId: 'amy',
      retryAfterMs: 1_000,
    });
    t.errors.splice(0); // the outage's WSSUP_STORE_UNAVAILABLE reports
    book.down = false;
  });

  it('shutting-down after authenticate: the user it named, and the 503 hint', async () => {
    let shutDown = (): void => {};
    const t = await startRulesServer({
      authenticate: (request) => {
        shutDown();
        return userFromQuery(request);
      },
    });
    shutDown = () => void t.supervisor.shutdown();
    expect((await httpRefusal(t.url('ann'))).status).toBe(503);
    expect(await onlyRejection(t)).toEqual({
      ...overHttp,
      reason: 'shutting-down',
      status: 503,
      userId: 'ann',
      retryAfterMs: 1_000,
    });
  });

  it('refused: the Refusal’s status and hint, no user', async () => {
    const t = await startRulesServer({
      authenticate: () => new Refusal(429, 'slow down', { retryAfterMs: 3_000 }),
    });
    expect((await httpRefusal(t.url('ann'))).status).toBe(429);
    expect(await onlyRejection(t)).toEqual({
      ...overHttp,
      reason: 'refused',
      status: 429,
      userId: undefined,
      message: 'slow down',
      retryAfterMs: 3_000,
    });
  });

  it('bad-handshake: its status over HTTP, no user, no hint', async () => {
    const t = await startRulesServer();
    const socket = await rawConnect(t.port);
    socket.write(upgradeRequest('ann', { method: 'POST' }));
    expect(await readResponseHead(socket)).toMatch(/^HTTP\/1\.1 405 /);
    expect(await onlyRejection(t)).toEqual({
      ...overHttp,
      reason: 'bad-handshake',
      status: 405,
      userId: undefined,
    });
  });

  it('origin-not-allowed: 403, no user, no hint', async () => {
    const t = await startRulesServer({ allowedOrigins: ['https://app.example'] });
    expect((await httpRefusal(t.url('ann'), { origin: 'https://other.example' })).status).toBe(403);
    expect(await onlyRejection(t)).toEqual({
      ...overHttp,
      reason: 'origin-not-allowed',
      status: 403,
      userId: undefined,
    });
  });

  it('unauthenticated: 401, no hint', async () => {
    const t = await startRulesServer({ authenticate: () => null });
    expect((await httpRefusal(t.url('ann'))).status).toBe(401);
    expect(await onlyRejection(t)).toEqual({
      ...overHttp,
      reason: 'unauthenticated',
      status: 401,
      userId: undefined,
    });
  });

  it('invalid-user-id: 400, no user, the correlation id, no hint', async () => {
    const t = await startRulesServer({ authenticate: () => ({ userId: '', correlationId: 'c-1' }) });
    expect((await httpRefusal(t.url('ann'))).status).toBe(400);
    expect(await onlyRejection(t)).toEqual({
      ...overHttp,
      reason: 'invalid-user-id',
      status: 400,
      userId: undefined,
      correlationId: 'c-1',
    });
  });

  it('auth-failed: 500, no hint', async () => {
    const t = await startRulesServer({
      authenticate: () => {
        throw new Error('token store down');
      },
    });
    expect((await httpRefusal(t.url('ann'))).status).toBe(500);
    expect(await onlyRejection(t)).toEqual({
      ...overHttp,
      reason: 'auth-failed',
      status: 500,
      userId: undefined,
    });
  });

  it('internal-error: 500, no hint', async () => {
    const t = await startRulesServer({
      authenticate: () =>
        ({
          get userId(): string {
            throw new Error('getter bug');
          },
        }) as AuthResult,
    });
    expect((await httpRefusal(t.url('ann'))).status).toBe(500);
    expect(await onlyRejection(t)).toEqual({
      ...overHttp,
      reason: 'internal-error',
      status: 500,
      userId: undefined,
    });
    expect(t.errors.splice(0).map((error) => error.code)).toEqual(['WSSUP_INTERNAL']);
  });

  it('socket-closed: nothing sent (no status, no via, no hint)', async () => {
    const answers: ((user: string) => void)[] = [];
    const t = await startRulesServer({
      authenticate: () => new Promise<string>((resolve) => answers.push(resolve)),
    });
    const serverSockets: Duplex[] = [];
    t.server.on('upgrade', (_request: IncomingMessage, socket: Duplex) => serverSockets.push(socket));
    const socket = await rawConnect(t.port);
    socket.write(upgradeRequest('gone'));
    await vi.waitFor(() => expect(answers).toHaveLength(1), ioWait);
    const serverClosed = new Promise((resolve) => serverSockets[0]?.once('close', resolve));
    socket.resetAndDestroy();
    await serverClosed;
    answers[0]?.('gone');
    expect(await onlyRejection(t)).toEqual({
      ...overHttp,
      reason: 'socket-closed',
      status: undefined,
      userId: undefined,
      via: undefined,
      remoteAddress: undefined, // a reset socket no longer knows its peer
    });
  });
});
