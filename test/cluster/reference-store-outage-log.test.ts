/**
 * The reference server's log through a Redis outage, as a log shipper reads it: the `error …`
 * lines on stderr (they went to stdout, where a shipper that splits by stream filed an outage as
 * normal output), and one line on stdout when the store answers again (the log's last word on
 * the store used to stay `error … The client is offline`). The built program, its own process,
 * on a private redis-server made to stop answering (SIGSTOP).
 */
import { describe, expect, it, vi } from 'vitest';
import { runProgram } from '../helpers/process.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { afterThisTest } from '../helpers/test-scope.js';
import { hasRedis } from './store-fixture.js';

describe.runIf(hasRedis)('the reference server through a Redis outage', () => {
  it('says the outage on stderr, and once on stdout that the store answers again', async () => {
    const redis = await startRedisServer();
    afterThisTest(() => redis.stop());
    // A short lease: its renewals (one a second) are what fail and open the breaker.
    const program = runProgram('dist/examples/reference-server/main.js', [
      '--port',
      '0',
      '--redis',
      redis.url,
      '--node-id',
      'outage',
      '--lease-ttl-ms',
      '3000',
      '--command-timeout-ms',
      '150',
    ]);
    const [, url] = (await program.waitFor(/listening on (ws:\/\/\S+)/)) as RegExpMatchArray;
    const http = (url as string).replace('ws://', 'http://');
    const ready = async () => (await fetch(`${http}/readyz`)).status;
    await vi.waitFor(async () => expect(await ready()).toBe(200), { timeout: 20_000 });

    await redis.pause();
    afterThisTest(() => redis.resume());
    await program.waitFor(/^error WSSUP_STORE_UNAVAILABLE: .*$/m);
    // The breaker opens after three failed renewals; it closes once one succeeds.
    const stats = async () =>
      (await (await fetch(`${http}/stats`)).json()) as { cluster?: { breaker?: string } };
    await vi.waitFor(async () => expect((await stats()).cluster?.breaker).toBe('open'), { timeout: 20_000 });
    expect(program.output()).not.toMatch(/store available again/);

    redis.resume();
    await program.waitFor(/^store available again: Redis answers$/m);
    await vi.waitFor(async () => expect((await stats()).cluster?.breaker).toBe('closed'), {
      timeout: 20_000,
    });
    program.child.kill('SIGTERM');
    expect(await program.exited).toBe(0);
    expect(program.output().match(/store available again/g)).toHaveLength(1);
    // Every error line on stderr; the lifecycle lines (and the recovery) on stdout.
    const errorLines = program
      .output()
      .split('\n')
      .filter((line) => line.startsWith('error'));
    expect(errorLines.length).toBeGreaterThan(0);
    for (const line of errorLines) expect(program.errorOutput()).toContain(line);
    expect(program.errorOutput()).not.toMatch(/listening on|store available again|drained; bye/);
  }, 60_000);
});
