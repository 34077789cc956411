/**
 * Fixtures that take seconds to make, mostly waiting rather than working (a private Redis
 * Cluster forming through its gossip, a replica's first sync), made ahead: while one test runs,
 * the fixtures of the next ones are being made (up to `ahead` at once). Each is still used by
 * one test only, and fresh: nothing but `make` touched it before its test took it.
 *
 * `plan` lists what each test of the file takes, in the order the tests run. A test that takes
 * something else than what was made for it (a test run alone with `-t`, the tests reordered)
 * gets a fixture made then: only slower. Call it at the top level of a file or describe block:
 * the first ones are begun in its `beforeAll` (not awaited: a file's other tests run
 * meanwhile), and its `afterAll` stops what was made and never taken.
 */
import { afterAll, beforeAll, onTestFinished } from 'vitest';

export interface FormedAheadOptions<Kind, Fixture> {
  /** What each test takes, in the order the tests run. */
  readonly plan: readonly Kind[];
  /** Makes one fixture; stops what it started if it fails half-way. */
  make(kind: Kind): Promise<Fixture>;
  stop(fixture: Fixture): Promise<void>;
  /** How many are made at once ahead of the test that runs (2). */
  readonly ahead?: number;
}

/**
 * Returns `take(kind)`: the fixture made for this test (or one made now), stopped after the
 * test, also when the test ends before the fixture is ready.
 */
export function formedAhead<Kind, Fixture>(
  options: FormedAheadOptions<Kind, Fixture>,
): (kind: Kind) => Promise<Fixture> {
  const { plan, make, stop } = options;
  const ahead = options.ahead ?? 2;
  const making: Array<{ kind: Kind; fixture: Promise<Fixture> }> = [];
  let planned = 0;
  const stopOnceMade = (fixture: Promise<Fixture>): Promise<void> => fixture.then(stop, () => {});
  const makeAhead = () => {
    while (making.length < ahead && planned < plan.length) {
      const kind = plan[planned++] as Kind;
      const fixture = make(kind);
      fixture.catch(() => {}); // awaited by the test that takes it, which reports the failure
      making.push({ kind, fixture });
    }
  };
  beforeAll(() => {
    makeAhead();
  });
  afterAll(async () => {
    await Promise.all(making.splice(0).map(({ fixture }) => stopOnceMade(fixture)));
  });
  return async (kind) => {
    const next = making.shift();
    makeAhead();
    if (next !== undefined && next.kind !== kind) void stopOnceMade(next.fixture);
    const fixture = next?.kind === kind ? next.fixture : make(kind);
    onTestFinished(() => stopOnceMade(fixture));
    return fixture;
  };
}
