/**
 * The reference server logs the `reaped` event as it logs `incarnation`: a survivor's reaper
 * freed a killed process's slots with nothing in its log (only stats().cluster.slotsReaped moved).
 * Two built programs, each its own process, on a private redis-server; one killed with -9.
 */
import { describe, expect, it } from 'vitest';
import { attempt, startNode } from './cluster-nodes.js';
import { hasRedis, usePrivateRedis } from './store-fixture.js';

describe.runIf(hasRedis)('the reference server and a process that died', () => {
  const redis = usePrivateRedis();

  it('the survivor logs the reaped slots on stdout, with the dead node and how many users are gone', async () => {
    const dead = await startNode(redis.current, 'gone');
    const survivor = await startNode(redis.current, 'kept', ['--reaper-interval-ms', '200']);
    // ava and bo only on the process that dies; cy on both (still connected to the survivor).
    for (const user of ['ava', 'bo', 'cy']) expect(await attempt(dead, user)).toMatchObject({ opened: true });
    expect(await attempt(survivor, 'cy')).toMatchObject({ opened: true });
    const incarnation = (await dead.stats()).cluster?.incarnation as number;

    dead.program.child.kill('SIGKILL');
    await dead.program.exited;
    const [line] = (await survivor.program.waitFor(/^cluster: reaped .*$/m)) as RegExpMatchArray;
    expect(line).toBe(
      `cluster: reaped 3 slots of node gone (incarnation ${incarnation}), which died; ` +
        '2 of its users have no connection left on any process',
    );
    expect(survivor.program.errorOutput()).not.toContain('reaped');
  }, 40_000);
});
