/**
 * What must hold at every moment between two steps, checked against the
 * actors themselves (their latest snapshots, from the inspection stream).
 */
import { expect } from 'vitest';
import { expectNoLeaks } from '../helpers/server.js';
import type { ActorView, Rig } from './rig.js';

const topState = (value: unknown) => (typeof value === 'string' ? value : 'active');
const isIdle = (value: unknown) => (value as { active?: { activity?: string } })?.active?.activity === 'idle';

/** Running connection actors of `user` (all users when undefined). */
function runningActors(rig: Rig, user?: string): ActorView[] {
  return rig.admitted
    .filter((event) => user === undefined || event.userId === user)
    .map((event) => rig.actors.get(event.connectionId))
    .filter((actor): actor is ActorView => actor?.status === 'active');
}

/**
 * Each user's book (userStats) equals the states of that user's live
 * connection actors, and the registry (connectionsOf) lists exactly its live
 * ones, by connection id.
 */
export function expectBooksMatchActors(rig: Rig): void {
  for (const user of new Set(rig.admitted.map((event) => event.userId))) {
    const liveIds = rig.admitted
      .filter((event) => event.userId === user)
      .map((event) => event.connectionId)
      .filter((id) => {
        const actor = rig.actors.get(id);
        return actor?.status === 'active' && topState(actor.value) !== 'draining';
      });
    const listed = rig.supervisor.connectionsOf(user).map((connection) => connection.id);
    expect(new Set(listed), `registry of ${user}`).toEqual(new Set(liveIds));
    expect(listed, `registry of ${user}, without duplicates`).toHaveLength(liveIds.length);
    const running = runningActors(rig, user);
    const expected = {
      live: running.filter((actor) => topState(actor.value) !== 'draining').length,
      idle: running.filter((actor) => isIdle(actor.value)).length,
      draining: running.filter((actor) => actor.value === 'draining').length,
    };
    const book = rig.supervisor.userStats(user) ?? { live: 0, idle: 0, draining: 0 };
    expect({ live: book.live, idle: book.idle, draining: book.draining }, `book of ${user}`).toEqual(
      expected,
    );
  }
}

/** stats() counts exactly the running connection actors, by state. */
export function expectStatsMatchActors(rig: Rig): void {
  const running = runningActors(rig);
  const stats = rig.supervisor.stats();
  expect(stats.byState).toEqual({
    connecting: running.filter((actor) => actor.value === 'connecting').length,
    active: running.filter((actor) => topState(actor.value) === 'active').length,
    draining: running.filter((actor) => actor.value === 'draining').length,
  });
  expect(stats.resources.connectionActors).toBe(running.length);
}

/**
 * The per-user rules: no admission takes a user above its limit (a limit lowered by a
 * later admission may leave a user above it: nothing closes for that); no idle
 * connection kept at or above T.
 */
export function expectRulesHold(rig: Rig): void {
  expect(rig.overLimit, 'admissions above the limit').toEqual([]);
  for (const user of new Set(rig.admitted.map((event) => event.userId))) {
    const book = rig.supervisor.userStats(user);
    if (book === undefined) continue;
    if (book.live >= book.evictAt)
      expect(book.idle, `${user} keeps an idle connection at ${book.live} ≥ T`).toBe(0);
  }
}

/**
 * Everything the supervisor held is gone, every admitted connection was
 * disposed, and onError heard nothing but the app's own failures (the rig's
 * onMessage throws on FAILING_MESSAGE). A bug the runtime caught (an action of
 * ours that threw: WSSUP_INTERNAL) changes nothing else a path can see.
 */
export function expectNothingLeft(rig: Rig): void {
  expectNoLeaks(rig.supervisor);
  const unexpected = rig.errors.filter((error) => error.code !== 'WSSUP_APP_HOOK_FAILED');
  expect(
    unexpected.map((error) => `${error.code}: ${error.message}: ${String(error.cause)}`),
    'errors reported to onError',
  ).toEqual([]);
}
