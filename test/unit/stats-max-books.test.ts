/**
 * stats({ cluster: true, maxBooks }): the bound on the cluster-wide read, checked as stats()'s
 * other options are. An integer of at least 1, and only with `cluster: true` (the local stats
 * read no book from the store, so a bound there would be silently meaningless). The plain form
 * throws, the cluster form rejects, both with WSSUP_INVALID_ARGUMENT and a message that says
 * what to write. (Its effect on a real Redis: test/cluster/dashboard-cluster-card-cost.test.ts.)
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createSupervisor, type Supervisor, SupervisorError } from '../../src/index.js';

const supervisors: Supervisor[] = [];
function supervisor(): Supervisor {
  const made = createSupervisor({ preset: 'test', authenticate: () => 'user' });
  supervisors.push(made);
  return made;
}
afterEach(async () => {
  await Promise.all(supervisors.splice(0).map((made) => made.shutdown()));
});

/** What `call` threw or rejected with, checked to be a WSSUP_INVALID_ARGUMENT. */
async function refusal(call: () => unknown): Promise<string> {
  let error: unknown;
  try {
    await call();
  } catch (thrown) {
    error = thrown;
  }
  expect(error).toBeInstanceOf(SupervisorError);
  expect((error as SupervisorError).code).toBe('WSSUP_INVALID_ARGUMENT');
  return (error as Error).message;
}

describe('stats() maxBooks', () => {
  const stats = (options: unknown) => (supervisor().stats as (options: unknown) => unknown)(options);

  it.each([
    ['0', 0, 'got 0'],
    ['a negative number', -5, 'got -5'],
    ['a fraction', 2.5, 'got 2.5'],
    ['NaN', Number.NaN, 'got NaN'],
    ['Infinity', Number.POSITIVE_INFINITY, 'got Infinity'],
    ['a string', '1000', 'got "1000"'],
  ])('%s with cluster: true: rejects, naming what it must be', async (_name, maxBooks, got) => {
    const result = stats({ cluster: true, maxBooks });
    // The cluster form returns a promise also for bad options: the caller's .catch() sees it.
    expect(result).toBeInstanceOf(Promise);
    const message = await refusal(() => result);
    expect(message).toContain('maxBooks must be an integer of at least 1');
    expect(message).toContain(got);
  });

  it.each([
    ['alone', { maxBooks: 1000 }],
    ['with cluster: false', { cluster: false, maxBooks: 1000 }],
    ['with perUser', { perUser: true, maxBooks: 1000 }],
  ])('%s (no cluster: true): throws, saying it needs cluster: true', async (_name, options) => {
    expect(await refusal(() => stats(options))).toContain(
      'maxBooks bounds the cluster-wide read, so it needs cluster: true',
    );
  });

  it('a good one outside cluster mode is refused for the cluster option, as stats({ cluster: true }) is', async () => {
    const message = await refusal(() => supervisor().stats({ cluster: true, maxBooks: 1000 }));
    expect(message).not.toContain('maxBooks');
  });

  it('undefined is no bound, and a misspelt key is still an unknown key', async () => {
    expect(supervisor().stats({ maxBooks: undefined })).toMatchObject({ connections: 0 });
    expect(await refusal(() => stats({ cluster: true, maxbooks: 10 }))).toContain(
      'unknown key maxbooks, expected one of perUser, cluster, maxBooks',
    );
  });

  it("userStats() takes no maxBooks: one user's book is one read", async () => {
    const userStats = supervisor().userStats as (userId: string, options: unknown) => unknown;
    expect(await refusal(() => userStats('ann', { cluster: true, maxBooks: 10 }))).toContain(
      'unknown key maxBooks',
    );
  });
});
