/**
 * An app's `inspect` observer that throws never reaches the actors. XState
 * calls its inspection observers with no try/catch: before, a throw on the
 * ADMIT event escaped the supervisor's send() and the upgrade was reset with
 * no answer; on a connection's `@xstate.snapshot` it failed the user's
 * supervisor after it had admitted, and the opened socket was left to no
 * actor (counted disposed, its listeners still on, invisible to audit()); on
 * a connection's `@xstate.microstep` it failed the connection (1006). Now the
 * throw is reported as AppHookError (WSSUP_APP_HOOK_FAILED, hook `inspect`)
 * and the connection lives and ends as if nothing was watching.
 */
import { once } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import type { InspectionEvent } from 'xstate';
import { AppHookError, Refusal, type SupervisorError } from '../../src/index.js';
import { closeRefusal } from '../helpers/refusals.js';
import { startRulesServer } from '../helpers/rules.js';
import { allDisposed, closed, connect, expectNoLeaks, ioWait, userFromQuery } from '../helpers/server.js';

/** Throws once, on the first inspection event that `matches` after arm(). */
function throwingOn(matches: (event: InspectionEvent) => boolean) {
  let armed = false;
  let thrown = 0;
  return {
    arm: () => {
      armed = true;
    },
    thrown: () => thrown,
    inspect: (event: InspectionEvent) => {
      if (armed && matches(event)) {
        armed = false;
        thrown += 1;
        throw new Error('inspector bug');
      }
    },
  };
}

const logicId = (event: InspectionEvent) => (event.actorRef as { logic?: { id?: string } }).logic?.id;
const onEvent = (type: string) => (event: InspectionEvent) =>
  event.type === '@xstate.event' && event.event.type === type;
const ofConnection = (type: string) => (event: InspectionEvent) =>
  event.type === type && logicId(event) === 'connection';

const cases: Array<[string, (event: InspectionEvent) => boolean]> = [
  ['the ADMIT event itself', onEvent('ADMIT')],
  ["a connection's @xstate.snapshot", ofConnection('@xstate.snapshot')],
  ["a connection's @xstate.microstep", ofConnection('@xstate.microstep')],
  ["a connection actor's creation", ofConnection('@xstate.actor')],
  ['SOCKET_OPENED', onEvent('SOCKET_OPENED')],
];

describe('an inspect observer that throws', () => {
  it.each(cases)(
    'on %s is reported as WSSUP_APP_HOOK_FAILED; the connection lives and ends cleanly',
    async (_, matches) => {
      const errors: SupervisorError[] = [];
      const failing = throwingOn(matches);
      const t = await startRulesServer({ inspect: failing.inspect, onError: (error) => errors.push(error) });
      failing.arm();
      const ws = await connect(t.url('kim'));
      expect(failing.thrown()).toBe(1);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toBeInstanceOf(AppHookError);
      expect(errors[0]).toMatchObject({
        code: 'WSSUP_APP_HOOK_FAILED',
        hook: 'inspect',
        cause: { message: 'inspector bug' },
      });
      expect(t.supervisor.stats().connections).toBe(1);
      expect(t.supervisor.audit().mismatches).toEqual([]);
      // Its actor hears its socket: the echo comes back, and a close disposes it.
      const echo = once(ws, 'message');
      ws.send('ping');
      expect(String((await echo)[0])).toBe('ping');
      const end = closed(ws);
      ws.close(1000);
      expect((await end).code).toBe(1000);
      await allDisposed(t.supervisor);
      expect(t.events.disposed).toMatchObject([{ userId: 'kim', reason: 'closed', closeCode: 1000 }]);
      expectNoLeaks(t.supervisor);
    },
  );

  it.each([['@xstate.snapshot'], ['@xstate.microstep']])(
    "on a close refusal's %s is reported; the refusal is answered and let go",
    async (type) => {
      const errors: SupervisorError[] = [];
      const failing = throwingOn((event) => event.type === type && logicId(event) === 'refusal');
      const t = await startRulesServer({
        refuse: 'close',
        authenticate: (request) =>
          userFromQuery(request) === 'banned' ? new Refusal(403, 'banned') : userFromQuery(request),
        inspect: failing.inspect,
        onError: (error) => errors.push(error),
      });
      failing.arm();
      expect(await closeRefusal(t.url('banned'))).toMatchObject({
        code: 4403,
        reason: 'banned refusal=refused',
      });
      expect(failing.thrown()).toBe(1);
      expect(errors).toMatchObject([{ code: 'WSSUP_APP_HOOK_FAILED', hook: 'inspect' }]);
      await vi.waitFor(() => expect(t.supervisor.stats().resources.closeRefusals).toBe(0), ioWait);
      expectNoLeaks(t.supervisor);
    },
  );

  // An async observer rejects instead of throwing; left unhandled, that ended the process.
  it('that is async and rejects is reported the same way; the connection lives and ends cleanly', async () => {
    const errors: SupervisorError[] = [];
    let armed = true;
    const t = await startRulesServer({
      inspect: async (event) => {
        if (armed && onEvent('ADMIT')(event)) {
          armed = false;
          throw new Error('inspector bug');
        }
      },
      onError: (error) => errors.push(error),
    });
    const ws = await connect(t.url('kim'));
    await vi.waitFor(() => expect(errors).toHaveLength(1), ioWait);
    expect(errors[0]).toBeInstanceOf(AppHookError);
    expect(errors[0]).toMatchObject({ hook: 'inspect', cause: { message: 'inspector bug' } });
    const end = closed(ws);
    ws.close(1000);
    expect((await end).code).toBe(1000);
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it('as an observer object, has its next called with the observer as this', async () => {
    const seen: string[] = [];
    const observer = {
      prefix: 'seen:',
      next(this: { prefix: string }, event: InspectionEvent) {
        seen.push(this.prefix + event.type);
      },
    };
    const t = await startRulesServer({ inspect: observer });
    const ws = await connect(t.url('kim'));
    ws.close();
    await allDisposed(t.supervisor);
    expect(seen).toContain('seen:@xstate.actor');
    expectNoLeaks(t.supervisor);
  });
});
