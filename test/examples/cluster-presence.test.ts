/**
 * examples/cluster-presence.ts, as a user runs it: three processes of the built program on one
 * private redis-server, users on the library's client, and a friend (eve, on the process never
 * disturbed) who hears every {"user","status"} notice. What a product manager checks: a user who
 * leaves one of two processes stays online; leaving the last marks them offline, told once; a
 * rolling restart flickers nobody; kill -9, a graceful stop for good, and a pause past the lease
 * each end as they should. Leases, the reaper and Redis's expiries run on real time: kept short
 * (a 600 ms lease, a 1.5 s grace) and bounded by the waits' timeouts, never asserted as speeds.
 * A second test drives createPresence's deadlines with an injected clock on in-process supervisors.
 */
import { once } from 'node:events';
import { createClient as createRedis } from 'redis';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import { createPresence, type PresenceRedis } from '../../examples/cluster-presence.js';
import { createClient } from '../../src/client/index.js';
import { type RunningProgram, runProgram } from '../helpers/process.js';
import {
  findRedisServer,
  type PrivateRedis,
  redisServerHint,
  startRedisServer,
} from '../helpers/redis-server.js';
import { requireExternal } from '../helpers/requirements.js';
import { startServer } from '../helpers/server.js';

const hasRedis = requireExternal('redis-server', findRedisServer() !== undefined, redisServerHint());
const graceMs = 1_500;
const leaseTtlMs = 600;

