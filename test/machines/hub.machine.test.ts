/**
 * The hub alone, on simulated time: it is only the runtime's shutdown
 * coordinator now (running → shuttingDown → stopped). The two requests it
 * emits to the runtime are recorded in order: `drainAll` with the code and reason of the
 * SHUTDOWN, then `terminateAll` once the deadline expires. The user
 * supervisors under it are tested in user-supervisor.machine.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { createActor, SimulatedClock } from 'xstate';
import { hubMachine } from '../../machines/index.js';
import { pendingDelays } from '../helpers/fake-transport.js';

function startHub() {
  const clock = new SimulatedClock();
  /** What the hub asked the runtime to do, in order. */
  const log: string[] = [];
  const hub = createActor(hubMachine, { clock });
  hub.on('drainAll', ({ code, reason }) => void log.push(`drainAll ${code} ${reason}`));
  hub.on('terminateAll', () => void log.push('terminateAll'));
  hub.start();
  return {
    hub,
    log,
    advance: (ms: number) => clock.increment(ms),
    pending: () => pendingDelays(clock),
    value: () => hub.getSnapshot().value,
    shutdown: (deadlineMs: number, code = 1001, reason = 'server shutting down') =>
      hub.send({ type: 'SHUTDOWN', deadlineMs, code, reason }),
    allUsersEnded: () => hub.send({ type: 'ALL_USERS_ENDED' }),
  };
}

describe('running', () => {
  it('starts running, with nothing scheduled and nothing asked of the runtime', () => {
    const h = startHub();
    expect(h.value()).toBe('running');
    expect(h.hub.getSnapshot().status).toBe('active');
    expect(h.pending()).toBe(0);
    expect(h.log).toEqual([]);
  });

  it('ignores ALL_USERS_ENDED: users come and go while it runs, and only SHUTDOWN ends it', () => {
    const h = startHub();
    const before = h.hub.getSnapshot();
    h.allUsersEnded();
    expect(h.hub.getSnapshot()).toBe(before); // no transition at all
    expect(h.hub.getSnapshot().status).toBe('active');
    expect(h.log).toEqual([]);
    expect(h.pending()).toBe(0);
    h.shutdown(500); // and it still shuts down
    expect(h.value()).toBe('shuttingDown');
  });
});

describe('SHUTDOWN', () => {
  it.each([
    { deadlineMs: 1, code: 1001, reason: 'server shutting down' },
    { deadlineMs: 500, code: 1012, reason: 'restarting' },
    { deadlineMs: 30_000, code: 4000, reason: '' },
  ])(
    'records the deadline ($deadlineMs ms) and drains every user with code $code',
    ({ deadlineMs, code, reason }) => {
      const h = startHub();
      h.shutdown(deadlineMs, code, reason);
      expect(h.value()).toBe('shuttingDown');
      expect(h.hub.getSnapshot().context).toEqual({ shutdownDeadlineMs: deadlineMs });
      expect(h.log).toEqual([`drainAll ${code} ${reason}`]);
      expect(h.pending()).toBe(1); // the deadline, and nothing else
    },
  );

  it.each([1, 500, 30_000])(
    'terminates whatever is left once, exactly %d ms after SHUTDOWN, and waits for the users to end',
    (deadlineMs) => {
      const h = startHub();
      h.shutdown(deadlineMs);
      h.advance(deadlineMs - 1);
      expect(h.log).toEqual(['drainAll 1001 server shutting down']);
      h.advance(1);
      expect(h.log).toEqual(['drainAll 1001 server shutting down', 'terminateAll']);
      expect(h.pending()).toBe(0); // not re-armed
      // Terminating is asked for; the hub ends only when the runtime reports the last user gone.
      expect(h.value()).toBe('shuttingDown');
      h.advance(deadlineMs * 10);
      expect(h.log.filter((line) => line === 'terminateAll')).toHaveLength(1);
      h.allUsersEnded();
      expect(h.hub.getSnapshot()).toMatchObject({ value: 'stopped', status: 'done' });
      expect(h.log).toEqual(['drainAll 1001 server shutting down', 'terminateAll']);
    },
  );

  it('ALL_USERS_ENDED before the deadline stops it and cancels the deadline', () => {
    const h = startHub();
    h.shutdown(500);
    h.advance(499);
    h.allUsersEnded();
    expect(h.hub.getSnapshot()).toMatchObject({ value: 'stopped', status: 'done' });
    expect(h.pending()).toBe(0);
    h.advance(10_000);
    expect(h.log).toEqual(['drainAll 1001 server shutting down']); // never terminateAll
  });

  it('ALL_USERS_ENDED at once (no user left to drain) stops it with nothing scheduled', () => {
    const h = startHub();
    h.shutdown(500);
    h.allUsersEnded();
    expect(h.hub.getSnapshot().status).toBe('done');
    expect(h.pending()).toBe(0);
  });

  it('a second SHUTDOWN changes nothing: no second drain, and the first deadline holds', () => {
    const h = startHub();
    h.shutdown(500);
    h.advance(400);
    const before = h.hub.getSnapshot();
    h.shutdown(10_000, 1012, 'again');
    expect(h.hub.getSnapshot()).toBe(before);
    expect(h.hub.getSnapshot().context).toEqual({ shutdownDeadlineMs: 500 });
    expect(h.log).toEqual(['drainAll 1001 server shutting down']);
    expect(h.pending()).toBe(1);
    h.advance(99);
    expect(h.log).toEqual(['drainAll 1001 server shutting down']);
    h.advance(1); // 500 ms after the first SHUTDOWN
    expect(h.log).toEqual(['drainAll 1001 server shutting down', 'terminateAll']);
  });

  it('a SHUTDOWN after the deadline fired asks for nothing more', () => {
    const h = startHub();
    h.shutdown(500);
    h.advance(500);
    h.shutdown(500);
    h.advance(500);
    expect(h.log).toEqual(['drainAll 1001 server shutting down', 'terminateAll']);
    expect(h.pending()).toBe(0);
  });

  it('stopping the hub mid-shutdown cancels the deadline', () => {
    const h = startHub();
    h.shutdown(500);
    h.hub.stop();
    expect(h.pending()).toBe(0);
    h.advance(500);
    expect(h.log).toEqual(['drainAll 1001 server shutting down']);
  });
});
