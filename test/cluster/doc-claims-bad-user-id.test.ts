/**
 * The README, "Running several processes", "When the cluster-wide calls answer": the
 * `{ cluster: true }` calls reject with WSSUP_STORE_UNAVAILABLE before the first lease and
 * while Redis is away, and with WSSUP_SHUTTING_DOWN once shutdown() has given the lease
 * back; "A bad user id is `WSSUP_INVALID_ARGUMENT` in every case, before anything is sent."
 *
 * On a private redis-server, one supervisor on a real socket: the bad ids are checked in
 * each of those states (and with the store answering), next to a good id whose answer
 * shows which state the process is in. A bad id never counts against the breaker.
 */
import { describe, expect, it, vi } from 'vitest';
import type { AuthResult, RejectedEvent, SupervisorError } from '../../src/index.js';
import { httpRefusal } from '../helpers/refusals.js';
import { connect, ioWait, startServer, userFromQuery } from '../helpers/server.js';
import { freshPrefix, hasRedis, usePrivateRedis } from './store-fixture.js';

/** What a call settles with: 'resolved', or the code of its error (a throw counts as a rejection). */
const outcome = (call: () => unknown): Promise<string> =>
  Promise.resolve()
    .then(call)
    .then(
      () => 'resolved',
      (error: SupervisorError) => error.code,
    );

const badIds: [string, unknown][] = [
  ['an empty id', ''],
  ['a number', 42],
  ['an id too long', 'x'.repeat(10_000)],
];

describe.runIf(hasRedis)('docs: a bad user id in the cluster-wide calls', () => {
  const redis = usePrivateRedis();

  it('is WSSUP_INVALID_ARGUMENT before the first lease, with Redis answering, while it is away, and after shutdown()', async () => {
    await redis.current.pause();
    let paused = true;
    try {
      const t = await startServer({
        cluster: {
          redis: redis.current.url,
          nodeId: 'bad-ids',
          keyPrefix: freshPrefix(),
          leaseTtlMs: 1_500,
          commandTimeoutMs: 150,
        },
      });
      const storeEvents: string[] = [];
      t.supervisor.on('store', (event) => void storeEvents.push(event.breaker));
      const s = t.supervisor;
      const calls = (id: unknown): [string, () => unknown][] => [
        ['userStats', () => s.userStats(id as string, { cluster: true })],
        ['sendToUser', () => s.sendToUser(id as string, 'x', { cluster: true })],
        ['disconnectUser', () => s.disconnectUser(id as string, 4000, 'x', { cluster: true })],
      ];
      async function expectState(label: string, good: string): Promise<void> {
        for (const [method, call] of calls('ann'))
          expect(await outcome(call), `${label}: ${method}('ann')`).toBe(good);
        for (const [name, id] of badIds) {
          for (const [method, call] of calls(id)) {
            expect(await outcome(call), `${label}: ${method}(${name})`).toBe('WSSUP_INVALID_ARGUMENT');
          }
        }
      }

      // Before the first lease (Redis has not answered yet).
      expect(s.stats().cluster?.leaseHeld).toBe(false);
      await expectState('before the first lease', 'WSSUP_STORE_UNAVAILABLE');

      // Redis answers: the good id is served, the bad ones still refused, and nothing of
      // theirs reached the breaker (no open, then closed, for bad arguments).
      redis.current.resume();
      paused = false;
      await s.ready({ signal: AbortSignal.timeout(10_000) });
      await vi.waitFor(() => expect(s.stats().cluster?.breaker).toBe('closed'), ioWait);
      await connect(t.url('ann'));
      const eventsBefore = storeEvents.length;
      await expectState('with Redis answering', 'resolved');
      expect(storeEvents.length).toBe(eventsBefore);
      expect(s.stats().cluster?.breaker).toBe('closed');

      // Redis away until the breaker opens.
      await redis.current.pause();
      paused = true;
      await vi.waitFor(() => expect(s.stats().cluster?.breaker).toBe('open'), ioWait);
      await expectState('while Redis is away', 'WSSUP_STORE_UNAVAILABLE');
      redis.current.resume();
      paused = false;
      await vi.waitFor(() => expect(s.stats().cluster?.breaker).toBe('closed'), ioWait);

      // After shutdown(): the lease given back.
      await s.shutdown({ deadlineMs: 200 });
      await expectState('after shutdown()', 'WSSUP_SHUTTING_DOWN');
    } finally {
      if (paused) redis.current.resume();
    }
  });
});

describe.runIf(hasRedis)("docs: authenticate's user id in cluster mode (README, User ids)", () => {
  const redis = usePrivateRedis();

  it('one that is not a string is 500 auth-failed and reported, a string that breaks the rules 400, as on one process; neither is booked', async () => {
    const t = await startServer({
      cluster: { redis: redis.current.url, nodeId: 'app-ids', keyPrefix: freshPrefix() },
      authenticate: (request) => {
        const user = userFromQuery(request);
        if (user === 'object') return { id: 'ann' } as unknown as AuthResult;
        return user === 'empty' ? '' : user;
      },
    });
    await t.supervisor.ready({ signal: AbortSignal.timeout(10_000) });
    const rejected: RejectedEvent[] = [];
    t.supervisor.on('rejected', (event) => void rejected.push(event));

    expect((await httpRefusal(t.url('object'))).status).toBe(500);
    expect((await httpRefusal(t.url('empty'))).status).toBe(400);
    expect(rejected.map((event) => [event.reason, event.status])).toEqual([
      ['auth-failed', 500],
      ['invalid-user-id', 400],
    ]);
    expect(t.errors).toEqual([
      expect.objectContaining({ code: 'WSSUP_APP_HOOK_FAILED', hook: 'authenticate' }),
    ]);
    expect(await t.supervisor.userStats('ann', { cluster: true })).toBeUndefined();
    await t.supervisor.shutdown({ deadlineMs: 200 });
  });
});
