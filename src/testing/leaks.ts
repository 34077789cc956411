import type { Supervisor } from '../supervisor-api.js';

/**
 * What a supervisor still holds that it should not once every connection has ended
 * (after `shutdown()` has resolved, or once each connection's `disposed` has come),
 * one sentence each; `[]` when nothing leaked. It reads `audit()` (every actor against
 * the books) and `stats()` (no connection, user or resource held, and one `disposed`
 * per `admitted`). It covers the supervisor's own state only, not the process's open
 * handles (your test runner's leak detection does that: vitest's `--detectAsyncLeaks`).
 *
 * A list, not an assertion, so that any runner's deep equality shows each problem in
 * its diff: `expect(leaksOf(supervisor)).toEqual([])` (vitest, jest), or
 * `assert.deepStrictEqual(leaksOf(supervisor), [])` (node:test).
 *
 * @param supervisor The supervisor under test (cluster mode: this process's books only).
 * @example
 * await supervisor.shutdown();
 * expect(leaksOf(supervisor)).toEqual([]);
 */
export function leaksOf(supervisor: Pick<Supervisor, 'stats' | 'audit'>): string[] {
  const leaks: string[] = [];
  const stats = supervisor.stats({ cluster: false });
  if (stats.connections !== 0) leaks.push(`stats().connections is ${stats.connections}, not 0`);
  if (stats.users !== 0) leaks.push(`stats().users is ${stats.users}, not 0`);
  const { admitted, disposed } = stats.counters;
  if (disposed !== admitted) leaks.push(`stats().counters: ${admitted} admitted but ${disposed} disposed`);
  for (const [name, held] of Object.entries(stats.resources)) {
    if (held !== 0) leaks.push(`stats().resources.${name} is ${held}, not 0`);
  }
  for (const mismatch of supervisor.audit().mismatches) leaks.push(`audit(): ${mismatch}`);
  return leaks;
}
