/**
 * The reference server's --command-timeout-ms, --key-prefix and --reaper-interval-ms take
 * effect on running servers in cluster mode, each test on a private redis-server: the
 * environment variable gives the same, and the flag wins over it.
 */
import { describe, expect, vi } from 'vitest';
import type { SupervisorStats } from '../../src/index.js';
import { type RunningProgram, runProgram } from '../helpers/process.js';
import { startRedisProxy } from '../helpers/redis-proxy.js';
import type { PrivateRedis } from '../helpers/redis-server.js';
import { afterThisTest } from '../helpers/test-scope.js';
import { type Attempt, attempt, type Node, onOwnRedis } from './cluster-nodes.js';
import { hasRedis } from './store-fixture.js';

interface Started extends Node {
  program: RunningProgram;
}

/** A reference server on `redisUrl` (the default lease, 15 s), once it holds its lease. */
async function start(
  redisUrl: string,
  nodeId: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<Started> {
  const program = runProgram(
    'dist/examples/reference-server/main.js',
    ['--port', '0', '--redis', redisUrl, '--node-id', nodeId, ...args],
    env,
  );
  const [, url] = (await program.waitFor(/listening on (ws:\/\/\S+)/)) as RegExpMatchArray;
  const http = (url as string).replace('ws://', 'http://');
  const stats = async () => (await (await fetch(`${http}/stats`)).json()) as SupervisorStats;
  await vi.waitFor(async () => expect((await stats()).cluster?.leaseHeld).toBe(true), { timeout: 20_000 });
  return { program, nodeId, url: url as string, stats };
}

const opened = (result: Attempt) => (result.opened ? 'opened' : result.status);

describe.runIf(hasRedis)('the reference server in cluster mode', () => {
  onOwnRedis(
    '--command-timeout-ms: a Redis slower than it fails the admission (503 with reject), one within it admits',
    async (redis: PrivateRedis) => {
      const proxy = await startRedisProxy(redis.port);
      afterThisTest(() => proxy.delayReplies(0));
      const reject = ['--store-unavailable', 'reject'];
      // One after the other: four processes starting at once on a busy machine could miss the
      // 150 ms deadline of their first lease.
      const short = await start(proxy.url, 'short', [...reject, '--command-timeout-ms', '150']);
      const long = await start(proxy.url, 'long', [...reject, '--command-timeout-ms', '3000']);
      const fromEnv = await start(proxy.url, 'from-env', reject, { WSSUP_COMMAND_TIMEOUT_MS: '150' });
      const both = await start(proxy.url, 'both', [...reject, '--command-timeout-ms', '3000'], {
        WSSUP_COMMAND_TIMEOUT_MS: '150',
      });
      await short.program.waitFor(/command timeout 150 ms/);
      // Every reply of Redis 600 ms late: past 150 ms, within 3000 ms (and past the default 500).
      proxy.delayReplies(600);
      expect(opened(await attempt(long, 'lea'))).toBe('opened');
      expect(opened(await attempt(both, 'lea'))).toBe('opened');
      expect(opened(await attempt(short, 'lea'))).toBe(503);
      expect(opened(await attempt(fromEnv, 'lea'))).toBe(503);
      for (const node of [short, fromEnv]) {
        await node.program.waitFor(/^error WSSUP_STORE_UNAVAILABLE: .*no answer within 150 ms/m);
      }
      expect(long.program.output()).not.toMatch(/WSSUP_STORE_UNAVAILABLE/);
    },
    // Not beside the other test: its deadline of 150 ms is the point, and load would miss it.
    { timeout: 60_000, concurrent: false },
  );

  onOwnRedis(
    '--key-prefix: the book is kept under the prefix given (WSSUP_KEY_PREFIX, the flag winning)',
    async (redis: PrivateRedis) => {
      const keys = async (prefix: string) => (await redis.command('KEYS', `${prefix}:*`)) as string[];
      const flagged = await start(redis.url, 'flagged', ['--key-prefix', 'app-a']);
      const fromEnv = await start(redis.url, 'env', [], { WSSUP_KEY_PREFIX: 'app-b' });
      const both = await start(redis.url, 'both', ['--key-prefix', 'app-c'], { WSSUP_KEY_PREFIX: 'app-d' });
      // --reaper-interval-ms only changes when dead nodes' slots go: the cluster line says what is in force.
      const reaper = await start(redis.url, 'reaper', [
        '--key-prefix',
        'app-e',
        '--reaper-interval-ms',
        '700',
      ]);
      const reaperEnv = await start(redis.url, 'reaper-env', ['--key-prefix', 'app-f'], {
        WSSUP_REAPER_INTERVAL_MS: '800',
      });
      const reaperBoth = await start(
        redis.url,
        'reaper-both',
        ['--key-prefix', 'app-g', '--reaper-interval-ms', '900'],
        {
          WSSUP_REAPER_INTERVAL_MS: '800',
        },
      );
      for (const [node, ms] of [
        [flagged, 15_000],
        [reaper, 700],
        [reaperEnv, 800],
        [reaperBoth, 900],
      ] as const) {
        expect(node.program.output()).toMatch(new RegExp(`, reaper every ${ms} ms, `));
      }
      for (const node of [flagged, fromEnv, both]) expect(opened(await attempt(node, 'max'))).toBe('opened');
      for (const prefix of ['app-a', 'app-b', 'app-c']) {
        expect(await keys(prefix), prefix).toContain(`${prefix}:{u:max}:slots`);
      }
      expect(await keys('app-d')).toEqual([]);
      expect(await keys('wssup')).toEqual([]);
      expect(both.program.output()).toMatch(/key prefix app-c, /);
    },
    { timeout: 60_000 },
  );
});
