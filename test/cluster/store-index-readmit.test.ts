/**
 * A connection released while a re-admission that holds it is on its way (the lease was
 * lost or fenced, the runtime books again what it holds, and meanwhile a socket closes).
 * The runtime sends that release after the re-admission, so Redis applies it after (the
 * book ends empty); the node's own list of booked users must end without it too. Listed
 * again by the late re-admission, the connection stayed "held" for as long as the
 * incarnation lived: its user was never swept out of the reaper's index, and the node's
 * heap kept the entry. Found by the cluster-mode soak (test/soak/cluster-soak.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { createKeyLayout } from '../../src/cluster/redis-keys.js';
import { freshPrefix, hasRedis, startStore, usePrivateRedis } from './store-fixture.js';

describe.runIf(hasRedis)('Redis slot store: a release during a re-admission', () => {
  const redis = usePrivateRedis();

  it('leaves the user out of the reaper index after the next renewal, as any release does', async () => {
    const keyPrefix = freshPrefix();
    const keys = createKeyLayout(keyPrefix);
    const { store } = await startStore(redis.current, { keyPrefix, nodeId: 'n1' });
    const index = keys.incarnationUsers(store.incarnation);
    await store.admit('ann', 'a1', 5, 4);
    await store.admit('bob', 'b1', 5, 4);

    // The re-admission reads what the node holds; a1 closes before its answer comes back.
    const readmitted = store.readmit(
      [
        { userId: 'ann', connectionId: 'a1', admittedAt: Date.now(), idleSince: undefined },
        { userId: 'bob', connectionId: 'b1', admittedAt: Date.now(), idleSince: undefined },
      ],
      5,
    );
    await store.release('ann', 'a1');
    expect(await readmitted).toEqual([]);
    expect(await redis.current.command('HLEN', keys.user('ann'))).toBe(0);

    // The renewal sweeps the users with nothing left here: ann goes, bob (still held) stays.
    expect(await store.renew()).toBe('renewed');
    expect(await redis.current.command('SMEMBERS', index)).toEqual(['bob']);

    await store.release('bob', 'b1');
    expect(await store.renew()).toBe('renewed');
    expect(await redis.current.command('EXISTS', index)).toBe(0);
  });
});
