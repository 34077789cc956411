/**
 * A release sent after a re-admission of the same connection is applied after it, also when
 * Redis has lost the re-admission's script (a restart, SCRIPT FLUSH) but not the release's:
 * the re-admission's EVALSHA is answered NOSCRIPT and sent again as EVAL, after the release
 * already ran. Booked then, the closed connection's slot stayed in the user's book for as
 * long as its node lived. Found by the cluster-mode soak (test/soak/cluster-soak.test.ts):
 * connections that closed while their node re-admitted them after a restart of Redis.
 */
import { describe, expect, it } from 'vitest';
import { createKeyLayout } from '../../src/cluster/redis-keys.js';
import { releaseScript } from '../../src/cluster/redis-scripts.js';
import { freshPrefix, hasRedis, startStore, usePrivateRedis } from './store-fixture.js';

describe.runIf(hasRedis)('Redis slot store: a release after a re-admission whose script Redis lost', () => {
  const redis = usePrivateRedis();

  it('frees the slot: the re-admission does not book it after its release', async () => {
    const keyPrefix = freshPrefix();
    const keys = createKeyLayout(keyPrefix);
    const { store } = await startStore(redis.current, { keyPrefix, nodeId: 'n1' });
    await store.admit('ann', 'a1', 5, 4);
    // Redis forgot every script, and has run a release since (another connection's).
    await redis.current.command('SCRIPT', 'FLUSH');
    await redis.current.command('SCRIPT', 'LOAD', releaseScript.body);

    // The re-admission goes out first, then a1's release (a1 closed while it was on its way).
    const readmitted = store.readmit(
      [{ userId: 'ann', connectionId: 'a1', admittedAt: Date.now(), idleSince: undefined }],
      5,
    );
    const released = store.release('ann', 'a1');
    await Promise.all([readmitted, released]);

    expect(await redis.current.command('HGETALL', keys.user('ann'))).toEqual([]);
  });
});
