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
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { createPresence } from '../../examples/cluster-presence.js';
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
    async function start(id: string) {
      const program = runProgram('dist/examples/cluster-presence.js', [
        ...['--redis', redis.url, '--node-id', id, '--port', '0'],
        ...['--lease-ttl-ms', String(leaseTtlMs), '--linger-ms', '300', '--grace-ms', String(graceMs)],
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
    await Promise.all(['a', 'b', 'c'].map(start));

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
      ].sort(),
    );
    for (const id of ['a', 'c']) programs[id]?.child.kill('SIGTERM');
    expect(await programs.a?.exited).toBe(0);
    expect(await programs.c?.exited).toBe(0);
  });

  it('createPresence: a user due is asked once, by one process, at the deadline of the injected clock', async () => {
    const client = createRedis({ url: redis.url });
    await client.connect();
    await client.del(['presence:online', 'presence:due']);
    let now = 1_000_000;
    const nodes = await Promise.all(
      ['x', 'y'].map(async (nodeId) => {
        // A long linger: no offline event here, only the deadline path.
        const t = await startServer({
          lingerMs: 60_000,
          cluster: { redis: redis.url, nodeId, leaseTtlMs: 3_000 },
        });
        await t.supervisor.ready({ signal: AbortSignal.timeout(10_000) });
        const presence = createPresence({
          supervisor: t.supervisor,
          redis: client,
          graceMs,
          now: () => now,
          friendsOf: async () => ['eve'],
        });
        return { t, presence };
      }),
    );
    const [x, y] = nodes as [(typeof nodes)[number], (typeof nodes)[number]];
    const eve = new WebSocket(x.t.url('eve'));
    const heard: string[] = [];
    eve.on('message', (data) => heard.push(String(data)));
    await once(eve, 'open');
    const gus = new WebSocket(y.t.url('gus'));
    await once(gus, 'open');
    await vi.waitFor(() => expect(heard).toContain('{"user":"gus","status":"online"}'));
    gus.close();
    await once(gus, 'close');
    // The reconciliation finds gus online and booked nowhere: due after the grace, not offline now.
    await vi.waitFor(async () =>
      expect((await x.t.supervisor.userStats('gus', { cluster: true }))?.live ?? 0).toBe(0),
    );
    await x.presence.reconcile();
    await Promise.all([x.presence.checkDue(), y.presence.checkDue()]);
    expect(heard).not.toContain('{"user":"gus","status":"offline"}');
    now += graceMs;
    // Both processes check at once: one takes it, and eve hears it once.
    await Promise.all([x.presence.checkDue(), y.presence.checkDue()]);
    // A barrier: y's notices travel over pub/sub, in order, after any of its own it sent before.
    await y.t.supervisor.sendToUser('eve', 'barrier', { cluster: true });
    await vi.waitFor(() => expect(heard).toContain('barrier'));
    expect(heard.filter((line) => line === '{"user":"gus","status":"offline"}')).toHaveLength(1);
    expect(await client.sMembers('presence:online')).toEqual(['eve']);
    eve.close();
    await client.close();
  });
});
