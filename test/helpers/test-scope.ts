/**
 * Cleanups that find their own test when tests run concurrently (`it.concurrent`).
 *
 * vitest's imported `onTestFinished` registers on "the current test", one global that
 * concurrent tests overwrite at each other's awaits: a helper called after an await could hang
 * its cleanup (a SIGKILL, a check of the output) on another test. The test context's own
 * `onTestFinished` has no such problem, so a concurrent test runs its body in `scoped(...)`, and
 * the helpers register through `afterThisTest`, which uses that context when there is one and
 * the global hook otherwise (every test that is not concurrent: the same as before).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { onTestFinished, type TestContext } from 'vitest';

const current = new AsyncLocalStorage<TestContext>();

/** A test body whose helpers' cleanups go to this test, also among concurrent ones. */
export function scoped(
  body: (context: TestContext) => Promise<void>,
): (context: TestContext) => Promise<void> {
  return (context) => current.run(context, () => body(context));
}

/** `onTestFinished` for helpers: on the test whose body called it (see `scoped`). */
export function afterThisTest(cleanup: Parameters<typeof onTestFinished>[0]): void {
  const context = current.getStore();
  if (context !== undefined) context.onTestFinished(cleanup);
  else onTestFinished(cleanup);
}

/** `scoped` for `it.for(cases)`, whose body gets its case first, then the test context. */
export function scopedCase<Case>(
  body: (testCase: Case, context: TestContext) => Promise<void>,
): (testCase: Case, context: TestContext) => Promise<void> {
  return (testCase, context) => current.run(context, () => body(testCase, context));
}
