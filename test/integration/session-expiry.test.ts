/**
 * Sessions that expire: `authenticate` returns `{ userId, expiresAt }` (epoch
 * ms, a JWT's `exp * 1000`) and the connection is closed with 4002 `session
 * expired` at its first heartbeat at or after that time, on real sockets and
 * simulated time. The heartbeat checks it: no timer per connection. An
 * `expiresAt` already past refuses the upgrade (401 / 4401); one that is not
 * a finite number is the app's mistake (reported, 500).
 */
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AppHookError } from '../../src/index.js';
import {
  type Client,
  closeOf,
  noHeartbeat,
  resumeReading,
  startRulesServer,
  stopReading,
} from '../helpers/rules.js';
import { allDisposed, connectRefused, expectNoLeaks, userFromQuery } from '../helpers/server.js';

const heartbeatIntervalMs = 1_000;

/** A server whose users' sessions end when `expiries` says (epoch ms), or never. */
async function startExpiringServer(expiries: Map<string, unknown>, options: { refuse?: 'close' } = {}) {
  return startRulesServer({
    heartbeatIntervalMs,
    idleTimeoutMs: noHeartbeat,
    ...options,
    authenticate: (request) => {
      const userId = userFromQuery(request);
      if (userId === null) return null;
      return expiries.has(userId) ? { userId, expiresAt: expiries.get(userId) as number } : userId;
    },
  });
}

/** Lets one heartbeat elapse and waits for the client's pong, so that the next one is a heartbeat too. */
async function heartbeat(t: { clock: { increment(ms: number): void } }, clients: Client[]) {
  const pongs = clients.map(({ handle }) => once(handle.socket as WebSocket, 'pong'));
  t.clock.increment(heartbeatIntervalMs);
  await Promise.all(pongs);
}

