/**
 * The dashboard's activity log keeps the newest `capacity` entries in a ring
 * (O(1) per event; it used Array#shift, O(capacity)). The events come from
 * the supervisor's own SupervisorEvents, as a supervisor emits them.
 */
import { describe, expect, it } from 'vitest';
import { createActivityLog, type LogNotice } from '../../src/dashboard/activity.js';
import { SupervisorEvents } from '../../src/events.js';
import type { Supervisor } from '../../src/supervisor.js';

function logOf(capacity: number) {
  const events = new SupervisorEvents(() => {});
  const supervisor = { on: events.on.bind(events) } as unknown as Supervisor;
  let at = 1_000;
  const log = createActivityLog(supervisor, capacity, () => at++);
  const admit = (userId: string) =>
    events.emit('admitted', { userId, connectionId: `c-${userId}`, correlationId: undefined });
  return { events, log, admit };
}

const users = (log: ReturnType<typeof logOf>['log']) => log.recent().map((entry) => entry.userId);

describe('the activity log', () => {
  it('lists entries oldest first while it is not full', () => {
    const { log, admit } = logOf(4);
    expect(log.recent()).toEqual([]);
    admit('a');
    admit('b');
    expect(log.recent()).toEqual([
      { seq: 1, at: 1_000, kind: 'admitted', userId: 'a', connectionId: 'c-a' },
      { seq: 2, at: 1_001, kind: 'admitted', userId: 'b', connectionId: 'c-b' },
    ]);
  });

  it('keeps the newest `capacity` entries, oldest first, across many wrap-arounds', () => {
    const { log, admit } = logOf(3);
    admit('a');
    admit('b');
    admit('c');
    expect(users(log)).toEqual(['a', 'b', 'c']); // exactly full
    admit('d');
    expect(users(log)).toEqual(['b', 'c', 'd']);
    admit('e');
    admit('f');
    expect(users(log)).toEqual(['d', 'e', 'f']); // wrapped to the start again
    for (let i = 0; i < 100; i++) {
      admit(`u${i}`);
      const seqs = log.recent().map((entry) => entry.seq);
      expect(seqs).toEqual([i + 5, i + 6, i + 7]);
    }
    expect(users(log)).toEqual(['u97', 'u98', 'u99']);
  });

  it('with a capacity of 1 holds only the latest entry', () => {
    const { log, admit } = logOf(1);
    admit('a');
    admit('b');
    expect(log.recent()).toMatchObject([{ seq: 2, userId: 'b' }]);
  });

  it('returns a copy: a caller changing it does not change the log', () => {
    const { log, admit } = logOf(2);
    admit('a');
    admit('b');
    admit('c');
    const copy = log.recent();
    copy.reverse().push(copy[0] as never);
    expect(users(log)).toEqual(['b', 'c']);
  });

  it('notifies each activity, in order, and close() removes its subscriptions', () => {
    const { events, log, admit } = logOf(2);
    const heard: LogNotice[] = [];
    log.subscribe((notice) => heard.push(notice));
    admit('a');
    events.emit('rejected', { reason: 'user-limit', status: 429, userId: 'a' } as never);
    expect(heard.map((notice) => (notice.type === 'activity' ? notice.activity.kind : notice.type))).toEqual([
      'admitted',
      'rejected',
    ]);
    // admitted, rejected, evicted, capacity, store, incarnation, and disposed (a change only).
    expect(events.listenerCount()).toBe(7);
    log.close();
    expect(events.listenerCount()).toBe(0);
    expect(log.subscribers()).toBe(0);
  });
});
