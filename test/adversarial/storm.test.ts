/**
 * A storm on one user: 200 upgrade attempts at once against a limit of 5.
 * The books are read inside every `admitted` event, the moment a slot is
 * taken: at no moment may the user hold more than 5 live connections, every
 * refusal is an HTTP 429, and once the clients are gone nothing is left.
 */
import { describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import type { Supervisor } from '../../src/index.js';
import { type Attempt, attempt, expectLeakFree, startTarget } from '../helpers/adversary.js';
import { limit } from '../helpers/rules.js';

const attempts = 200;
/** Fewer: each admitted one also runs a whole close handshake. */
const churners = 50;

/**
 * The highest live count of `user` seen at its admissions: inside each
 * `admitted` event, and once that admission's step is over (a microtask
 * later: inside the event the books do not count the newcomer yet, see the
 * last test).
 */
function watchPeak(supervisor: Supervisor, user: string) {
  const peak = { atEvent: 0, afterStep: 0, admissions: 0 };
  supervisor.on('admitted', (event) => {
    if (event.userId !== user) return;
    peak.admissions += 1;
    peak.atEvent = Math.max(peak.atEvent, supervisor.userStats(user)?.live ?? 0);
    queueMicrotask(() => {
      peak.afterStep = Math.max(peak.afterStep, supervisor.userStats(user)?.live ?? 0);
    });
  });
  return peak;
}

function tally(outcomes: Attempt[]) {
  const opened: WebSocket[] = [];
  const statuses = new Map<number, number>();
  const errors: string[] = [];
  for (const outcome of outcomes) {
    if ('opened' in outcome) opened.push(outcome.opened);
    else if ('status' in outcome) statuses.set(outcome.status, (statuses.get(outcome.status) ?? 0) + 1);
    else errors.push(outcome.error);
  }
  return { opened, statuses: Object.fromEntries(statuses), errors };
}

describe(`${attempts} concurrent upgrades for one user at limit ${limit}`, () => {
  it(`clients that stay: exactly ${limit} admitted, never more live, ${attempts - limit} refused with 429`, async () => {
    const t = await startTarget();
    const peak = watchPeak(t.supervisor, 'storm');

    const { opened, statuses, errors } = tally(
      await Promise.all(Array.from({ length: attempts }, () => attempt(t.url('storm')))),
    );

    expect({ opened: opened.length, statuses, errors }).toEqual({
      opened: limit,
      statuses: { 429: attempts - limit },
      errors: [],
    });
    expect(peak.admissions).toBe(limit);
    expect(peak.atEvent).toBeLessThanOrEqual(limit);
    expect(peak.afterStep).toBe(limit);
    expect(t.events.rejected.every((event) => event.reason === 'user-limit' && event.status === 429)).toBe(
      true,
    );
    expect(t.supervisor.stats().counters).toEqual({
      admitted: limit,
      rejected: attempts - limit,
      evicted: 0,
      disposed: 0,
    });

    for (const ws of opened) ws.close();
    await expectLeakFree(t.supervisor);
    expect(t.errors).toEqual([]);
  });

  it(`${churners} clients that leave as soon as they are in: never more than 5 live, every refusal a 429`, async () => {
    const t = await startTarget();
    const peak = watchPeak(t.supervisor, 'churn');

    const { opened, statuses, errors } = tally(
      await Promise.all(
        Array.from({ length: churners }, () =>
          attempt(t.url('churn')).then((outcome) => {
            if ('opened' in outcome) outcome.opened.close();
            return outcome;
          }),
        ),
      ),
    );

    expect(errors).toEqual([]);
    expect(Object.keys(statuses).filter((status) => status !== '429')).toEqual([]);
    expect(opened.length + (statuses[429] ?? 0)).toBe(churners);
    expect(opened.length).toBeGreaterThanOrEqual(limit);
    expect(peak.atEvent).toBeLessThanOrEqual(limit);
    expect(peak.afterStep).toBeLessThanOrEqual(limit);
    expect(peak.admissions).toBe(opened.length);
    await expectLeakFree(t.supervisor);
    expect(t.supervisor.stats().counters).toMatchObject({
      admitted: opened.length,
      rejected: churners - opened.length,
      evicted: 0,
    });
    expect(t.errors).toEqual([]);
  });

  // The design rule "listeners see the books as they are after the event". Once, an
  // `admitted` listener saw them before: the newcomer was not counted yet.
  it('an admitted listener already sees the newcomer in the books', async () => {
    const t = await startTarget();
    const seen: unknown[] = [];
    t.supervisor.on('admitted', (event) => {
      seen.push({
        live: t.supervisor.userStats(event.userId)?.live,
        connections: t.supervisor.stats().connections,
      });
    });
    const outcomes = [await attempt(t.url('first')), await attempt(t.url('first'))];
    expect(seen).toEqual([
      { live: 1, connections: 1 },
      { live: 2, connections: 2 },
    ]);
    for (const outcome of outcomes) if ('opened' in outcome) outcome.opened.close();
    await expectLeakFree(t.supervisor);
  });
});
