/**
 * docs/cluster-store.md, "Key layout" and "The scripts", checked with what Redis itself saw
 * (MONITOR, on a private redis-server) while two Redis slot stores ran every operation:
 *
 * - "Every key a script touches is passed in `KEYS`": each key a command inside a script
 *   names (COMMAND GETKEYS) is among the KEYS of the EVALSHA that ran it.
 * - "all keys of one script share one Redis Cluster hash slot through a hash tag ..., but for
 *   the server key, which admit, readmit, release and setIdle read": the KEYS of each run share
 *   one tag but the server key, and the runs that pass it beside another tag are those four.
 * - the table's "Used by" column: which operations (or scripts) touch each key or channel.
 * - "The scripts": each is loaded with `SCRIPT LOAD` at start and run with `EVALSHA`; each
 *   reads the keys the table's "Keys" column gives.
 * - "User and node ids are URI-encoded in key names", and "the counter stays ..., and so
 *   do the server key and the format marker" once every node has stopped (a user's hash and
 *   an index do not).
 */

import { createClient } from 'redis';
import { describe, expect, it } from 'vitest';
import { scripts } from '../../src/cluster/redis-scripts.js';
import type { RedisSlotStore } from '../../src/cluster/redis-store.js';
import { tableRows } from './store-doc-tables.js';
import { eventually, freshPrefix, hasRedis, startStore, usePrivateRedis } from './store-fixture.js';

/** The arguments of one MONITOR line, unescaped (Redis writes them as sdscatrepr does). */
function argumentsOf(text: string): string[] {
  const out: string[] = [];
  for (const match of text.matchAll(/"((?:[^"\\]|\\.)*)"/g)) {
    out.push(
      (match[1] as string).replace(/\\(x[0-9a-f]{2}|.)/g, (_, code: string) => {
        if (code.startsWith('x') && code.length === 3)
          return String.fromCharCode(Number.parseInt(code.slice(1), 16));
        return ({ n: '\n', r: '\r', t: '\t', a: '\x07', b: '\b' } as Record<string, string>)[code] ?? code;
      }),
    );
  }
  return out;
}

interface Seen {
  /** The store operation it was sent for. */
  operation: string;
  /** The client's address, or 'lua' for a command a script ran. */
  from: string;
  args: string[];
}

/** The names the "Used by" column uses: operations of the store, and scripts. */
const USERS = [
  'admit',
  'release',
  'setIdle',
  'readmit',
  'purge',
  'userBook',
  'view',
  'renew',
  'registry',
  'forget',
  'retire',
  'reap',
  'stop',
  'orderEviction',
  'sendAcross',
  'start',
];