describe('a session with expiresAt', () => {
  it('is closed with 4002 at the first heartbeat after its expiry, not before; one without expiresAt never', async () => {
    const expiresAt = Date.now() + 2.5 * heartbeatIntervalMs; // between the 2nd and 3rd heartbeat
    const t = await startExpiringServer(new Map([['eve', expiresAt]]));
    const before = t.supervisor.stats().resources.pendingTimers;
    const forever = await t.open('ford');
    const withoutExpiry = t.supervisor.stats().resources.pendingTimers - before;
    const eve = await t.open('eve');
    // No timer of its own: a connection with an expiry schedules what one without does.
    expect(t.supervisor.stats().resources.pendingTimers - before).toBe(2 * withoutExpiry);
    expect(eve.handle.expiresAt).toBe(expiresAt);
    expect(forever.handle.expiresAt).toBeUndefined();

    await heartbeat(t, [forever, eve]);
    await heartbeat(t, [forever, eve]); // the expiry passes during the next interval
    t.clock.increment(heartbeatIntervalMs - 1);
    expect(eve.ws.readyState).toBe(WebSocket.OPEN);
    expect(t.events.disposed).toEqual([]);

    const closing = closeOf(eve.ws);
    t.clock.increment(1);
    expect(await closing).toEqual({ code: 4002, reason: 'session expired' });
    await expect.poll(() => t.events.disposed.length).toBe(1);
    expect(t.events.disposed).toMatchObject([
      { connectionId: eve.id, userId: 'eve', reason: 'expired', closeCode: 4002 },
    ]);

    // The session without an expiry is untouched, heartbeat after heartbeat.
    for (let beat = 0; beat < 5; beat++) await heartbeat(t, [forever]);
    expect(forever.ws.readyState).toBe(WebSocket.OPEN);
    forever.ws.close();
    await allDisposed(t.supervisor);
    expect(t.errors).toEqual([]);
    expectNoLeaks(t.supervisor);
  });

  it('a ping still unanswered does not delay the check: closed at the first heartbeat after the expiry, with 4002', async () => {
    // Heartbeats come every heartbeatIntervalMs from the open, whenever the pongs come, and
    // each checks the expiry first: the bound is heartbeatIntervalMs after the expiry.
    const expiresAt = Date.now() + 1.1 * heartbeatIntervalMs;
    const t = await startExpiringServer(new Map([['eve', expiresAt]]));
    const eve = await t.open('eve');
    stopReading(eve.ws); // the ping at 1 s is not answered
    t.clock.increment(heartbeatIntervalMs); // not expired: a ping
    t.clock.increment(heartbeatIntervalMs - 1); // expired 0.9 s ago: no heartbeat yet
    expect(t.supervisor.stats().byState.active).toBe(1);
    t.clock.increment(1); // the next heartbeat: expired, though its ping is unanswered
    expect(t.supervisor.stats().byState).toMatchObject({ active: 0, draining: 1 });
    const closing = closeOf(eve.ws);
    resumeReading(eve.ws);
    expect(await closing).toEqual({ code: 4002, reason: 'session expired' });
    await allDisposed(t.supervisor);
    expect(t.events.disposed).toMatchObject([{ connectionId: eve.id, reason: 'expired', closeCode: 4002 }]);
    expectNoLeaks(t.supervisor);
  });

  it('an expiresAt already past refuses the upgrade as unauthenticated (401), allocating nothing', async () => {
    const t = await startExpiringServer(new Map([['old', Date.now() - 1]]));
    expect(await connectRefused(t.url('old'))).toBe(401);
    expect(t.events.rejected).toMatchObject([{ reason: 'unauthenticated', userId: 'old', status: 401 }]);
    expect(t.supervisor.stats().counters.admitted).toBe(0);
    expect(t.errors).toEqual([]);
    expectNoLeaks(t.supervisor);
  });

  it("with refuse: 'close', an expiresAt already past is closed with 4401", async () => {
    const t = await startExpiringServer(new Map([['old', Date.now() - 1]]), { refuse: 'close' });
    const ws = new WebSocket(t.url('old'));
    const [code, reason] = (await once(ws, 'close')) as [number, Buffer];
    expect([code, reason.toString()]).toEqual([4401, 'session expired refusal=unauthenticated']);
    expect(t.events.rejected).toMatchObject([{ reason: 'unauthenticated', via: 'close' }]);
    expect(t.supervisor.stats().counters.admitted).toBe(0);
  });

  it('an expiresAt in seconds (a JWT exp not multiplied) is refused as past, and reported as such', async () => {
    const t = await startExpiringServer(new Map([['sec', Math.floor(Date.now() / 1000) + 3600]]));
    expect(await connectRefused(t.url('sec'))).toBe(401);
    expect(t.errors).toHaveLength(1);
    expect(t.errors[0]).toBeInstanceOf(AppHookError);
    expect(String((t.errors[0] as AppHookError).cause)).toMatch(/looks like seconds/);
    expectNoLeaks(t.supervisor);
  });

  it('an expiresAt minted on a clock from 0 (a SimulatedClock in a test) is refused as past, and reported as such', async () => {
    // The app issued its token with the test's SimulatedClock (now() 0) and a one-hour lifetime.
    const t = await startExpiringServer(new Map([['sim', 0 + 3_600_000]]));
    expect(await connectRefused(t.url('sim'))).toBe(401);
    expect(t.errors).toHaveLength(1);
    const cause = String((t.errors[0] as AppHookError).cause);
    expect(cause).not.toMatch(/looks like seconds/);
    expect(cause).toMatch(/clock that starts at 0 \(a SimulatedClock's now\(\)\)/);
    expect(cause).toMatch(/Date\.now\(\)/);
    expectNoLeaks(t.supervisor);
  });

  it('an expiresAt in microseconds (a timestamp from a database or another language) is reported and refused (500), never read as "never"', async () => {
    const inAnHour = (Date.now() + 3_600_000) * 1000;
    const t = await startExpiringServer(new Map([['micro', inAnHour]]));
    expect(await connectRefused(t.url('micro'))).toBe(500);
    expect(t.events.rejected).toMatchObject([{ reason: 'auth-failed', userId: 'micro' }]);
    expect(t.errors).toHaveLength(1);
    const [error] = t.errors as [AppHookError];
    expect(error).toMatchObject({ code: 'WSSUP_APP_HOOK_FAILED', hook: 'authenticate' });
    expect(String(error.cause)).toMatch(/looks like microseconds/);
    expect(String(error.cause)).toContain(String(inAnHour));
    expect(t.supervisor.stats().counters.admitted).toBe(0);
    expectNoLeaks(t.supervisor);
  });

  it('the largest Date (8.64e15, a common "never") and a year-9999 expiresAt are still sessions that do not end in the test', async () => {
    const t = await startExpiringServer(
      new Map<string, unknown>([
        ['maxdate', 8.64e15],
        ['y9999', Date.UTC(9999, 11, 31)],
      ]),
    );
    for (const user of ['maxdate', 'y9999']) {
      const socket = new WebSocket(t.url(user));
      await once(socket, 'open');
      socket.close();
      await once(socket, 'close');
    }
    expect(t.errors).toEqual([]);
    expect(t.supervisor.stats().counters.admitted).toBe(2);
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it.each([
    ['NaN', Number.NaN, 'NaN'],
    ['Infinity', Number.POSITIVE_INFINITY, 'Infinity'],
    ['a string', String(Date.now() + 60_000), '"'],
    ['a Date', new Date(Date.now() + 60_000), 'getTime()'],
    ['null', null, 'null'],
  ])(
    'an expiresAt that is %s is reported to onError and refused as a failed authenticate (500)',
    async (_what, bad, named) => {
      const t = await startExpiringServer(new Map([['bad', bad]]));
      expect(await connectRefused(t.url('bad'))).toBe(500);
      expect(t.events.rejected).toMatchObject([{ reason: 'auth-failed', userId: 'bad' }]);
      expect(t.errors).toHaveLength(1);
      const [error] = t.errors as [AppHookError];
      expect(error).toBeInstanceOf(AppHookError);
      expect(error).toMatchObject({ code: 'WSSUP_APP_HOOK_FAILED', hook: 'authenticate' });
      expect(error.cause).toBeInstanceOf(TypeError);
      expect(String(error.cause)).toContain('expiresAt');
      expect(String(error.cause)).toContain(named);
      expect(t.supervisor.stats().counters.admitted).toBe(0);
      expectNoLeaks(t.supervisor);
    },
  );
});
