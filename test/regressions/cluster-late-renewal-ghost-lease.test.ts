/**
 * A renewal that Redis runs after its caller gave up must not take a lease nobody holds.
 * Found by a user trial: Redis SIGSTOPped for ~2.9 s with leases of 3 s, then SIGCONT.
 * The renewal sent meanwhile timed out on the client (commandTimeoutMs) but stayed in the
 * socket; when Redis resumed it ran, found the lease expired and took a new incarnation
 * (INCR, ZADD, HSET) whose reply nobody read. The process's own next renewal took yet
 * another, so `stats({ cluster: true }).global.nodes` listed the process twice (the ghost
 * with a negative `leaseExpiresInMs` until the reaper forgot it), and a graceful stop right
 * after left the ghost's lease behind. The renew script now takes the renewal's deadline
 * (on Redis's clock, as admit's) and, past it, takes no incarnation: it only extends a lease
 * the node still holds, else writes nothing and answers 'late' (which the store, if it still
 * reads it, follows with one more renewal).
 *
 * On a private redis-server, paused (SIGSTOP) past the lease: a store whose renewals the test
 * drives by hand, a supervisor whose lease actor renews on its own, and the script run by hand.
 */
import { describe, expect, it, vi } from 'vitest';
import { renewScript } from '../../src/cluster/redis-scripts.js';
import { STORE_FORMAT } from '../../src/cluster/store-format.js';
import { freshPrefix, hasRedis, startStore, usePrivateRedis } from '../cluster/store-fixture.js';
import type { PrivateRedis } from '../helpers/redis-server.js';
import { ioWait, startServer } from '../helpers/server.js';

/** The incarnations Redis's registry holds for `nodeId` under `prefix`. */
async function registeredTo(redis: PrivateRedis, prefix: string, nodeId: string): Promise<number[]> {
  const flat = (await redis.command('HGETALL', `${prefix}:{nodes}:incarnations`)) as string[];
  const out: number[] = [];
  for (let i = 0; i < flat.length; i += 2) if (flat[i + 1] === nodeId) out.push(Number(flat[i]));
  return out.sort((a, b) => a - b);
}

/** Until Date.now() reaches `at`: Redis's own clock runs on while its process is stopped. */
const untilPast = (at: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())));

/** Holds this process's event loop, as a burst of work does: timers and replies wait. */
function busyFor(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // busy
  }
}