describe.runIf(hasRedis)('docs/cluster-store.md, "Key layout" and "The scripts", as Redis saw them', () => {
  const redis = usePrivateRedis();

  it('every key a script touches is in its KEYS, one hash tag per run but the server key; the keys each operation and script uses are the tables’', async () => {
    const keyPrefix = freshPrefix();
    const monitor = createClient({ url: redis.current.url });
    monitor.on('error', () => {});
    await monitor.connect();
    // The test's own writes (a lease expired by hand) go through a client MONITOR leaves out.
    const admin = createClient({ url: redis.current.url });
    admin.on('error', () => {});
    await admin.connect();
    const adminAddress = /addr=(\S+)/.exec(String(await admin.sendCommand(['CLIENT', 'INFO'])))?.[1];
    const seen: Seen[] = [];
    let operation = 'start';
    await monitor.monitor((line) => {
      const match = /^[\d.]+ \[\d+ ([^\]]+)\] (.*)$/s.exec(String(line));
      if (match === null) return;
      if (match[1] === adminAddress) return;
      const args = argumentsOf(match[2] as string);
      // Not the store's: the monitor's own, the test's, and keep-alive PINGs and handshakes.
      if (['PING', 'HELLO', 'ECHO', 'CLIENT'].includes(String(args[0]).toUpperCase())) return;
      seen.push({ operation, from: match[1] as string, args });
    });
    const stores: RedisSlotStore[] = [];
    const sent = () => stores.reduce((sum, store) => sum + store.traffic().commands, 0);
    const fromStores = () => seen.filter((s) => s.from !== 'lua' && s.args[0] !== 'ssubscribe').length;
    /**
     * Runs `call` as `name`, and waits until MONITOR has shown as many commands as the stores
     * say they sent for it (store.traffic()), so that the next operation's are told apart.
     */
    const run = async <T>(name: string, call: () => Promise<T>): Promise<T> => {
      operation = name;
      const [seenBefore, sentBefore] = [fromStores(), sent()];
      const result = await call();
      const started = (result as { store?: RedisSlotStore } | undefined)?.store;
      if (started !== undefined) stores.push(started);
      await eventually(() => fromStores() - seenBefore >= sent() - sentBefore);
      return result;
    };
    // Node ids with braces: their channels' tags must not change.
    const a = await run('start', () => startStore(redis.current, { keyPrefix, nodeId: 'n{a}' }));
    const b = await run('start', () => startStore(redis.current, { keyPrefix, nodeId: 'n-b' }));
    const loads = seen.filter((s) => s.args[0] === 'SCRIPT' && s.args[1] === 'LOAD');
    expect(loads.map((s) => s.args[2]).sort(), 'each store loads every script at start').toEqual(
      [...scripts, ...scripts].map((s) => s.body).sort(),
    );

    await run('admit', () => a.store.admit('{ann}', 'a1', 3, 2));
    await run('setIdle', () => a.store.setIdle('{ann}', 'a1', 1_000));
    const admitted = await run('admit', () => b.store.admit('{ann}', 'b1', 3, 2));
    expect(admitted).toMatchObject({
      admitted: true,
      evict: [expect.objectContaining({ connectionId: 'a1' })],
    });
    await run('orderEviction', () =>
      b.store.orderEviction({ connectionId: 'a1', nodeId: 'n{a}', incarnation: a.store.incarnation }),
    );
    await eventually(() => a.orders.length === 1);
    await run('userBook', () => b.store.userBook('{ann}'));
    await run('sendAcross', () => b.store.sendAcross({ kind: 'send', userId: '{ann}', data: 'hi' }));
    await run('sendAcross', () => b.store.sendAcross({ kind: 'broadcast', data: 'all' }));
    await run('view', () => b.store.view());
    await run('release', () => a.store.release('{ann}', 'a1'));
    await run('renew', () => a.store.renew()); // {ann} left node a: SREM from its index
    await run('readmit', () =>
      a.store.readmit([{ userId: 'bob', connectionId: 'a2', admittedAt: 1_000, idleSince: undefined }], 3),
    );
    // A lost lease: a new incarnation, the old one retired, and a reaper's pass.
    await admin.sendCommand(['ZADD', `${keyPrefix}:{nodes}:leases`, 'XX', '0', String(a.store.incarnation)]);
    expect(await run('renew', () => a.store.renew())).toBe('lost');
    // The retire script, then a reaper's pass (its SSCAN, SREM and SCARD are the reaper's).
    await run('reap', () => a.store.retirePrevious());
    // A dead node: b's lease expired by hand, reaped by a.
    await admin.sendCommand(['ZADD', `${keyPrefix}:{nodes}:leases`, 'XX', '0', String(b.store.incarnation)]);
    expect(await run('reap', () => a.store.reap())).toBeGreaterThan(0);
    await run('stop', () => a.store.stop());
    await run('stop', () => b.store.stop());
    await monitor.disconnect().catch(() => monitor.destroy());
    admin.destroy();

    // Which key each command names, as Redis itself tells (COMMAND GETKEYS).
    const keysOf = new Map<string, string[]>();
    const keyed = async (args: string[]): Promise<string[]> => {
      const id = JSON.stringify(args);
      if (!keysOf.has(id)) {
        const reply = await redis.current.command('COMMAND', 'GETKEYS', ...args);
        keysOf.set(id, Array.isArray(reply) ? reply.map(String) : []);
      }
      return keysOf.get(id) as string[];
    };
    const byBody = new Map(scripts.map((s) => [s.sha, s.name]));
    const template = (key: string) =>
      key
        .replace(keyPrefix, '<prefix>')
        .replace(/\{u:[^}]*\}/, '{u:<user>}')
        .replace(/\{i:\d+\}/, '{i:<incarnation>}')
        .replace(/\{n:[^}]*\}/, '{n:<nodeId>}');
    const tagOf = (key: string) => /\{([^}]*)\}/.exec(key)?.[1];
    const wrong: string[] = [];
    /** key template → who touched it: a script's name, or the operation for a command or the index script. */
    const usedBy = new Map<string, Set<string>>();
    const use = (key: string, who: string) => {
      const t = template(key);
      if (!usedBy.has(t)) usedBy.set(t, new Set());
      usedBy.get(t)?.add(who);
    };
    /** script name → the key templates its KEYS held. */
    const scriptKeys = new Map<string, Set<string>>();
    const crossTag = new Set<string>();
    let script: { name: string; keys: string[] } | undefined;
    for (const s of seen) {
      if (s.from === 'lua') {
        if (script === undefined) {
          wrong.push(`a script command with no script before it: ${s.args.join(' ')}`);
          continue;
        }
        for (const key of await keyed(s.args)) {
          if (!script.keys.includes(key))
            wrong.push(`${script.name} touches ${key}, which is not in its KEYS (${script.keys.join(', ')})`);
          use(key, script.name === 'index' ? s.operation : script.name);
        }
        continue;
      }
      script = undefined;
      const verb = String(s.args[0]).toUpperCase();
      if (verb === 'EVAL') wrong.push(`${s.operation} ran a script with EVAL, not EVALSHA`);
      if (verb === 'EVALSHA') {
        const name = byBody.get(s.args[1] as string) ?? `unknown script ${s.args[1]}`;
        const keys = s.args.slice(3, 3 + Number(s.args[2]));
        script = { name, keys };
        if (!scriptKeys.has(name)) scriptKeys.set(name, new Set());
        for (const key of keys) scriptKeys.get(name)?.add(template(key));
        const tags = new Set(keys.filter((key) => !key.endsWith(':{nodes}:server')).map(tagOf));
        if (tags.size !== 1) wrong.push(`${name} passes keys of ${tags.size} hash tags: ${keys.join(', ')}`);
        if (keys.some((key) => key.endsWith(':{nodes}:server')) && !tags.has('nodes')) crossTag.add(name);
        continue;
      }
      if (verb === 'SCRIPT') continue;
      // Two commands MONITOR may show while the next operation runs, which say what they are:
      // a renewal's subscription probe (sent once the renewal is answered, not awaited), and
      // the order channel's subscription at start (on the subscriber's own connection).
      const who =
        verb === 'SPUBLISH' && String(s.args[2]).startsWith('wssup:probe:')
          ? 'renew'
          : verb === 'SSUBSCRIBE'
            ? 'start'
            : s.operation;
      for (const key of verb === 'SSUBSCRIBE' || verb === 'SPUBLISH'
        ? [s.args[1] as string]
        : await keyed(s.args))
        use(key, who);
    }
    expect(wrong).toEqual([]);
    // Ids URI-encoded: a key or channel has one pair of braces, whatever braces its ids have.
    expect([...usedBy.keys()].filter((key) => !/^[^{}]*\{[^{}]*\}[^{}]*$/.test(key))).toEqual([]);
    expect(
      seen.filter((s) => s.args[0] === 'SSUBSCRIBE' || s.args[0] === 'ssubscribe').map((s) => s.args[1]),
    ).toEqual([`${keyPrefix}:{n:n%7Ba%7D}:orders`, `${keyPrefix}:{n:n-b}:orders`]);
    // A renewal's probe goes to the renewing node's own channel (only node a renews here).
    const probes = seen.filter(
      (s) => s.args[0] === 'SPUBLISH' && String(s.args[2]).startsWith('wssup:probe:'),
    );
    expect(probes.length).toBeGreaterThan(0);
    for (const probe of probes) expect(probe.args[1]).toBe(`${keyPrefix}:{n:n%7Ba%7D}:orders`);
    expect([...crossTag].sort(), 'the scripts that read the server key beside a user’s book').toEqual([
      'admit',
      'readmit',
      'release',
      'setIdle',
    ]);

    // The key layout's "Used by" column, word for word, against what touched each key.
    const layout = tableRows('Key layout').map(({ line, cells }) => {
      const usedByCell = (cells[3] ?? '').replace(/\([^)]*\)/g, ''); // "(SADD)", "(sets it when ...)"
      return {
        line,
        key: (cells[0] ?? '').replace(/`/g, ''),
        documented: USERS.filter((name) => new RegExp(`\\b${name}\\b`).test(usedByCell)).sort(),
      };
    });
    const observed = Object.fromEntries([...usedBy].map(([key, who]) => [key, [...who].sort()]));
    const documented = Object.fromEntries(layout.map(({ key, documented }) => [key, documented]));
    expect(observed, 'the "Used by" column of the key layout').toEqual(documented);

    // "The scripts": the keys each one reads.
    const book = '<prefix>:{u:<user>}:slots';
    const server = '<prefix>:{nodes}:server';
    const registry = ['leases', 'incarnations', 'counter', 'server', 'format'].map(
      (k) => `<prefix>:{nodes}:${k}`,
    );
    const groups: Record<string, string[]> = {
      "the user's book": [book],
      'the registry': registry,
      "the incarnation's index": ['<prefix>:{i:<incarnation>}:users'],
    };
    for (const { line, cells } of tableRows('The scripts')) {
      const names = [...(cells[0] ?? '').matchAll(/[a-zA-Z]+/g)].map((m) => m[0]);
      const allowed = groups[cells[1] ?? ''] ?? (cells[1] === 'the server key' ? [server] : undefined);
      expect(allowed, `line ${line}: a group of keys this test does not know: ${cells[1]}`).toBeDefined();
      for (const name of names) {
        const keys = scriptKeys.get(name);
        expect(keys, `line ${line}: no run of the ${name} script was seen`).toBeDefined();
        if (cells[1] === 'the server key') expect(keys?.has(server), `line ${line}: ${name}`).toBe(true);
        else {
          // The server key of admit, readmit, release and setIdle is the row "(admit, readmit, release, setIdle)".
          const may = [...(allowed ?? []), ...(crossTag.has(name) ? [server] : [])];
          for (const key of keys ?? []) expect(may, `line ${line}: the keys of ${name}`).toContain(key);
        }
      }
    }
    // Every script the store loads is in the table.
    const tabled = tableRows('The scripts').flatMap(({ cells }) =>
      [...(cells[0] ?? '').matchAll(/[a-zA-Z]+/g)].map((m) => m[0]),
    );
    expect(scripts.map((s) => s.name).filter((name) => !tabled.includes(name))).toEqual([]);

    // Both nodes stopped: no user's hash, no index, no lease; the counter, the server key and
    // the format marker stay.
    const left = ((await redis.current.command('KEYS', `${keyPrefix}:*`)) as string[]).sort();
    expect(left).toEqual([
      `${keyPrefix}:{nodes}:counter`,
      `${keyPrefix}:{nodes}:format`,
      `${keyPrefix}:{nodes}:server`,
    ]);
  });
});

/**
 * docs/cluster-store.md, "Round trips": the cases in the table's parentheses and the stop()
 * paragraph after it (store-doc.test.ts checks each row's plain case and reap()). Round
 * trips as the store counts them (traffic()), the commands as Redis ran them (INFO
 * commandstats, the top-level ones: none of these runs inside a script).
 */
describe.runIf(hasRedis)('docs/cluster-store.md, "Round trips": the cases in parentheses', () => {
  const redis = usePrivateRedis();
  const TOP_LEVEL = ['evalsha', 'eval', 'hvals', 'spublish', 'sscan', 'del'];

  /** Runs `call` on `store` and returns the round trips of `method` and the commands Redis ran for it. */
  async function cost(store: RedisSlotStore, method: string, call: () => Promise<unknown>) {
    const calls = async () => {
      const info = String(await redis.current.command('INFO', 'commandstats'));
      return Object.fromEntries(
        TOP_LEVEL.map((name) => [
          name,
          Number(new RegExp(`^cmdstat_${name}:calls=(\\d+)`, 'm').exec(info)?.[1] ?? 0),
        ]),
      );
    };
    const before = { traffic: store.traffic(), calls: await calls() };
    await call();
    const sent = store.traffic().commands - before.traffic.commands;
    const ran: Record<string, number> = {};
    // What the store sent and did not await (a renewal's probe) reaches Redis a moment later.
    await eventually(async () => {
      const now = await calls();
      for (const name of TOP_LEVEL) ran[name] = (now[name] ?? 0) - (before.calls[name] ?? 0);
      return Object.values(ran).reduce((sum, n) => sum + n, 0) >= sent;
    });
    for (const name of TOP_LEVEL) if (ran[name] === 0) delete ran[name];
    const trips = (store.traffic().roundTrips[method] ?? 0) - (before.traffic.roundTrips[method] ?? 0);
    return { trips, ran, sent };
  }

  it('admit: the index script beside it when the user is new on the node, in the same round trip', async () => {
    const { store } = await startStore(redis.current, { keyPrefix: freshPrefix(), nodeId: 'n-a' });
    expect(await cost(store, 'admit', () => store.admit('ann', 'c1', 5, 5))).toEqual({
      trips: 1,
      ran: { evalsha: 2 },
      sent: 2,
    });
    expect(await cost(store, 'admit', () => store.admit('ann', 'c2', 5, 5))).toEqual({
      trips: 1,
      ran: { evalsha: 1 },
      sent: 1,
    });
  });

  it('renew: no index script when the node lists no user and took none out; then one', async () => {
    const keyPrefix = freshPrefix();
    const { store } = await startStore(redis.current, { keyPrefix, nodeId: 'n-a' });
    expect(await cost(store, 'renew', () => store.renew())).toEqual({
      trips: 1,
      ran: { evalsha: 1, spublish: 1 },
      sent: 2,
    });
    await store.admit('ann', 'c1', 5, 5);
    await store.release('ann', 'c1'); // ann leaves the node: the next renewal takes her out
    expect(await cost(store, 'renew', () => store.renew())).toEqual({
      trips: 1,
      ran: { evalsha: 2, spublish: 1 },
      sent: 3,
    });
    expect(await redis.current.command('EXISTS', `${keyPrefix}:{i:${store.incarnation}}:users`)).toBe(0);
  });

  // The doc said an order naming an earlier incarnation of this process was void: it is
  // acted on, as its current incarnation's (the fence's re-admission takes those entries over).
  it('orderEviction: nothing sent for this process’s own victim, named under its current incarnation or an earlier one; acted on at once, as the current one’s', async () => {
    const keyPrefix = freshPrefix();
    const a = await startStore(redis.current, { keyPrefix, nodeId: 'n-a' });
    const first = a.store.incarnation;
    const own = { connectionId: 'c1', nodeId: 'n-a', incarnation: first };
    expect(await cost(a.store, 'orderEviction', () => a.store.orderEviction(own))).toEqual({
      trips: 0,
      ran: {},
      sent: 0,
    });
    expect(a.orders).toEqual([own]); // at once: before any message could come back
    // A lost lease: a new incarnation; an order naming the earlier one is this process's too.
    await redis.current.command('ZADD', `${keyPrefix}:{nodes}:leases`, 'XX', '0', String(first));
    expect(await a.store.renew()).toBe('lost');
    const earlier = { connectionId: 'c2', nodeId: 'n-a', incarnation: first };
    expect(await cost(a.store, 'orderEviction', () => a.store.orderEviction(earlier))).toEqual({
      trips: 0,
      ran: {},
      sent: 0,
    });
    expect(a.orders.at(-1)).toEqual({ ...earlier, incarnation: a.store.incarnation });
    // Another process's victim: one SPUBLISH.
    const b = await startStore(redis.current, { keyPrefix, nodeId: 'n-b' });
    const theirs = { connectionId: 'b1', nodeId: 'n-b', incarnation: b.store.incarnation };
    expect(await cost(a.store, 'orderEviction', () => a.store.orderEviction(theirs))).toEqual({
      trips: 1,
      ran: { spublish: 1 },
      sent: 1,
    });
    await eventually(() => b.orders.length === 1);
  });

  it('readmit: the index script for all the users, then one readmit script per user, in one round trip', async () => {
    const { store } = await startStore(redis.current, { keyPrefix: freshPrefix(), nodeId: 'n-a' });
    const held = ['ann', 'bob', 'bob'].map((userId, i) => ({
      userId,
      connectionId: `c${i}`,
      admittedAt: 1_000 + i,
      idleSince: undefined,
    }));
    expect(await cost(store, 'readmit', () => store.readmit(held, 5))).toEqual({
      trips: 1,
      ran: { evalsha: 3 },
      sent: 3,
    });
  });

  it('sendAcross: a broadcast reads the registry, then one SPUBLISH per other live lease; none, in 1 round trip, when no other process is concerned', async () => {
    const keyPrefix = freshPrefix();
    const a = await startStore(redis.current, { keyPrefix, nodeId: 'n-a' });
    const b = await startStore(redis.current, { keyPrefix, nodeId: 'n-b' });
    const c = await startStore(redis.current, { keyPrefix, nodeId: 'n-c' });
    expect(
      await cost(a.store, 'sendAcross', () => a.store.sendAcross({ kind: 'broadcast', data: 'x' })),
    ).toEqual({
      trips: 2,
      ran: { evalsha: 1, spublish: 2 },
      sent: 3,
    });
    await eventually(() => b.deliveries.length === 1 && c.deliveries.length === 1);
    await a.store.admit('ann', 'a1', 5, 5); // only this process holds ann
    expect(
      await cost(a.store, 'sendAcross', () => a.store.sendAcross({ kind: 'send', userId: 'ann', data: 'x' })),
    ).toEqual({ trips: 1, ran: { hvals: 1 }, sent: 1 });
    // Alone in the registry: a broadcast reads it, and sends nothing.
    await b.store.stop();
    await c.store.stop();
    expect(
      await cost(a.store, 'sendAcross', () => a.store.sendAcross({ kind: 'broadcast', data: 'x' })),
    ).toEqual({
      trips: 1,
      ran: { evalsha: 1 },
      sent: 1,
    });
  });

  it('stop(): a node with no user left sends the SSCAN that finds nothing, DEL, forget; one with a user, a page of its list too; one whose index names a user its list does not, one round trip more', async () => {
    const keyPrefix = freshPrefix();
    const empty = await startStore(redis.current, { keyPrefix, nodeId: 'n-empty' });
    expect(await cost(empty.store, 'stop', () => empty.store.stop())).toEqual({
      trips: 3,
      ran: { sscan: 1, del: 1, evalsha: 1 },
      sent: 3,
    });
    // One user on its list and in its index: a page of its list (the purge), beside the
    // index's one page, then DEL and forget.
    const one = await startStore(redis.current, { keyPrefix, nodeId: 'n-one' });
    await one.store.admit('ann', 'c1', 5, 5);
    expect(await cost(one.store, 'stop', () => one.store.stop())).toEqual({
      trips: 4,
      ran: { evalsha: 2, sscan: 1, del: 1 },
      sent: 4,
    });
    // A user its index names and its list does not (as one whose index write came after
    // the node dropped the user, here written by hand): its purge goes with the index's page.
    const more = await startStore(redis.current, { keyPrefix, nodeId: 'n-more' });
    await more.store.admit('ann', 'c2', 5, 5);
    await redis.current.command('SADD', `${keyPrefix}:{i:${more.store.incarnation}}:users`, 'bob');
    expect(await cost(more.store, 'stop', () => more.store.stop())).toEqual({
      trips: 5,
      ran: { evalsha: 3, sscan: 1, del: 1 },
      sent: 5,
    });
    expect(await redis.current.command('KEYS', `${keyPrefix}:{u:*`)).toEqual([]);
  });
});
