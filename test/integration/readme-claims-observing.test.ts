/**
 * README, "Observing it": claims the other tests prove for some events or
 * some endings only.
 *
 * - "A listener that throws, or an async one that rejects, is reported to
 *   onError (WSSUP_APP_HOOK_FAILED); the others still run": for `evicted` and
 *   `capacity`, the events emitted around a user supervisor's step (the other
 *   events are covered in bad-input.test.ts). The eviction and the admission
 *   it made room for must both go through, and the books stay right.
 * - `cleanupMs` is undefined when the supervisor ended a connection whose
 *   socket had said nothing: a session expiry of a silent peer (the other
 *   endings are covered in cleanup, eviction and metrics tests).
 */
import { describe, expect, it, vi } from 'vitest';
import { AppHookError, type SupervisorEventName } from '../../src/index.js';
import {
  type Client,
  closeOf,
  noHeartbeat,
  resumeReading,
  startRulesServer,
  stopReading,
} from '../helpers/rules.js';
import { allDisposed, expectNoLeaks, ioWait, userFromQuery } from '../helpers/server.js';

const boom = new Error('listener bug');
const throwing = () => {
  throw boom;
};
const rejecting = async () => {
  throw boom;
};

describe('a listener of evicted or capacity that throws or rejects', () => {
  it.each([
    ['evicted', 'throwing', throwing],
    ['evicted', 'async, rejecting,', rejecting],
    ['capacity', 'throwing', throwing],
    ['capacity', 'async, rejecting,', rejecting],
  ] as [SupervisorEventName, string, () => unknown][])(
    'on(%s), %s: reported once, the other listeners still run, the eviction and the admission both go through',
    async (name, _kind, listener) => {
      // Test preset: limit 5, T = 4; capacity levels reached at 3, 4 and 5.
      const t = await startRulesServer();
      t.supervisor.on(name, listener);
      const heard: string[] = [];
      t.supervisor.on(name, () => heard.push(name));

      const clients: Client[] = [];
      for (let n = 0; n < 3; n += 1) clients.push(await t.open('ola')); // capacity up 0.5 at 3
      t.clock.increment(t.supervisor.options.idleTimeoutMs); // all three idle
      const evictedClose = closeOf((clients[0] as Client).ws);
      clients.push(await t.open('ola')); // would be 4 = T: the longest idle is evicted for it
      expect(await evictedClose).toEqual({ code: 4001, reason: 'evicted: idle' });

      expect(t.events.evicted).toMatchObject([{ connectionId: (clients[0] as Client).id, cause: 'idle' }]);
      expect(t.events.admitted).toHaveLength(4);
      expect(heard.length).toBeGreaterThanOrEqual(1); // the listener after the failing one ran
      await vi.waitFor(() => expect(t.events.disposed).toHaveLength(1), ioWait);
      expect(t.supervisor.userStats('ola')).toMatchObject({ live: 3, idle: 2, draining: 0 });
      expect(t.supervisor.audit()).toMatchObject({ ok: true, mismatches: [] });

      // Reported, once per event heard, as the app's hook.
      await vi.waitFor(() => expect(t.errors).toHaveLength(heard.length), ioWait);
      for (const error of t.errors) {
        expect(error).toBeInstanceOf(AppHookError);
        expect(error).toMatchObject({ code: 'WSSUP_APP_HOOK_FAILED', hook: `on('${name}')`, cause: boom });
      }

      for (const client of clients) client.ws.close();
      await allDisposed(t.supervisor);
      expectNoLeaks(t.supervisor);
    },
  );
});

describe('cleanupMs', () => {
  it('is undefined for a session expiry of a silent peer, terminated at drainTimeoutMs', async () => {
    const heartbeatIntervalMs = 1_000;
    const t = await startRulesServer({
      heartbeatIntervalMs,
      idleTimeoutMs: noHeartbeat,
      authenticate: (request) => {
        const userId = userFromQuery(request);
        return userId === null ? null : { userId, expiresAt: Date.now() + heartbeatIntervalMs / 2 };
      },
    });
    const eve = await t.open('eve');
    stopReading(eve.ws); // from now on the peer says nothing: no pong, no close frame
    t.clock.increment(heartbeatIntervalMs); // the first heartbeat at or after the expiry: 4002
    expect(t.supervisor.userStats('eve')).toMatchObject({ live: 0, draining: 1 });
    t.clock.increment(t.supervisor.options.drainTimeoutMs - 1);
    expect(t.events.disposed).toEqual([]);
    t.clock.increment(1);
    await vi.waitFor(() => expect(t.events.disposed).toHaveLength(1), ioWait);
    expect(t.events.disposed[0]).toMatchObject({ reason: 'expired', closeCode: 4002, cleanupMs: undefined });
    expect(t.events.disposed[0]?.cleanupMs).toBeUndefined();
    const closing = closeOf(eve.ws);
    resumeReading(eve.ws);
    await closing;
    expectNoLeaks(t.supervisor);
  });

  it('is 0 for a session expiry whose peer answers the close at once', async () => {
    const heartbeatIntervalMs = 1_000;
    const t = await startRulesServer({
      heartbeatIntervalMs,
      idleTimeoutMs: noHeartbeat,
      authenticate: (request) => {
        const userId = userFromQuery(request);
        return userId === null ? null : { userId, expiresAt: Date.now() + heartbeatIntervalMs / 2 };
      },
    });
    const eve = await t.open('eve');
    const closing = closeOf(eve.ws);
    t.clock.increment(heartbeatIntervalMs);
    expect(await closing).toEqual({ code: 4002, reason: 'session expired' });
    await allDisposed(t.supervisor);
    expect(t.events.disposed).toMatchObject([{ reason: 'expired', closeCode: 4002, cleanupMs: 0 }]);
    expectNoLeaks(t.supervisor);
  });
});
