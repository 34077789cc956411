/**
 * Evictions and closes print nothing: XState's development build (the one vitest, and so a
 * user's own test suite, loads) warns "Custom actions should not call sendTo() directly" when an
 * action creator is called inside a running action, and a child's step runs inside its
 * supervisor's when the supervisor evicts it. The transport's report of a drain (rooms released,
 * then CHILD_DRAINING to the supervisor) once built its sendParent there (review of the rooms
 * change: 7 warnings in supersede.test.ts, 11 in drain-cap.test.ts).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startRulesServer, stopReading } from '../helpers/rules.js';
import { allDisposed, connect, expectNoLeaks } from '../helpers/server.js';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('no XState development warning', () => {
  it('on a supersede, an app close() of another connection inside onMessage, and a peer close frame', async () => {
    const warn = vi.spyOn(console, 'warn');
    const t = await startRulesServer({
      onOpen: (connection) => {
        connection.join('room');
      },
      // An active connection's message closes the user's other connections, from inside a step.
      onMessage: (connection) => {
        for (const other of t.handles)
          if (other !== connection && other.userId === connection.userId) other.close();
      },
    });
    const instance = 'instance-bbbbbbbbbbbbbbbb';
    const first = await connect(`${t.url('ann')}&wssup-instance=${instance}.1`);
    stopReading(first);
    const second = await connect(`${t.url('ann')}&wssup-instance=${instance}.2`); // supersedes the first
    await vi.waitFor(() => expect(t.events.evicted.map((event) => event.cause)).toEqual(['superseded']));
    const third = await connect(t.url('ann'));
    const closedByApp = new Promise((resolve) => third.once('close', resolve));
    second.send('kick the others');
    await closedByApp;
    second.close(); // a peer close frame
    t.clock.increment(60_000); // the first's drain ends
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
    expect(warn.mock.calls.map((call) => String(call[0]))).toEqual([]);
  });
});