describe.runIf(hasRedis)('cluster presence example', () => {
  let redis: PrivateRedis;
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(() => redis.stop());

  it('three processes: online and offline told once, no flicker on a restart or a short pause, kill -9 and a stop for good end offline', {
    timeout: 90_000,
  }, async () => {
    const ports: Record<string, number> = {};
    const programs: Record<string, RunningProgram> = {};
    async function start(id: string, lingerMs = 300, more: string[] = []) {
      const program = runProgram('dist/examples/cluster-presence.js', [
        ...['--redis', redis.url, '--node-id', id, '--port', '0'],
        ...['--lease-ttl-ms', String(leaseTtlMs), '--grace-ms', String(graceMs)],
        ...['--linger-ms', String(lingerMs), ...more],
      ]);
      const [, port] = await program.waitFor(/listening on ws:\/\/127\.0\.0\.1:(\d+)/);
      await program.waitFor(/presence: lease held as /);
      ports[id] = Number(port);
      programs[id] = program;
      return program;
    }
    const anyOutput = (pattern: RegExp) =>
      vi.waitFor(() => expect(Object.values(programs).some((p) => pattern.test(p.output()))).toBe(true), {
        timeout: 20_000,
        interval: 50,
      });
    await Promise.all(['a', 'b', 'c'].map((id) => start(id)));

    // A user's client goes to `prefer`, or to c while that one is down (the balancer's part);
    // to a port where nothing listens once the user is gone for good.
    const down = new Set<string>();
    const gone = new Set<string>();
    const clients: ReturnType<typeof createClient>[] = [];
    function user(name: string, prefer: string) {
      const client = createClient({
        url: () =>
          gone.has(name)
            ? 'ws://127.0.0.1:9/'
            : `ws://127.0.0.1:${ports[down.has(prefer) ? 'c' : prefer]}/?user=${name}`,
        WebSocket,
        shutdownWindowMs: 300,
        backoff: { baseMs: 100, capMs: 300 },
      });
      clients.push(client);
      return client;
    }
    const opened = (client: ReturnType<typeof createClient>) =>
      vi.waitFor(() => expect(client.state).toBe('open'), { timeout: 10_000, interval: 20 });
    const heard: string[] = [];
    const eve = user('eve', 'c');
    eve.on('message', ({ data }) => {
      const { user: who, status } = JSON.parse(String(data)) as { user: string; status: string };
      heard.push(`${who} ${status}`);
    });
    await opened(eve);
    const told = (line: string) =>
      vi.waitFor(() => expect(heard).toContain(line), { timeout: 20_000, interval: 50 });

    // ann on a and b. She leaves a: a's offline event finds her booked on b, and tells nobody.
    const annA = user('ann', 'a');
    const annB = user('ann', 'b');
    await Promise.all([opened(annA), opened(annB)]);
    await told('ann online');
    annA.close();
    await anyOutput(/presence: offline here: ann, 1 elsewhere/);
    expect(heard).not.toContain('ann offline');
    // She leaves b, her last: offline (its linger, then the book says 0).
    annB.close();
    await told('ann offline');

    // A rolling restart of a: bob's client comes back to c within its window; a's hand-over
    // makes him due after the grace, when the book counts him on c. No offline, no second online.
    const bob = user('bob', 'a');
    await opened(bob);
    await told('bob online');
    down.add('a');
    programs.a?.child.kill('SIGTERM');
    expect(await programs.a?.exited).toBe(0);
    await start('a');
    down.delete('a');
    await anyOutput(/presence: due: bob online \(1\)/);

    // kill -9 of b with cat, who does not come back: a survivor's reaper names her, the grace
    // runs out, the book still says 0.
    const cat = user('cat', 'b');
    await opened(cat);
    await told('cat online');
    gone.add('cat');
    down.add('b');
    programs.b?.child.kill('SIGKILL');
    await anyOutput(/presence: reaped b: cat/);
    await told('cat offline');

    // A graceful stop of a for good, with dan who never returns: its hand-over, after shutdown().
    const dan = user('dan', 'a');
    await opened(dan);
    await told('dan online');
    gone.add('dan');
    down.add('a');
    programs.a?.child.kill('SIGTERM');
    expect(await programs.a?.exited).toBe(0);
    await told('dan offline');
    await start('a');
    down.delete('a');

    // A paced stop of d for good (half at once, the rest three graces later), d lingering 30 s:
    // kim left less than that ago (no offline told yet, none once shutdown() has begun), jon is
    // closed first and comes back to c, ivy is closed in the second half and never comes back.
    // The hand-over names kim (in the linger: stats({ perUser: true }) would not) and ivy (after
    // shutdown(): a deadline taken before it passes while d still holds her, and nobody asks again).
    await start('d', 30_000, ['--pace-ms', String(3 * graceMs)]);
    const kim = user('kim', 'd');
    await opened(kim);
    await told('kim online');
    gone.add('kim');
    kim.close();
    const jon = user('jon', 'd');
    await opened(jon);
    await told('jon online');
    const ivy = user('ivy', 'd');
    await opened(ivy);
    await told('ivy online');
    gone.add('ivy');
    down.add('d');
    programs.d?.child.kill('SIGTERM');
    expect(await programs.d?.exited).toBe(0);
    await told('kim offline');
    await told('ivy offline');
    await anyOutput(/presence: due: jon online \(1\)/);

    // a paused past its lease with fay: a survivor's reaper names her; a resumes within the grace,
    // books her again (a new incarnation), and the due check finds her. No offline.
    const fay = user('fay', 'a');
    await opened(fay);
    await told('fay online');
    const pausedPid = programs.a?.child.pid as number;
    process.kill(pausedPid, 'SIGSTOP');
    try {
      await anyOutput(/presence: reaped a: fay/);
    } finally {
      process.kill(pausedPid, 'SIGCONT');
    }
    await programs.a?.waitFor(/presence: new incarnation \(lease-lost\)/);
    await anyOutput(/presence: due: fay online/);

    // Paused longer than the grace, with fay and hal: a survivor marks them offline (nobody
    // could reach them). a resumes with their connections still open and books them again, with
    // no admitted event: its incarnation listener marks them online again.
    const hal = user('hal', 'a');
    await opened(hal);
    await told('hal online');
    process.kill(pausedPid, 'SIGSTOP');
    try {
      await told('hal offline');
      await told('fay offline');
    } finally {
      process.kill(pausedPid, 'SIGCONT');
    }
    const twice = (line: string) => heard.filter((heardLine) => heardLine === line).length === 2;
    await vi.waitFor(() => expect(twice('hal online') && twice('fay online')).toBe(true), {
      timeout: 20_000,
      interval: 50,
    });

    // Each change told once, and nothing else: no flicker of ann, bob or fay.
    for (const client of clients) client.close();
    expect(heard.sort()).toEqual(
      [
        'ann online',
        'ann offline',
        'bob online',
        'cat online',
        'cat offline',
        'dan online',
        'dan offline',
        'fay online',
        'fay offline',
        'fay online',
        'hal online',
        'hal offline',
        'hal online',
        'ivy online',
        'ivy offline',
        'jon online',
        'kim online',
        'kim offline',
      ].sort(),
    );
    for (const id of ['a', 'c']) programs[id]?.child.kill('SIGTERM');
    expect(await programs.a?.exited).toBe(0);
    expect(await programs.c?.exited).toBe(0);
  });

  /**
   * In-process supervisors on the private Redis, each with createPresence on a client that
   * counts the due set's reads and may hold an SREM back (`beforeSRem`), eve (a friend of
   * everyone) on the first, and the presence keys emptied. `storeOf` gives a process the
   * supervisor's store on another Redis (the presence keys stay on the private one).
   */
  async function presences(ids: string[], lingerMs = 60_000, storeOf: Record<string, string> = {}) {
    const client = createRedis({ url: redis.url });
    await client.connect();
    onTestFinished(() => client.close());
    await client.del(['presence:online', 'presence:due']);
    const clock = { now: 1_000_000 };
    const nodes = await Promise.all(
      ids.map(async (nodeId) => {
        const t = await startServer({
          lingerMs,
          cluster: { redis: storeOf[nodeId] ?? redis.url, nodeId, leaseTtlMs: 3_000 },
        });
        await t.supervisor.ready({ signal: AbortSignal.timeout(10_000) });
        const logged: string[] = [];
        const reads: { count: number | undefined }[] = [];
        const sAdds = new Map<string, number>();
        const hooks: { beforeSRem?: (userId: string) => Promise<void> } = {};
        const counted: PresenceRedis = {
          sAdd: async (key, member) => {
            const n = await client.sAdd(key, member);
            sAdds.set(member, n);
            return n;
          },
          sRem: async (key, member) => {
            await hooks.beforeSRem?.(member);
            return client.sRem(key, member);
          },
          sMembers: (key) => client.sMembers(key),
          zAdd: (key, members, options) => client.zAdd(key, members, options),
          zRangeByScore: (key, min, max, options) => {
            reads.push({ count: options?.LIMIT.count });
            return client.zRangeByScore(key, min, max, options);
          },
          zRem: (key, member) => client.zRem(key, member),
        };
        const presence = createPresence({
          supervisor: t.supervisor,
          redis: counted,
          graceMs,
          leaseTtlMs: 3_000,
          now: () => clock.now,
          friendsOf: async () => ['eve'],
          log: (line) => logged.push(line),
        });
        onTestFinished(() => presence.stop());
        return { t, presence, logged, reads, sAdds, hooks };
      }),
    );
    const first = nodes[0] as (typeof nodes)[number];
    const eve = new WebSocket(first.t.url('eve'));
    onTestFinished(() => eve.close());
    const heard: string[] = [];
    eve.on('message', (data) => heard.push(String(data)));
    await once(eve, 'open');
    /** What eve has heard by now from `node`: its notices travel over pub/sub, in order. */
    const barrier = async (node: (typeof nodes)[number]) => {
      const mark = `barrier ${heard.length}`;
      await node.t.supervisor.sendToUser('eve', mark, { cluster: true });
      await vi.waitFor(() => expect(heard).toContain(mark));
    };
    const notice = (user: string, status: string) => JSON.stringify({ user, status });
    return { client, clock, nodes, heard, barrier, notice };
  }

  it('createPresence: a user due is asked once, by one process, at the deadline of the injected clock', async () => {
    const { client, clock, nodes, heard, barrier, notice } = await presences(['x', 'y']);
    const [x, y] = nodes as [(typeof nodes)[number], (typeof nodes)[number]];
    const gus = new WebSocket(y.t.url('gus'));
    await once(gus, 'open');
    await vi.waitFor(() => expect(heard).toContain(notice('gus', 'online')));
    gus.close();
    await once(gus, 'close');
    // The reconciliation finds gus online and booked nowhere: due after the grace, not offline now.
    await vi.waitFor(async () =>
      expect((await x.t.supervisor.userStats('gus', { cluster: true }))?.live ?? 0).toBe(0),
    );
    await x.presence.reconcile();
    await Promise.all([x.presence.checkDue(), y.presence.checkDue()]);
    expect(heard).not.toContain(notice('gus', 'offline'));
    clock.now += graceMs;
    // Both processes check at once: one takes it (one asks the book), and eve hears it once.
    await Promise.all([x.presence.checkDue(), y.presence.checkDue()]);
    await barrier(y);
    const asked = [...x.logged, ...y.logged].filter((line) => line.startsWith('due: gus'));
    expect(asked).toEqual(['due: gus offline']);
    expect(heard.filter((line) => line === notice('gus', 'offline'))).toHaveLength(1);
    expect(await client.sMembers('presence:online')).toEqual(['eve']);
  });

  it('createPresence: an offline on one process and a deadline on another tell the friends once', async () => {
    const { clock, nodes, heard, barrier, notice } = await presences(['x', 'y'], 300);
    const [x, y] = nodes as [(typeof nodes)[number], (typeof nodes)[number]];
    const ida = new WebSocket(x.t.url('ida'));
    await once(ida, 'open');
    await vi.waitFor(() => expect(heard).toContain(notice('ida', 'online')));
    // A deadline for ida (a reap, a hand-over), and her offline on x told first.
    await x.presence.handOver();
    ida.close();
    await vi.waitFor(() => expect(heard).toContain(notice('ida', 'offline')), { timeout: 5_000 });
    clock.now += graceMs;
    await y.presence.checkDue();
    expect(y.logged).toContain('due: ida offline'); // y asked the book, and found 0
    await barrier(y);
    expect(heard.filter((line) => line === notice('ida', 'offline'))).toHaveLength(1);
  });

  it('createPresence: a deadline whose ask fails is put back and the pass goes on; the reconciliation does not postpone a deadline', async () => {
    const { client, clock, nodes } = await presences(['x']);
    const [x] = nodes as [(typeof nodes)[number]];
    const bad = 'b'.repeat(129); // longer than a user id may be: the ask of the book rejects
    await client.sAdd('presence:online', 'kai');
    await client.zAdd('presence:due', [
      { score: clock.now - 2, value: bad },
      { score: clock.now - 1, value: 'kai' },
    ]);
    await x.presence.checkDue();
    expect(x.logged).toContain(`due: ${bad} put back (WSSUP_INVALID_ARGUMENT)`);
    expect(await client.zScore('presence:due', bad)).toBe(clock.now);
    expect(x.logged).toContain('due: kai offline');
    expect(await client.sIsMember('presence:online', 'kai')).toBe(0);
    await client.zRem('presence:due', bad);

    // lea is online, booked nowhere, due already: two reconciliations later her deadline is the same.
    await client.sAdd('presence:online', 'lea');
    await client.zAdd('presence:due', [{ score: clock.now + graceMs, value: 'lea' }]);
    const deadline = clock.now + graceMs;
    for (const _ of [1, 2]) {
      clock.now += graceMs / 2;
      await x.presence.reconcile();
    }
    expect(await client.zScore('presence:due', 'lea')).toBe(deadline);
  });

  it("createPresence: an offline whose ask of the book fails (the supervisor's Redis down) puts the user on the due set; the due check marks them offline", {
    timeout: 30_000,
  }, async () => {
    const other = await startRedisServer();
    onTestFinished(() => other.stop());
    const { client, clock, nodes, heard, barrier, notice } = await presences(['x', 'z'], 300, {
      z: other.url,
    });
    const [x, z] = nodes as [(typeof nodes)[number], (typeof nodes)[number]];
    const nia = new WebSocket(z.t.url('nia'));
    await once(nia, 'open');
    // z's own notices go over its own Redis, which eve's process does not share: the store says it.
    await vi.waitFor(() => expect(z.sAdds.get('nia')).toBe(1));
    // z's store goes down (the presence's Redis stays up): nia leaves, z's ask of the book rejects.
    await other.kill();
    nia.close();
    await once(nia, 'close');
    await vi.waitFor(
      async () => expect(await client.zScore('presence:due', 'nia')).toBe(clock.now + graceMs),
      {
        timeout: 10_000,
        interval: 20,
      },
    );
    expect(z.logged.filter((line) => line.startsWith('offline here: nia'))).toEqual([
      'offline here: nia, due (WSSUP_STORE_UNAVAILABLE)',
    ]);
    expect(await client.sIsMember('presence:online', 'nia')).toBe(1);
    // Not before the deadline; at it, x (whose store answers) asks the book and finds 0.
    await x.presence.checkDue();
    expect(x.logged.filter((line) => line.startsWith('due: nia'))).toEqual([]);
    clock.now += graceMs;
    await x.presence.checkDue();
    expect(x.logged).toContain('due: nia offline');
    await barrier(x);
    expect(heard.filter((line) => line === notice('nia', 'offline'))).toHaveLength(1);
    expect(await client.sIsMember('presence:online', 'nia')).toBe(0);
  });

  it('createPresence: the due set is read a page at a time, one pass at a time', async () => {
    const { client, clock, nodes } = await presences(['x']);
    const [x] = nodes as [(typeof nodes)[number]];
    const users = Array.from({ length: 250 }, (_, i) => ({ score: clock.now, value: `p${i}` }));
    await client.zAdd('presence:due', users);
    await Promise.all([x.presence.checkDue(), x.presence.checkDue()]);
    expect(x.reads).toEqual([{ count: 100 }, { count: 100 }, { count: 100 }]);
    expect(await client.zCard('presence:due')).toBe(0);
    expect(x.logged.filter((line) => line.startsWith('due: p'))).toHaveLength(250);
  });

  it("createPresence: a user admitted elsewhere between the book's 0 and the SREM ends online", async () => {
    const { client, clock, nodes, heard, barrier, notice } = await presences(['x', 'y']);
    const [x, y] = nodes as [(typeof nodes)[number], (typeof nodes)[number]];
    await client.sAdd('presence:online', 'lou');
    await client.zAdd('presence:due', [{ score: clock.now, value: 'lou' }]);
    // x has found lou at 0; before its SREM, lou is admitted on y, whose SADD answers 0.
    let lou: WebSocket | undefined;
    x.hooks.beforeSRem = async (userId) => {
      if (userId !== 'lou' || lou !== undefined) return;
      lou = new WebSocket(y.t.url('lou'));
      await vi.waitFor(() => expect(y.sAdds.get('lou')).toBe(0));
    };
    onTestFinished(() => lou?.close());
    await x.presence.checkDue();
    expect(x.logged).toContain('due: lou offline');
    await barrier(x);
    expect(heard.filter((line) => line.includes('"lou"'))).toEqual([
      notice('lou', 'offline'),
      notice('lou', 'online'),
    ]);
    expect(await client.sIsMember('presence:online', 'lou')).toBe(1);
  });

  it('createPresence: own users are marked online again a lease after a new incarnation', async () => {
    const { client, nodes } = await presences(['x']);
    const [x] = nodes as [(typeof nodes)[number]];
    const max = new WebSocket(x.t.url('max'));
    onTestFinished(() => max.close());
    await once(max, 'open');
    await vi.waitFor(() => expect(x.sAdds.get('max')).toBe(1));
    x.sAdds.delete('max');
    // As a pause past the lease leaves it: expired when next renewed, a new incarnation.
    const incarnation = x.t.supervisor.stats().cluster?.incarnation as number;
    await client.zAdd('wssup:{nodes}:leases', [{ score: 0, value: String(incarnation) }], {
      condition: 'XX',
    });
    // The pass at the event finds max still in the store (SADD answers 0).
    await vi.waitFor(() => expect(x.sAdds.get('max')).toBe(0), { timeout: 10_000, interval: 20 });
    // Then a survivor's deadline lands before the re-booking is seen: max shown offline.
    await client.sRem('presence:online', 'max');
    await vi.waitFor(async () => expect(await client.sIsMember('presence:online', 'max')).toBe(1), {
      timeout: 10_000,
      interval: 50,
    });
  });
});
