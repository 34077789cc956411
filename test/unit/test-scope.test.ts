/**
 * test/helpers/test-scope.ts: among concurrent tests, a helper's cleanup registered after an
 * await goes to the test that registered it (vitest's imported onTestFinished would hang it on
 * whichever concurrent test was set up last). The concurrent cluster and command-line tests rely
 * on it: a node's SIGKILL must come when its own test ends, not another's.
 */
import { describe, expect, it } from 'vitest';
import { afterThisTest, scoped, scopedCase } from '../helpers/test-scope.js';

function deferred() {
  let resolve = () => {};
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

describe('afterThisTest among concurrent tests', { concurrent: true }, () => {
  const secondStarted = deferred();
  const firstCleanedUp = deferred();
  const cases = { started: deferred(), cleanedUp: deferred() };

  it.concurrent(
    'a cleanup registered after the other test started runs when its own test ends',
    scoped(async () => {
      await secondStarted.promise;
      afterThisTest(() => firstCleanedUp.resolve());
    }),
  );
  // Ends only once the first test's cleanup ran: were that cleanup on this test, it would time out.
  it.concurrent(
    'the other test does not hold that cleanup',
    scoped(async () => {
      secondStarted.resolve();
      await firstCleanedUp.promise;
    }),
    5_000,
  );

  it.for(['registers', 'waits'])(
    'it.for with scopedCase: %s',
    { timeout: 5_000 },
    scopedCase(async (role) => {
      if (role === 'registers') {
        await cases.started.promise;
        afterThisTest(() => cases.cleanedUp.resolve());
      } else {
        cases.started.resolve();
        await cases.cleanedUp.promise;
        expect(role).toBe('waits');
      }
    }),
  );
});
