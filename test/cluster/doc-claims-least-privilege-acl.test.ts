/**
 * The README, "Running several processes", "Under a least-privilege Redis ACL": the
 * `ACL SETUSER` line it gives (read from the README itself, its `wssup` patterns turned into
 * this test's own `keyPrefix`) is all the store needs, and a permission missing is an outage
 * the process recovers from, not a crash or a hang.
 *
 * On a private redis-server, with a user created by exactly that line: three supervisors on
 * real sockets share one user's limit (test preset: limit 5, T = 4), an idle connection on
 * one is evicted (4001) by an admission on another, the one past the limit is refused (429),
 * a node that crashed (its store booked a user and never renewed nor released) is reaped
 * after its lease, Redis loses its script cache meanwhile (the EVAL fallback), the
 * cluster-wide reads and a cluster-wide send answer, and each shutdown gives its slots and
 * lease back: and Redis denied nothing (`ACL LOG` empty), no key outside the prefix is left.
 */
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import { SimulatedClock } from 'xstate';
import { connectRedis } from '../../src/cluster/redis-client.js';
import { type Script, scripts } from '../../src/cluster/redis-scripts.js';
import { createRedisSlotStore } from '../../src/cluster/redis-store.js';
import { readPage } from '../helpers/docs.js';
import { type ClusterMaster, startRedisCluster } from '../helpers/redis-cluster.js';
import type { PrivateRedis } from '../helpers/redis-server.js';
import { httpRefusal } from '../helpers/refusals.js';
import { closed, connect, ioWait, nextMessage, startServer } from '../helpers/server.js';
import { formedAhead } from './formed-ahead.js';
import { hasRedis, usePrivateRedis } from './store-fixture.js';

const readme = readPage('docs/cluster.md');
const keyPrefix = 'acme:ws';
const password = 'acl s3cret';

/** The README's `ACL SETUSER` line, as the words after `ACL SETUSER`, for `keyPrefix`. */
function readmeAcl(): { user: string; rules: string[] } {
  const lines = readme.split('\n').filter((line) => line.startsWith('ACL SETUSER '));
  expect(lines, 'the README gives one ACL SETUSER line').toHaveLength(1);
  const [, , user, ...rules] = (lines[0] as string).split(' ') as [string, string, string, ...string[]];
  // The README's prefix is the default one; an operator writes their own, as here.
  expect(rules).toContain('~wssup:*');
  expect(rules).toContain('&wssup:*');
  const own = rules.map((rule) =>
    rule === '~wssup:*' ? `~${keyPrefix}:*` : rule === '&wssup:*' ? `&${keyPrefix}:*` : rule,
  );
  // This test's own password (the README's is a placeholder), given where the README gives its.
  return { user, rules: own.map((rule) => (rule.startsWith('>') ? `>${password}` : rule)) };
}

/** Creates the README's user with `change` applied to its rules; returns the URL to reach Redis as it. */
async function createUser(redis: PrivateRedis, change: (rules: string[]) => string[] = (rules) => rules) {
  const { user, rules } = readmeAcl();
  expect(await redis.command('ACL', 'SETUSER', user, ...change(rules))).toBe('OK');
  onTestFinished(async () => {
    await redis.command('ACL', 'DELUSER', user);
  });
  expect(await redis.command('ACL', 'LOG', 'RESET')).toBe('OK');
  return { user, url: `redis://${user}:${encodeURIComponent(password)}@127.0.0.1:${redis.port}` };
}

/** What Redis denied since the last `ACL LOG RESET`: `<reason> <context> <object>` each. */
async function denied(redis: PrivateRedis): Promise<string[]> {
  const log = (await redis.command('ACL', 'LOG')) as string[][];
  return log.map((entry) => {
    const field = (name: string) => entry[entry.indexOf(name) + 1];
    return `${field('reason')} ${field('context')} ${field('object')}`;
  });
}

/** The user's book in Redis: connection id → node id (read as `default`, not as the app's user). */
async function bookOf(redis: PrivateRedis, user: string): Promise<Record<string, string>> {
  const flat = (await redis.command('HGETALL', `${keyPrefix}:{u:${user}}:slots`)) as string[];
  const book: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2)
    book[flat[i] as string] = (flat[i + 1] as string).split('|')[3] as string;
  return book;
}

const nodesOf = (book: Record<string, string>) => Object.values(book).sort();

async function leases(redis: PrivateRedis): Promise<string[]> {
  return (await redis.command('ZRANGE', `${keyPrefix}:{nodes}:leases`, '0', '-1')) as string[];
}

