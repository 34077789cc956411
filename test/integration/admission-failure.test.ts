/**
 * An admission that the machines never decided: a bug path. Reached here by
 * an `inspect` observer that throws when the connection's actor is created,
 * which fails the user's supervisor inside the ADMIT step, before it says
 * admitted or refused. The client gets what every internal failure at
 * admission gets (HTTP 500, close 4500 with `refuse: 'close'`, reason
 * `internal-error`, no retry hint), and onError gets WSSUP_INTERNAL; not a
 * 503 that says the server is shutting down and to come back.
 */
import { describe, expect, it, vi } from 'vitest';
import type { InspectionEvent } from 'xstate';
import { SupervisorError } from '../../src/index.js';
import { closeRefusal, httpRefusal } from '../helpers/refusals.js';
import { startRulesServer } from '../helpers/rules.js';
import { allDisposed, expectNoLeaks, ioWait } from '../helpers/server.js';

/** Throws when a connection actor is created for `user`'s upgrade, once armed. */
function failingInspector(): { inspect: (event: InspectionEvent) => void; arm: () => void } {
  let armed = false;
  return {
    arm: () => {
      armed = true;
    },
    inspect: (event) => {
      const logic = (event.actorRef as { logic?: { id?: string } }).logic;
      if (armed && event.type === '@xstate.actor' && logic?.id === 'connection') {
        armed = false;
        throw new Error('inspector bug');
      }
    },
  };
}

describe('an admission the machines did not decide', () => {
  it('is refused with HTTP 500 internal-error and reported as WSSUP_INTERNAL', async () => {
    const errors: unknown[] = [];
    const { inspect, arm } = failingInspector();
    const t = await startRulesServer({ inspect, onError: (error) => errors.push(error) });
    arm();
    const answer = await httpRefusal(t.url('kim'));
    expect(answer).toMatchObject({ status: 500, body: 'internal error\n' });
    expect(answer.headers['retry-after']).toBeUndefined();
    expect(t.events.rejected).toMatchObject([
      { reason: 'internal-error', status: 500, userId: 'kim', via: 'http' },
    ]);
    expect(errors).toContainEqual(
      expect.objectContaining({
        code: 'WSSUP_INTERNAL',
        message: expect.stringMatching(/^no admission decision/),
      }),
    );
    expect(errors.every((error) => error instanceof SupervisorError && error.code === 'WSSUP_INTERNAL')).toBe(
      true,
    );
    // Nothing of it is left, and the next connection is admitted as ever.
    expectNoLeaks(t.supervisor);
    const { ws } = await t.open('kim');
    ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });

  it("with refuse: 'close', gets close 4500 and no retry hint", async () => {
    const { inspect, arm } = failingInspector();
    const t = await startRulesServer({ inspect, refuse: 'close', onError: () => {} });
    arm();
    expect(await closeRefusal(t.url('kim'))).toEqual({
      code: 4500,
      reason: 'internal error',
      retryAfter: undefined,
    });
    expect(t.events.rejected).toMatchObject([{ reason: 'internal-error', status: 500, via: 'close' }]);
    await vi.waitFor(() => expect(t.supervisor.stats().resources.closeRefusals).toBe(0), ioWait);
    expectNoLeaks(t.supervisor);
  });
});
