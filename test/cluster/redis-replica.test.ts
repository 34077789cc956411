/**
 * The private replica the chaos run fails over to (test/helpers/redis-replica.ts):
 * what the primary acknowledged while the replication link was dropped is
 * missing from the promoted replica; what came before is there.
 */
import { describe, expect, it } from 'vitest';
import { replicationOffset, startReplica } from '../helpers/redis-replica.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { hasRedis } from './store-fixture.js';

describe.runIf(hasRedis)('private replica', () => {
  it('promoted after its link was dropped and the primary killed, it lacks the last writes', async () => {
    const primary = await startRedisServer();
    const replica = await startReplica(primary);
    try {
      await primary.command('SET', 'before', '1');
      await replica.synced();
      expect(await replica.redis.command('GET', 'before')).toBe('1');

      replica.link.drop();
      expect(await primary.command('SET', 'during', '1')).toBe('OK'); // acknowledged
      const primaryOffset = await replicationOffset(primary);
      await primary.stop(); // kill -9
      await replica.promote();

      expect(await replica.redis.command('GET', 'before')).toBe('1');
      expect(await replica.redis.command('GET', 'during')).toBeNull();
      expect(await replicationOffset(replica.redis)).toBeLessThan(primaryOffset);
      expect(await replica.redis.command('SET', 'after', '1')).toBe('OK'); // writable now
    } finally {
      await primary.stop();
      await replica.redis.stop();
    }
  });
});