describe.runIf(hasRedis)("docs: the store under the README's least-privilege ACL", () => {
  const redis = usePrivateRedis();

  it('three nodes, an eviction across them, a refusal, a crashed node reaped, a lost script cache, cluster-wide reads and sends, shutdowns: Redis denies nothing', async () => {
    const r = redis.current;
    const { user, url } = await createUser(r);
    const cluster = (nodeId: string, leaseTtlMs: number) => ({
      redis: url,
      nodeId,
      keyPrefix,
      leaseTtlMs,
      commandTimeoutMs: 300,
    });
    // A turns idle when the test says (its clock is simulated; its lease outlives the test).
    const clock = new SimulatedClock();
    const a = await startServer({
      clock,
      idleTimeoutMs: 800,
      heartbeatIntervalMs: 1_000_000_000,
      cluster: cluster('acl-a', 60_000),
    });
    // B and C on the real clock, with short leases: their reapers run every 1.5 s.
    const b = await startServer({ idleTimeoutMs: 1_000_000_000, cluster: cluster('acl-b', 1_500) });
    const c = await startServer({ idleTimeoutMs: 1_000_000_000, cluster: cluster('acl-c', 1_500) });
    for (const t of [a, b, c]) await t.supervisor.ready({ signal: AbortSignal.timeout(10_000) });
    expect(await r.command('CLIENT', 'LIST')).toMatch(new RegExp(`user=${user}\\b`));

    // Redis lost its script cache (a restart, a failover): each script runs once with EVAL.
    await r.command('CONFIG', 'RESETSTAT');
    expect(await r.command('SCRIPT', 'FLUSH')).toBe('OK');

    // ann's oldest connection, on A, turns idle; B's and C's admissions reach T = 4: it goes.
    const quiet = await connect(a.url('ann'));
    const quietClosed = closed(quiet);
    clock.increment(900);
    await vi.waitFor(async () => {
      expect(a.supervisor.userStats('ann')).toMatchObject({ live: 1, idle: 1 });
      // Its idle edge is booked: the entry's idleSince is set.
      const [entry] = (await r.command('HVALS', `${keyPrefix}:{u:ann}:slots`)) as string[];
      expect(entry?.split('|')[2]).toMatch(/^\d+$/);
    }, ioWait);
    const onB = [await connect(b.url('ann')), await connect(b.url('ann'))];
    const onC = [await connect(c.url('ann'))];
    expect(await quietClosed).toEqual({ code: 4001, reason: 'evicted: idle' });
    await vi.waitFor(
      async () => expect(nodesOf(await bookOf(r, 'ann'))).toEqual(['acl-b', 'acl-b', 'acl-c']),
      ioWait,
    );
    expect(String(await r.command('INFO', 'commandstats'))).toMatch(/^cmdstat_eval:calls=[1-9]/m);

    // Up to the limit across the nodes, then refused on any of them.
    onB.push(await connect(b.url('ann')));
    onC.push(await connect(c.url('ann')));
    for (const t of [a, b, c]) expect((await httpRefusal(t.url('ann'))).status).toBe(429);
    expect(await c.supervisor.userStats('ann', { cluster: true })).toEqual({
      userId: 'ann',
      live: 5,
      idle: 0,
      byNode: { 'acl-b': 3, 'acl-c': 2 },
    });
    const { global } = await a.supervisor.stats({ cluster: true });
    expect(global).toMatchObject({ users: 1, connections: 5 });
    expect(global.nodes.map((node) => node.nodeId).sort()).toEqual(['acl-a', 'acl-b', 'acl-c']);

    // A cluster-wide send from A reaches B's and C's clients over the sharded channels.
    const messages = [...onB, ...onC].map((ws) => nextMessage(ws));
    expect(await a.supervisor.sendToUser('ann', 'to all', { cluster: true })).toEqual({
      delivered: 0,
      nodes: 2,
      unreached: 0,
    });
    expect(await Promise.all(messages)).toEqual(Array(5).fill('to all'));

    // A node crashes with bob at the limit: its store booked him and then never renewed nor
    // released (the runtime drives renewals; here nobody does). Refused while its lease lives;
    // once it has expired, B's or C's reaper removes its entries and forgets its lease.
    const crashed = createRedisSlotStore({
      redis: url,
      nodeId: 'acl-crashed',
      keyPrefix,
      leaseTtlMs: 3_000,
      commandTimeoutMs: 300,
    });
    onTestFinished(() => crashed.stop());
    await crashed.start({ evictionOrdered: () => {}, incarnationChanged: () => {} });
    for (let i = 0; i < 5; i++)
      expect(await crashed.admit('bob', `bob-${i}`, 5, 4)).toMatchObject({ admitted: true });
    expect((await httpRefusal(b.url('bob'))).status).toBe(429);
    await vi.waitFor(async () => {
      expect(await bookOf(r, 'bob')).toEqual({});
      expect(await leases(r)).not.toContain(String(crashed.incarnation));
    }, ioWait);
    const bob = await connect(b.url('bob'));
    expect(bob.readyState).toBe(WebSocket.OPEN);

    // Each shutdown gives its slots and its lease back.
    await b.supervisor.shutdown();
    expect(nodesOf(await bookOf(r, 'ann'))).toEqual(['acl-c', 'acl-c']);
    expect(await bookOf(r, 'bob')).toEqual({});
    await c.supervisor.shutdown();
    await a.supervisor.shutdown();
    await crashed.stop();
    expect(await bookOf(r, 'ann')).toEqual({});
    expect(await leases(r)).toEqual([]);
    const keys = (await r.command('KEYS', '*')) as string[];
    // The format marker (GET and SET, under ~<prefix>:*) stays, as the counter does.
    expect(keys.sort()).toEqual([
      `${keyPrefix}:{nodes}:counter`,
      `${keyPrefix}:{nodes}:format`,
      `${keyPrefix}:{nodes}:server`,
    ]);

    expect(await denied(r)).toEqual([]);
    for (const t of [a, b, c]) expect(t.errors.map((error) => `${error.code}: ${error.message}`)).toEqual([]);
  }, 60_000);
});

