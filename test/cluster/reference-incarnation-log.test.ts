/**
 * The reference server logs the `incarnation` event as it logs the `store` event's recovery: a
 * node whose lease ran out (a pause past leaseTtlMs; here expired by hand, as the renewal then
 * finds it) took a new incarnation with nothing in its log. The built program, its own process,
 * on a private redis-server.
 */
import { describe, expect, it, vi } from 'vitest';
import { runProgram } from '../helpers/process.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { afterThisTest } from '../helpers/test-scope.js';
import { hasRedis } from './store-fixture.js';

describe.runIf(hasRedis)('the reference server and a lost lease', () => {
  it('logs the new incarnation on stdout, with the previous one and the cause', async () => {
    const redis = await startRedisServer();
    afterThisTest(() => redis.stop());
    const program = runProgram('dist/examples/reference-server/main.js', [
      '--port',
      '0',
      '--redis',
      redis.url,
      '--node-id',
      'lost',
      '--lease-ttl-ms',
      '3000',
    ]);
    const [, url] = (await program.waitFor(/listening on (ws:\/\/\S+)/)) as RegExpMatchArray;
    const http = (url as string).replace('ws://', 'http://');
    const incarnation = async () =>
      ((await (await fetch(`${http}/stats`)).json()) as { cluster?: { incarnation?: number } }).cluster
        ?.incarnation ?? 0;
    await vi.waitFor(async () => expect(await incarnation()).toBeGreaterThan(0), { timeout: 20_000 });
    const first = await incarnation();
    expect(await redis.command('ZADD', 'wssup:{nodes}:leases', 'XX', '0', String(first))).toBe(0);
    const [line] = (await program.waitFor(
      /^cluster: node lost took incarnation (\d+) \(was (\d+)\): its lease ran out unrenewed.*$/m,
    )) as RegExpMatchArray;
    expect(line).toContain(`(was ${first})`);
    expect(line).toMatch(/booking again the connections it holds$/);
    expect(program.errorOutput()).not.toContain('took incarnation');
    program.child.kill('SIGTERM');
    expect(await program.exited).toBe(0);
  }, 40_000);
});
