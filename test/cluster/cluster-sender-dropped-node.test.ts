/**
 * What the cluster sender does when node-redis drops the connection a command
 * was in flight on (DisconnectsClientError: a re-read layout no longer lists
 * that node as a master): it sends the command once more, to the key's master
 * in the new layout, except SPUBLISH (src/cluster/redis-senders.ts). The whole
 * case on a real Redis Cluster: store-redis-cluster-failover.test.ts ("an
 * admission in flight on the demoted master"). Here, the rule for each command,
 * on a client that answers as scripted (node-redis's own error class).
 */
import { DisconnectsClientError } from 'redis';
import { describe, expect, it } from 'vitest';
import { ofCluster } from '../../src/cluster/redis-senders.js';
import type { RedisClusterLike } from '../../src/cluster/redis-shapes.js';

/** A cluster client whose sendCommand answers from `answers` in turn (an Error rejects), recording each call. */
function scripted(...answers: unknown[]): { cluster: RedisClusterLike; sent: string[][] } {
  const sent: string[][] = [];
  const cluster: RedisClusterLike = {
    sendCommand: (_key, _readonly, args) => {
      sent.push(args);
      const answer = answers.shift();
      return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
    },
    masters: [],
    nodeClient: () => Promise.reject(new Error('not used')),
    duplicate: () => {
      throw new Error('not used');
    },
  };
  return { cluster, sent };
}

const evalsha = ['EVALSHA', 'abc', '1', 'p:{u:ann}:slots', 'a4'];

describe('the cluster sender, when node-redis drops the node a command was in flight on', () => {
  it('sends a script once more and answers with its second reply', async () => {
    const { cluster, sent } = scripted(new DisconnectsClientError(), 'admitted');
    expect(await ofCluster(cluster).send([...evalsha])).toBe('admitted');
    expect(sent).toEqual([evalsha, evalsha]);
  });

  it('sends it once more only: a second drop fails the command', async () => {
    const { cluster, sent } = scripted(new DisconnectsClientError(), new DisconnectsClientError(), 'never');
    await expect(ofCluster(cluster).send([...evalsha])).rejects.toThrow('Disconnects client');
    expect(sent).toHaveLength(2);
  });

  it('does not send SPUBLISH again (a message delivered twice is worse than one lost)', async () => {
    const { cluster, sent } = scripted(new DisconnectsClientError(), 1);
    await expect(ofCluster(cluster).send(['SPUBLISH', 'p:{n:b}:orders', '{}'])).rejects.toThrow(
      'Disconnects client',
    );
    expect(sent).toHaveLength(1);
  });

  it('does not send again after any other failure', async () => {
    const { cluster, sent } = scripted(new Error('Socket closed unexpectedly'), 'never');
    await expect(ofCluster(cluster).send([...evalsha])).rejects.toThrow('Socket closed unexpectedly');
    expect(sent).toHaveLength(1);
  });
});