describe.runIf(hasRedis)("docs: the README's ACL with one permission missing", () => {
  const redis = usePrivateRedis();

  it.each([
    {
      missing: '+evalsha',
      change: (rules: string[]) => rules.filter((rule) => rule !== '+evalsha'),
      fix: ['+evalsha'],
      reply: /NOPERM this user has no permissions to run the 'evalsha' command/,
      scripts: ['renew'],
      log: 'command toplevel evalsha',
    },
    {
      missing: '+hgetall (inside a script)',
      change: (rules: string[]) => rules.filter((rule) => rule !== '+hgetall'),
      fix: ['+hgetall'],
      reply: /can't run this command or subcommand/,
      scripts: ['admit'],
      log: 'command lua hgetall',
    },
    {
      missing: 'its channels (left at wssup)',
      change: (rules: string[]) => rules.map((rule) => (rule === `&${keyPrefix}:*` ? '&wssup:*' : rule)),
      fix: [`&${keyPrefix}:*`],
      reply: /NOPERM this user has no permissions to access one of the channels/,
      scripts: [],
      log: `channel toplevel ${keyPrefix}:{n:acl-lacking}:orders`,
    },
  ])(
    'without $missing: WSSUP_STORE_UNAVAILABLE with the reply, 503 under reject, and admitting again once the ACL is fixed',
    async ({ change, fix, reply, scripts: named, log }) => {
      const r = redis.current;
      const { user, url } = await createUser(r, change);
      const t = await startServer({
        cluster: {
          redis: url,
          nodeId: 'acl-lacking',
          keyPrefix,
          leaseTtlMs: 1_500,
          commandTimeoutMs: 300,
          onStoreUnavailable: 'reject',
        },
      });
      const ready = t.supervisor.ready({ signal: AbortSignal.timeout(20_000) });
      ready.catch(() => {}); // awaited below; a test that fails before must not leave it unhandled
      await vi.waitFor(async () => {
        const refusal = await httpRefusal(t.url('ann'));
        expect(refusal).toMatchObject({ status: 503, headers: { 'retry-after': '1' } });
      }, ioWait);
      expect(t.errors.length).toBeGreaterThan(0);
      for (const error of t.errors) {
        expect(error.code).toBe('WSSUP_STORE_UNAVAILABLE');
        expect(error.message).toMatch(reply);
      }
      // A script denied is named, with what it is for: which operation needs the rule.
      const failedScripts = t.errors.map((error) => (error as { script?: string }).script);
      expect(new Set(failedScripts)).toEqual(new Set(named.length === 0 ? [undefined] : named));
      for (const error of t.errors) {
        const script = scripts.find((each) => each.name === (error as { script?: string }).script);
        if (script !== undefined)
          expect(error.message).toContain(`of the ${script.name} script (${script.operation}): `);
      }
      expect(new Set(await denied(r))).toEqual(new Set([log]));

      expect(await r.command('ACL', 'SETUSER', user, ...fix)).toBe('OK');
      await ready;
      await vi.waitFor(() => expect(t.supervisor.stats().admission.admitting).toBe(true), ioWait);
      const ws = await connect(t.url('ann'));
      expect(ws.readyState).toBe(WebSocket.OPEN);
      await vi.waitFor(async () => expect(nodesOf(await bookOf(r, 'ann'))).toEqual(['acl-lacking']), ioWait);
      await t.supervisor.shutdown();
      expect(await bookOf(r, 'ann')).toEqual({});
    },
    60_000,
  );
});

