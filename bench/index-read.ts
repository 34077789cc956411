/**
 * What reading a dead node's index costs the other clients of Redis: one
 * SMEMBERS of a 100,000-user set against an SSCAN loop (the store's
 * scanSet), on a private redis-server, while another client PINGs in a loop.
 * Prints, per round and per way of reading: the wall time of the read, the
 * longest PING seen meanwhile, and Redis's own time per call (INFO
 * commandstats). The figures are in docs/cluster-store.md ("Reading an index
 * in pages").
 *
 *   npm run build && node dist/bench/index-read.js [--users 100000] [--rounds 3]
 */
import { createClient } from 'redis';
import { parseCommandLine, readCommandLine } from '../examples/reference-server/command-line.js';
import { SET_PAGE } from '../src/cluster/redis-scan.js';
import { startPrivateRedis } from './private-redis.js';

const commandLine = readCommandLine(
  'Usage: node dist/bench/index-read.js [--users 100000] [--rounds 3]',
  () =>
    parseCommandLine({
      options: {
        users: { type: 'string' },
        rounds: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }),
);
const users = commandLine.number('users', 100_000);
const rounds = commandLine.number('rounds', 3);

const redis = await startPrivateRedis();
const reader = createClient({ url: redis.url });
const prober = createClient({ url: redis.url });
try {
  await reader.connect();
  await prober.connect();
  const key = 'bench:{i:1}:users';
  for (let at = 0; at < users; at += 10_000) {
    const ids = Array.from({ length: Math.min(10_000, users - at) }, (_, i) => `user${at + i}`);
    await reader.sendCommand(['SADD', key, ...ids]);
  }

  /** Runs `read` while the prober PINGs back to back; the longest PING is what another client waited. */
  const probed = async (read: () => Promise<number>) => {
    let longest = 0;
    let running = true;
    const probing = (async () => {
      while (running) {
        const sent = performance.now();
        await prober.ping();
        longest = Math.max(longest, performance.now() - sent);
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 20));
    longest = 0;
    const started = performance.now();
    const read_ = await read();
    const wallMs = performance.now() - started;
    running = false;
    await probing;
    return { members: read_, wallMs: round(wallMs), longestPingMs: round(longest) };
  };
  const perCall = async (command: string) => {
    const info = String(await reader.sendCommand(['INFO', 'commandstats']));
    const match = new RegExp(`cmdstat_${command}:calls=(\\d+),usec=(\\d+)`).exec(info);
    return match === null
      ? undefined
      : { calls: Number(match[1]), msPerCall: round(Number(match[2]) / Number(match[1]) / 1_000) };
  };

  for (let r = 0; r < rounds; r++) {
    await reader.sendCommand(['CONFIG', 'RESETSTAT']);
    const smembers = await probed(
      async () => ((await reader.sendCommand(['SMEMBERS', key])) as string[]).length,
    );
    const smembersRedis = await perCall('smembers');
    await reader.sendCommand(['CONFIG', 'RESETSTAT']);
    const sscan = await probed(async () => {
      let cursor = '0';
      let read = 0;
      do {
        const [next, page] = (await reader.sendCommand([
          'SSCAN',
          key,
          cursor,
          'COUNT',
          String(SET_PAGE),
        ])) as [string, string[]];
        cursor = next;
        read += page.length;
      } while (cursor !== '0');
      return read;
    });
    const sscanRedis = await perCall('sscan');
    console.log(
      JSON.stringify({
        round: r + 1,
        smembers: { ...smembers, redis: smembersRedis },
        [`sscan COUNT ${SET_PAGE}`]: { ...sscan, redis: sscanRedis },
      }),
    );
  }
} finally {
  await reader.quit().catch(() => {});
  await prober.quit().catch(() => {});
  redis.stop();
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