describe.runIf(hasRedis)('a renewal Redis runs after its caller gave up', () => {
  const redis = usePrivateRedis();

  it('takes no incarnation: Redis registers to the node only the incarnations the process took', async () => {
    const keyPrefix = freshPrefix();
    const leaseTtlMs = 900;
    const { store, incarnations } = await startStore(redis.current, {
      keyPrefix,
      nodeId: 'late-renew',
      leaseTtlMs,
      commandTimeoutMs: 300,
    });
    const first = store.incarnation;
    expect(await store.renew()).toBe('renewed');

    // Redis stops; the renewal sent meanwhile times out here but stays in the socket.
    await redis.current.pause();
    const pausedAt = Date.now();
    await expect(store.renew()).rejects.toMatchObject({ code: 'WSSUP_STORE_UNAVAILABLE' });
    // Past the lease on Redis's clock (which runs on while its process is stopped).
    await untilPast(pausedAt + leaseTtlMs + 300);
    redis.current.resume();

    // The process's own next renewal (once the overdue one is answered): lease lost, a new incarnation.
    await vi.waitFor(async () => expect(await store.renew()).toBe('lost'), ioWait);
    const known = [first, ...incarnations.map((change) => change.incarnation)];
    expect(known).toContain(store.incarnation);
    expect(await registeredTo(redis.current, keyPrefix, 'late-renew')).toEqual(
      [...new Set(known)].sort((a, b) => a - b),
    );

    // A graceful stop leaves no live lease behind (the first one, expired, is the reaper's).
    await store.stop();
    const [seconds] = (await redis.current.command('TIME')) as [string];
    expect(
      await redis.current.command('ZRANGEBYSCORE', `${keyPrefix}:{nodes}:leases`, `${seconds}000`, '+inf'),
    ).toEqual([]);
    expect(await registeredTo(redis.current, keyPrefix, 'late-renew')).toEqual([first]);
  });

  it('one answered late while its caller still waits (this process stalled meanwhile) is sent once more, not failed', async () => {
    const keyPrefix = freshPrefix();
    // The client drops a socket silent for 4 command timeouts (2 s): the stall stays below that.
    const leaseTtlMs = 1_500;
    const { store, incarnations } = await startStore(redis.current, {
      keyPrefix,
      nodeId: 'late-read',
      leaseTtlMs,
      commandTimeoutMs: 500,
    });
    const first = store.incarnation;
    expect(await store.renew()).toBe('renewed');
    await redis.current.pause();
    const renewing = store.renew();
    // Written (node-redis writes from a setImmediate) into the stopped server's socket.
    await new Promise((resolve) => setImmediate(resolve));
    // This process stalls past the renewal's deadline and the lease (wall clock), its watchdog
    // not ticking meanwhile: Redis resumes and answers 'late' to a caller that still waits.
    busyFor(leaseTtlMs + 100);
    redis.current.resume();
    busyFor(50);
    // Sent once more: the lease expired, so a new incarnation, the one the process knows.
    expect(await renewing).toBe('lost');
    expect(incarnations.map((change) => change.incarnation)).toEqual([store.incarnation]);
    expect(await registeredTo(redis.current, keyPrefix, 'late-read')).toEqual([first, store.incarnation]);
  });

  it("a supervisor's: after the pause, global.nodes lists the process once, under an incarnation it took", async () => {
    const leaseTtlMs = 1_500;
    const { supervisor } = await startServer({
      idleTimeoutMs: 1_000_000_000,
      cluster: { redis: redis.current.url, nodeId: 'late-sup', leaseTtlMs, commandTimeoutMs: 150 },
    });
    await supervisor.ready({ signal: AbortSignal.timeout(10_000) });
    const first = supervisor.stats().cluster?.incarnation as number;

    // Redis stops past the lease; a renewal (one every 500 ms) goes out meanwhile and times out.
    await redis.current.pause();
    await untilPast(Date.now() + leaseTtlMs + 300);
    redis.current.resume();
    await vi.waitFor(() => {
      expect(supervisor.stats().cluster).toMatchObject({ leaseHeld: true });
      expect(supervisor.stats().cluster?.incarnation).not.toBe(first);
    }, ioWait);
    const current = supervisor.stats().cluster?.incarnation as number;

    const { global } = await supervisor.stats({ cluster: true });
    const mine = global.nodes.filter((node) => node.nodeId === 'late-sup');
    expect(mine.filter((node) => node.leaseExpiresInMs > 0).map((node) => node.incarnation)).toEqual([
      current,
    ]);
    for (const node of mine) expect([first, current]).toContain(node.incarnation);
    for (const incarnation of await registeredTo(redis.current, 'wssup', 'late-sup'))
      expect([first, current]).toContain(incarnation);
  });

  it('the script, past its deadline, takes nothing (no format marker, server key, lease or incarnation) and answers late; it only extends a live lease', async () => {
    const prefix = freshPrefix();
    const keys = ['leases', 'incarnations', 'counter', 'server', 'format'].map(
      (k) => `${prefix}:{nodes}:${k}`,
    );
    const run = (incarnation: number, deadline?: number) =>
      redis.current.command(
        'EVAL',
        renewScript.body,
        String(keys.length),
        ...keys,
        String(incarnation),
        '5000',
        'script-node',
        '',
        '',
        '0',
        String(STORE_FORMAT),
        ...(deadline === undefined ? [] : [String(deadline)]),
      );
    const time = async () => {
      const [s, us] = (await redis.current.command('TIME')) as [string, string];
      return Number(s) * 1000 + Math.floor(Number(us) / 1000);
    };
    const written = async () => (await redis.current.command('KEYS', `${prefix}:*`)) as string[];

    // Late on an empty registry: nothing at all.
    const now = await time();
    const late = (await run(0, now - 1)) as [string, number];
    expect(late[0]).toBe('late');
    expect(late[1]).toBeGreaterThanOrEqual(now);
    expect(await written()).toEqual([]);

    // In time (and with no deadline, as a node of an earlier version passes none): a lease.
    const taken = (await run(0, (await time()) + 60_000)) as [string, number];
    expect(taken[0]).toBe('lost');
    const incarnation = Number(taken[1]);
    expect(((await run(incarnation)) as string[]).slice(0, 2)).toEqual(['renewed', incarnation]);
    expect(((await run(incarnation, 0)) as string[]).slice(0, 2)).toEqual(['renewed', incarnation]);

    // Late with the lease alive: extended (the process holds it, read or not), nothing else written.
    await redis.current.command('DEL', keys[3] as string);
    const expiry = Number(await redis.current.command('ZSCORE', keys[0] as string, String(incarnation)));
    expect(((await run(incarnation, (await time()) - 1)) as string[]).slice(0, 2)).toEqual([
      'renewed',
      incarnation,
    ]);
    expect(
      Number(await redis.current.command('ZSCORE', keys[0] as string, String(incarnation))),
    ).toBeGreaterThanOrEqual(expiry);
    expect(await redis.current.command('EXISTS', keys[3] as string)).toBe(0);

    // Late with the lease expired (the ghost's case): no new incarnation, nothing changed.
    expect(await redis.current.command('ZADD', keys[0] as string, 'XX', '0', String(incarnation))).toBe(0);
    const before = await Promise.all([
      redis.current.command('ZRANGE', keys[0] as string, '0', '-1', 'WITHSCORES'),
      redis.current.command('HGETALL', keys[1] as string),
      redis.current.command('GET', keys[2] as string),
    ]);
    expect(((await run(incarnation, (await time()) - 1)) as string[])[0]).toBe('late');
    expect(
      await Promise.all([
        redis.current.command('ZRANGE', keys[0] as string, '0', '-1', 'WITHSCORES'),
        redis.current.command('HGETALL', keys[1] as string),
        redis.current.command('GET', keys[2] as string),
      ]),
    ).toEqual(before);
  });
});