describe.runIf(hasRedis)("docs: the README's ACL without its one optional command, +info", () => {
  const redis = usePrivateRedis();

  it("renewals and admissions go on; what Redis denies is only the renewals' INFO", async () => {
    const r = redis.current;
    const { url } = await createUser(r, (rules) => rules.filter((rule) => rule !== '+info'));
    const t = await startServer({
      cluster: { redis: url, nodeId: 'acl-noinfo', keyPrefix, leaseTtlMs: 1_500, commandTimeoutMs: 300 },
    });
    await t.supervisor.ready({ signal: AbortSignal.timeout(10_000) });
    const incarnation = t.supervisor.stats().cluster?.incarnation;
    await connect(t.url('ann'));
    // A few renewals (every 500 ms): the same lease pushed forward, never taken for another server's.
    const expiry = async () =>
      Number(await r.command('ZSCORE', `${keyPrefix}:{nodes}:leases`, String(incarnation)));
    const first = await expiry();
    expect(first).toBeGreaterThan(0);
    await vi.waitFor(async () => expect(await expiry()).toBeGreaterThan(first + 1_000), ioWait);
    expect(t.supervisor.stats().cluster).toMatchObject({ incarnation, leaseHeld: true, breaker: 'closed' });
    expect(await t.supervisor.userStats('ann', { cluster: true })).toMatchObject({ live: 1 });
    expect(await denied(r)).toEqual(['command lua info']);
    expect(t.errors).toEqual([]);
  });
});

describe.runIf(hasRedis)("docs: the README's ACL with a database in the URL", () => {
  const redis = usePrivateRedis();

  it('node-redis sends SELECT on each connection: refused (named) without +select, admitting with it', async () => {
    const r = redis.current;
    const { user, url } = await createUser(r);
    const t = await startServer({
      cluster: { redis: `${url}/2`, nodeId: 'acl-db', keyPrefix, leaseTtlMs: 1_500, commandTimeoutMs: 300 },
    });
    const ready = t.supervisor.ready({ signal: AbortSignal.timeout(20_000) });
    ready.catch(() => {}); // awaited below; a test that fails before must not leave it unhandled
    await vi.waitFor(() => expect(t.errors.length).toBeGreaterThan(0), ioWait);
    expect(t.errors[0]).toMatchObject({ code: 'WSSUP_STORE_UNAVAILABLE' });
    expect(t.errors[0]?.message).toMatch(
      /could not connect .*NOPERM this user has no permissions to run the 'select' command/,
    );
    expect(new Set(await denied(r))).toEqual(new Set(['command toplevel select']));

    expect(await r.command('ACL', 'SETUSER', user, '+select')).toBe('OK');
    expect(await r.command('ACL', 'LOG', 'RESET')).toBe('OK');
    await ready;
    await connect(t.url('ann'));
    expect(await t.supervisor.userStats('ann', { cluster: true })).toMatchObject({ live: 1 });
    // In database 2: the helper's connection (database 0) sees no book.
    expect(await bookOf(r, 'ann')).toEqual({});
    await t.supervisor.shutdown();
    expect(await denied(r)).toEqual([]);
  });
});

/** The Redis Cluster test's cluster of its own, formed from the file's start while the tests before it run (formed-ahead.ts). */
const formed = formedAhead({ plan: ['cluster'], make: () => startRedisCluster(), stop: (c) => c.stop() });

