/**
 * The unhandled rejections of this test: what Node 20 would end the process for by default.
 * Recorded from the call until the test ends.
 */
import { onTestFinished } from 'vitest';

export function recordUnhandledRejections(): unknown[] {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  onTestFinished(() => {
    process.off('unhandledRejection', onUnhandled);
  });
  return unhandled;
}
