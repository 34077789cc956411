/**
 * A renewal answered slowly measures Redis's clock badly: its reply may have
 * waited in this process (a busy event loop, as around a failover, when the
 * node fences and books again what it holds), so the offset it reads may be
 * behind by up to half the round trip, and the admission's deadline, set
 * earlier by that error too, came before the caller gave up by up to a whole
 * round trip. Every admission Redis ran a little late was then answered
 * 'late' (WSSUP_STORE_UNAVAILABLE) until the next renewal, enough of them to
 * open the breaker (503 for a second). The reading of a quicker renewal of
 * the same server is kept instead (aged by a clock drift it may have had since).
 */
import { describe, expect, it } from 'vitest';
import { freshPrefix, hasRedis, startStore, usePrivateRedis } from './store-fixture.js';

/** Holds this process's event loop, as a burst of work does: a reply that arrives meanwhile waits. */
function busyFor(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // busy
  }
}

describe.runIf(hasRedis)('the clock reading of a slow renewal', () => {
  const redis = usePrivateRedis();

  it('does not make the admissions that follow late: a quicker reading of the same server is kept', async () => {
    const { store } = await startStore(redis.current, {
      keyPrefix: freshPrefix(),
      commandTimeoutMs: 1_000,
      leaseTtlMs: 60_000,
    });
    expect(await store.renew()).toBe('renewed');
    // Redis answers at once; the reply waits 700 ms in this process before it is read.
    const renewing = store.renew();
    // Written (node-redis writes from a setImmediate), not read yet: the reply waits.
    await new Promise((resolve) => setImmediate(resolve));
    busyFor(700);
    expect(await renewing).toBe('renewed');
    // Redis runs the next admission 400 ms after it was sent: well inside its 1 s deadline.
    expect(await redis.current.command('CLIENT', 'PAUSE', '400', 'WRITE')).toBe('OK');
    expect(await store.admit('ann', 'a1', 5, 4)).toMatchObject({ admitted: true, live: 1 });
  });
});