describe.runIf(hasRedis)("docs: the README's ACL on a Redis Cluster, with +cluster|slots", () => {
  it('books on every master, renewals (TIME and INFO to each), a cluster-wide send, shutdowns: no master denies anything', async () => {
    const cluster = await formed('cluster');
    const { user, rules } = readmeAcl();
    // ACLs are per node: the user is created on each.
    for (const master of cluster.masters) {
      expect(await cluster.command(master.port, 'ACL', 'SETUSER', user, ...rules, '+cluster|slots')).toBe(
        'OK',
      );
    }
    // A user whose book lives on each master.
    const found = new Map<ClusterMaster, string>();
    for (let i = 0; found.size < cluster.masters.length && i < 1_000; i++) {
      const master = await cluster.masterOf(`${keyPrefix}:{u:u${i}}:slots`);
      if (!found.has(master)) found.set(master, `u${i}`);
    }
    const users = [...found.values()];
    expect(users).toHaveLength(3);
    const rootNodes = cluster.masters.map(
      (master) => `redis://${user}:${encodeURIComponent(password)}@127.0.0.1:${master.port}`,
    );
    const start = (nodeId: string) =>
      startServer({
        cluster: { redis: { rootNodes }, nodeId, keyPrefix, leaseTtlMs: 3_000, commandTimeoutMs: 500 },
      });
    const [a, b] = [await start('acl-ca'), await start('acl-cb')];
    for (const t of [a, b]) await t.supervisor.ready({ signal: AbortSignal.timeout(15_000) });

    const onB: WebSocket[] = [];
    for (const name of users) {
      await connect(a.url(name));
      onB.push(await connect(b.url(name)));
    }
    for (const [i, name] of users.entries()) {
      const message = nextMessage(onB[i] as WebSocket);
      expect(await a.supervisor.sendToUser(name, `to ${name}`, { cluster: true })).toEqual({
        delivered: 1,
        nodes: 1,
        unreached: 0,
      });
      expect(await message).toBe(`to ${name}`);
    }
    // Renewals go on (every second): each reads every master's TIME and INFO.
    const { global } = await a.supervisor.stats({ cluster: true });
    const expiry = Math.min(...global.nodes.map((node) => node.leaseExpiresInMs));
    await vi.waitFor(async () => {
      const now = (await b.supervisor.stats({ cluster: true })).global;
      expect(now).toMatchObject({ users: 3, connections: 6 });
      expect(Math.min(...now.nodes.map((node) => node.leaseExpiresInMs))).toBeGreaterThan(expiry);
    }, ioWait);
    await a.supervisor.shutdown();
    await b.supervisor.shutdown();

    for (const master of cluster.masters) {
      expect(await cluster.command(master.port, 'ACL', 'LOG'), `ACL LOG of ${master.port}`).toEqual([]);
    }
    for (const t of [a, b]) expect(t.errors.map((error) => `${error.code}: ${error.message}`)).toEqual([]);
    expect(a.supervisor.stats().cluster).toMatchObject({ breaker: 'closed', unavailableShards: [] });
  }, 60_000);
});

/** What an error says, as `onError` gets it: the code, the script it names, the message. */
const named = (error: unknown) => {
  const { code, script, message } = error as { code?: string; script?: string; message?: string };
  return { code, script, message };
};

