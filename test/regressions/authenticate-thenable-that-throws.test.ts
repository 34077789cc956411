/**
 * An `authenticate` that returns a thenable whose `then` throws (a hand-rolled
 * promise-like of an identity-provider client, say) fails as a throwing
 * `authenticate` does: HTTP 500 `auth-failed`, reported once. Its wait for a
 * verdict began before `then` was called, and the throw skipped the end of
 * that wait: the authenticateTimeoutMs timer stayed pending (in
 * `stats().resources.pendingTimers`) and the request stayed in the list of
 * those waiting, holding its request and socket. At the timeout the same
 * request was refused a second time (`rejected` counted twice, a false
 * timeout reported to onError), and shutdown() would refuse it once more.
 */
import { describe, expect, it } from 'vitest';
import { AppHookError, type AuthResult } from '../../src/index.js';
import { httpRefusal } from '../helpers/refusals.js';
import { startRulesServer } from '../helpers/rules.js';
import { allDisposed, connect, expectNoLeaks, userFromQuery } from '../helpers/server.js';

const authenticateTimeoutMs = 3_000;

/** A promise-like whose `then` throws before it calls back: a thenable on purpose. */
const brokenThenable = {
  // biome-ignore lint/suspicious/noThenProperty: the thenable under test
  then: () => {
    throw new Error('identity provider client bug');
  },
};

describe('an authenticate that returns a thenable whose then throws', () => {
  it('is refused once with 500, reported once, and leaves no timer and nothing waiting', async () => {
    const t = await startRulesServer({
      authenticateTimeoutMs,
      authenticate: (request) => {
        const user = userFromQuery(request);
        return user === 'broken' ? (brokenThenable as unknown as Promise<AuthResult>) : user;
      },
    });

    expect(await httpRefusal(t.url('broken'))).toMatchObject({
      status: 500,
      body: 'authentication failed\n',
    });
    expect(t.events.rejected).toMatchObject([{ reason: 'auth-failed', status: 500 }]);
    expect(t.errors).toHaveLength(1);
    expect(t.errors[0]).toBeInstanceOf(AppHookError);
    expect(t.errors[0]).toMatchObject({ hook: 'authenticate' });
    expect(String((t.errors[0] as AppHookError).cause)).toContain('identity provider client bug');
    // Answered: nothing of the request is left, no timer waits for its verdict.
    expect(t.supervisor.stats().resources.pendingTimers).toBe(0);

    // Past the timeout nothing happens again: no second refusal, no timeout reported.
    t.clock.increment(authenticateTimeoutMs);
    expect(t.events.rejected).toHaveLength(1);
    expect(t.errors).toHaveLength(1);

    // The app's other users are served as ever, and the supervisor holds nothing once they leave.
    const ws = await connect(t.url('ana'));
    expect(t.supervisor.userStats('ana')).toMatchObject({ live: 1 });
    ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
    t.errors.splice(0);
  });
});