describe.runIf(hasRedis)(
  "docs: a rule missing from the README's ACL: the error names the store's script and what it was for",
  () => {
    const redis = usePrivateRedis();

    it('every script the store runs, by EVALSHA and by EVAL (a lost script cache), named when Redis denies it', async () => {
      const r = redis.current;
      const { user, url } = await createUser(r, (rules) => rules.filter((rule) => rule !== '+evalsha'));
      const connection = await connectRedis(url, { commandTimeoutMs: 300 });
      onTestFinished(() => connection.close());
      // Every script has its own name and says what it is for.
      expect(new Set(scripts.map((script) => script.name)).size).toBe(scripts.length);
      expect(scripts.map((script) => script.name).sort()).toEqual(
        [
          'admit',
          'forget',
          'index',
          'purge',
          'readmit',
          'registry',
          'release',
          'renew',
          'retire',
          'setIdle',
        ].sort(),
      );
      const key = `${keyPrefix}:{u:ann}:slots`;
      for (const script of scripts) {
        const failed = named(await connection.run(script, [key], []).catch((error: unknown) => error));
        expect(failed, script.name).toEqual({
          code: 'WSSUP_STORE_UNAVAILABLE',
          script: script.name,
          message: `Redis EVALSHA of the ${script.name} script (${script.operation}): NOPERM this user has no permissions to run the 'evalsha' command`,
        });
        expect(script.operation, script.name).toMatch(/^[a-z].{8,}/);
      }
      // With +evalsha and the cache lost: NOSCRIPT, then EVAL, denied (no +eval), names it too.
      expect(await r.command('ACL', 'SETUSER', user, '+evalsha', '-eval')).toBe('OK');
      expect(await r.command('SCRIPT', 'FLUSH')).toBe('OK');
      const failed = named(
        await connection.run(scripts[0] as Script, [key], []).catch((error: unknown) => error),
      );
      expect(failed).toEqual({
        code: 'WSSUP_STORE_UNAVAILABLE',
        script: scripts[0]?.name,
        message: `Redis EVAL of the ${scripts[0]?.name} script (${scripts[0]?.operation}): NOPERM this user has no permissions to run the 'eval' command`,
      });
      expect(new Set(await denied(r))).toEqual(
        new Set(['command toplevel evalsha', 'command toplevel eval']),
      );
    });

    it("each of the store's operations, a command denied inside its script: the error names the script; ACL LOG the command", async () => {
      const r = redis.current;
      const { user, url } = await createUser(r);
      const start = async (nodeId: string, leaseTtlMs: number) => {
        const store = createRedisSlotStore({
          redis: url,
          nodeId,
          keyPrefix,
          leaseTtlMs,
          commandTimeoutMs: 300,
        });
        onTestFinished(() => store.stop());
        await store.start({ evictionOrdered: () => {}, incarnationChanged: () => {} });
        return store;
      };
      const store = await start('acl-named', 60_000);
      // A process that booked bob and died: its lease runs out, the reaper's to clean.
      const dead = await start('acl-dead', 1_500);
      expect(await dead.admit('bob', 'b1', 5, 4)).toMatchObject({ admitted: true });
      expect(await store.admit('ann', 'a1', 5, 4)).toMatchObject({ admitted: true });
      // Its lease runs out on Redis's clock (it is never renewed: nothing drives it here).
      await vi.waitFor(async () => {
        const [seconds, micros] = (await r.command('TIME')) as [string, string];
        const expiresAt = await r.command('ZSCORE', `${keyPrefix}:{nodes}:leases`, String(dead.incarnation));
        expect(Number(seconds) * 1000 + Number(micros) / 1000).toBeGreaterThan(Number(expiresAt));
      }, ioWait);

      /** Runs `operation` with `rule` taken from the user, then gives it back. */
      const without = async (rule: string, operation: () => Promise<unknown>) => {
        expect(await r.command('ACL', 'SETUSER', user, `-${rule}`)).toBe('OK');
        expect(await r.command('ACL', 'LOG', 'RESET')).toBe('OK');
        const failed = named(
          await operation().then(
            () => undefined,
            (error: unknown) => error,
          ),
        );
        const log = await denied(r);
        expect(await r.command('ACL', 'SETUSER', user, `+${rule}`)).toBe('OK');
        return { ...failed, log };
      };
      const inside = (rule: string) => ({
        code: 'WSSUP_STORE_UNAVAILABLE',
        log: [`command lua ${rule}`],
      });
      const cases: Array<[string, string, () => Promise<unknown>]> = [
        ['hgetall', 'admit', () => store.admit('ann', 'a2', 5, 4)],
        ['hdel', 'release', () => store.release('ann', 'a1')],
        ['hset', 'setIdle', () => store.setIdle('ann', 'a1', Date.now())],
        [
          'hgetall',
          'readmit',
          () =>
            store.readmit(
              [{ userId: 'ann', connectionId: 'a1', admittedAt: Date.now(), idleSince: undefined }],
              5,
            ),
        ],
        ['zrangebyscore', 'renew', () => store.renew()],
        ['zrange', 'registry', () => store.reap()],
        ['hgetall', 'purge', () => store.reap()],
        ['zrem', 'forget', () => store.reap()],
      ];
      for (const [rule, script, operation] of cases) {
        const failed = await without(rule, operation);
        const { operation: what } = scripts.find((each) => each.name === script) as Script;
        expect(failed, script).toMatchObject({ ...inside(rule), script });
        expect(failed.message, script).toMatch(
          new RegExp(
            `^Redis EVALSHA of the ${script} script \\(${what.replace(/[()]/g, '\\$&')}\\): ERR The user executing the script can't run this command`,
          ),
        );
      }
      // The reaper's pass, all rules back: bob's slot and the dead lease are gone.
      expect(await store.reap()).toBeGreaterThanOrEqual(0);
      expect(await bookOf(r, 'bob')).toEqual({});
    });
  },
);
