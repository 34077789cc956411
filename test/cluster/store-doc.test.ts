/**
 * docs/cluster-store.md is what an operator reads when the cluster misbehaves,
 * so the facts in it that can drift silently are checked against the code, or
 * against a private Redis after real admissions: the keys and their types,
 * the round trips and commands per operation, the defaults, the outage
 * policies, the error codes the store raises, and how many of its own
 * incarnations a process may still release. Each failure names the doc's line.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { createCountingClock } from '../../src/clock.js';
import { resolveClusterOptions } from '../../src/cluster/cluster-options.js';
import { connectTimeoutMs, silentSocketMs } from '../../src/cluster/redis-client.js';
import { Deadlines } from '../../src/cluster/redis-deadlines.js';
import { indexTtlMs } from '../../src/cluster/redis-index.js';
import { SET_PAGE } from '../../src/cluster/redis-scan.js';
import { createRedisSlotStore, type RedisSlotStore } from '../../src/cluster/redis-store.js';
import { resolveStoreOptions } from '../../src/cluster/redis-store-input.js';
import { storeDoc, tableRows } from './store-doc-tables.js';
import { freshPrefix, hasRedis, startStore, usePrivateRedis } from './store-fixture.js';

const root = new URL('../../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');
const doc = storeDoc;
const lines = doc.split('\n');

/** The text of a `## ` section, its line breaks as spaces. */
function section(heading: string): string {
  return (doc.split(`\n## ${heading}\n`)[1]?.split(/\n## /)[0] ?? '').replace(/\s+/g, ' ');
}

/** The 1-based line of the first match of `pattern`, for failure messages. */
const lineOf = (pattern: RegExp) => lines.findIndex((text) => pattern.test(text)) + 1;

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const unquote = (cell: string) => cell.replace(/^`|`$/g, '');

/** The doc's name of each type Redis's TYPE answers. */
const TYPES: Record<string, string> = { hash: 'hash', zset: 'sorted set', string: 'string', set: 'set' };

describe.runIf(hasRedis)('docs/cluster-store.md against a private Redis', () => {
  const redis = usePrivateRedis();

  /** How many times Redis ran each command since the last CONFIG RESETSTAT. */
  async function commandCalls(): Promise<Record<string, number>> {
    const info = (await redis.current.command('INFO', 'commandstats')) as string;
    const calls: Record<string, number> = {};
    for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
      calls[match[1] as string] = Number(match[2]);
    }
    return calls;
  }

  it('the key layout lists every key and channel an admission leaves, with its type', async () => {
    const keyPrefix = freshPrefix();
    const a = await startStore(redis.current, { keyPrefix, nodeId: 'n-a' });
    const b = await startStore(redis.current, { keyPrefix, nodeId: 'n-b' });
    await a.store.admit('ann', 'a1', 3, 2);
    await a.store.setIdle('ann', 'a1', 1_000);
    await b.store.admit('ann', 'b1', 3, 2); // evicts a1: an order to node n-a
    const rows = tableRows('Key layout').map(({ line, cells }) => ({
      line,
      key: unquote(cells[0] ?? ''),
      type: cells[1] ?? '',
      pattern: new RegExp(
        `^${escapeRegExp(unquote(cells[0] ?? ''))
          .replace(/<prefix>/g, escapeRegExp(keyPrefix))
          .replace(/<[a-zA-Z]+>/g, '[^{}:]+')}$`,
      ),
    }));
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = (await redis.current.command('SCAN', cursor, 'MATCH', `${keyPrefix}:*`)) as [
        string,
        string[],
      ];
      keys.push(...batch);
      cursor = next;
    } while (cursor !== '0');
    const channels = (await redis.current.command('PUBSUB', 'SHARDCHANNELS', `${keyPrefix}:*`)) as string[];
    const wrong: string[] = [];
    if (!/No key has a Redis TTL but an incarnation's index/.test(doc))
      wrong.push('the doc no longer says which keys have a TTL');
    // "a day (or 4 × `leaseTtlMs`, when longer)", in the key layout and below it.
    const bound = /a day \(or 4 × `leaseTtlMs`, when longer\)/;
    if (!bound.test(doc) || indexTtlMs(15_000) !== 86_400_000 || indexTtlMs(86_400_000) !== 4 * 86_400_000)
      wrong.push(`line ${lineOf(bound)}: the index's time to live is not what the doc says`);
    const indexRow = rows.find((row) => row.key.includes('{i:'));
    const seen = new Set<number>();
    for (const key of keys) {
      const row = rows.find((candidate) => candidate.pattern.test(key));
      const type = TYPES[String(await redis.current.command('TYPE', key))];
      if (row === undefined) wrong.push(`key ${key} (${type}) is in no row of the key layout`);
      else if (row.type !== type) wrong.push(`line ${row.line}: ${row.key} is a ${type}, not a ${row.type}`);
      if (row !== undefined) seen.add(row.line);
      const pttl = Number(await redis.current.command('PTTL', key));
      if (row !== undefined && row === indexRow) {
        if (pttl <= 0 || pttl > indexTtlMs(15_000))
          wrong.push(`key ${key} has a PTTL of ${pttl} ms, not at most a day as the doc says`);
      } else if (pttl !== -1) wrong.push(`key ${key} has a TTL (${pttl} ms), and the doc says none has`);
    }
    for (const channel of channels) {
      const row = rows.find((candidate) => candidate.pattern.test(channel));
      if (row === undefined) wrong.push(`channel ${channel} is in no row of the key layout`);
      else if (row.type !== 'sharded channel')
        wrong.push(`line ${row.line}: ${row.key} is a sharded channel`);
      else seen.add(row.line);
    }
    for (const row of rows) {
      if (!seen.has(row.line))
        wrong.push(`line ${row.line}: no key or channel ${row.key} after an admission`);
    }
    expect(wrong).toEqual([]);
  });

  it('the round-trip table gives the round trips and the commands of each operation', async () => {
    const keyPrefix = freshPrefix();
    const a = await startStore(redis.current, { keyPrefix, nodeId: 'n-a' });
    const b = await startStore(redis.current, { keyPrefix, nodeId: 'n-b' });
    await a.store.admit('ann', 'warm', 5, 5); // ann is listed on n-a: the next admission sends no SADD
    await b.store.admit('ann', 'on-b', 5, 5); // n-b holds ann: sendAcross tells it
    /** The cost of one call of each operation, in its plainest case (the table's first number). */
    const operations: Record<string, (store: RedisSlotStore) => Promise<unknown>> = {
      admit: (store) => store.admit('ann', 'c1', 5, 5),
      setIdle: (store) => store.setIdle('ann', 'c1', 1_000),
      release: (store) => store.release('ann', 'c1'),
      renew: (store) => store.renew(),
      orderEviction: (store) =>
        store.orderEviction({ connectionId: 'x', nodeId: 'n-b', incarnation: b.store.incarnation }),
      readmit: (store) =>
        store.readmit([{ userId: 'ann', connectionId: 'c2', admittedAt: 1_000, idleSince: undefined }], 5),
      userBook: (store) => store.userBook('ann'),
      sendAcross: (store) => store.sendAcross({ kind: 'send', userId: 'ann', data: 'hi' }),
      view: (store) => store.view(),
    };
    const wrong: string[] = [];
    const rows = tableRows('Round trips');
    for (const { line, cells } of rows) {
      const [operation = '', roundTrips = '', commands = ''] = cells;
      const run = operations[operation];
      if (run === undefined) {
        wrong.push(`line ${line}: the test has no case for ${operation}`);
        continue;
      }
      const before = a.store.traffic();
      await run(a.store);
      const after = a.store.traffic();
      const trips = (after.roundTrips[operation] ?? 0) - (before.roundTrips[operation] ?? 0);
      if (trips !== Number(roundTrips)) wrong.push(`line ${line}: ${operation} took ${trips} round trips`);
      // "1 `EVALSHA`" or "1 `SADD` + 1 `EVALSHA` per user": the plain case sends the numbers named.
      const named = commands.split('(')[0]?.match(/\d+ `[A-Z]+`/g) ?? [];
      const sent = after.commands - before.commands;
      const expected = named.reduce((sum, term) => sum + Number.parseInt(term, 10), 0);
      if (named.length > 0 && sent !== expected)
        wrong.push(`line ${line}: ${operation} sent ${sent} commands, not ${expected}`);
    }
    const listed = new Set(rows.map(({ cells }) => cells[0]));
    for (const operation of Object.keys(operations)) {
      if (!listed.has(operation)) wrong.push(`the round-trip table has no row for ${operation}`);
    }
    expect(wrong).toEqual([]);
  });

  it("reap() takes the round trips the paragraph after the table gives, for a dead node's users and for an empty index", async () => {
    const text = section('Round trips');
    const page = text.match(/`SSCAN` pages of about (\d+) users \(`COUNT (\d+)`\)/);
    const claim = text.match(/: (\d+) round trips plus one per page \((\d+) for an empty set\)/);
    expect(
      page,
      'no "`SSCAN` pages of about N users (`COUNT N`)" in the paragraph after the round-trip table',
    ).not.toBeNull();
    expect([Number(page?.[1]), Number(page?.[2])]).toEqual([SET_PAGE, SET_PAGE]);
    expect(claim, 'no "N round trips plus one per page (M for an empty set)" there').not.toBeNull();
    const [perIncarnation, emptySet] = [Number(claim?.[1]), Number(claim?.[2])];
    const keyPrefix = freshPrefix();
    // Its hundreds of admissions are set-up, not what is checked: the fixture's 300 ms deadline
    // failed one of them ("Redis ran the admission after its deadline") at load 11 on 2 cores.
    const full = await startStore(redis.current, { keyPrefix, nodeId: 'n-full', commandTimeoutMs: 5_000 });
    const empty = await startStore(redis.current, { keyPrefix, nodeId: 'n-empty' });
    const users = 2 * SET_PAGE + 44; // more than two pages
    for (let i = 0; i < users; i++) await full.store.admit(`u${i}`, `c${i}`, 5, 5);
    const reaper = await startStore(redis.current, { keyPrefix, nodeId: 'n-reaper' });
    for (const dead of [full, empty])
      await redis.current.command(
        'ZADD',
        `${keyPrefix}:{nodes}:leases`,
        'XX',
        '0',
        String(dead.store.incarnation),
      );
    await redis.current.command('CONFIG', 'RESETSTAT');
    const before = reaper.store.traffic();
    expect(await reaper.store.reap()).toBe(users);
    const after = reaper.store.traffic();
    // How many pages Redis served: the full index's, and the empty one's single SSCAN.
    const calls = await commandCalls();
    const pages = (calls.sscan ?? 0) - 1;
    expect(pages).toBeGreaterThanOrEqual(2);
    // The registry's read, then each dead incarnation's.
    expect((after.roundTrips.reap ?? 0) - (before.roundTrips.reap ?? 0)).toBe(
      1 + perIncarnation + pages + emptySet,
    );
    // The registry; per page an SSCAN and a SREM, a purge per user, SCARD, forget; SSCAN, forget.
    expect(calls.srem).toBe(pages);
    expect(after.commands - before.commands).toBe(1 + (pages + users + pages + 1 + 1) + (1 + 1));
  });

  it('a process releases the entries of as many of its incarnations as the doc says, and no more', async () => {
    const claim = /the last (\d+) incarnations it took, its current one included/;
    const remembered = Number(doc.match(claim)?.[1]);
    expect(remembered, `no sentence matching ${claim} in docs/cluster-store.md`).toBeGreaterThan(1);
    const keyPrefix = freshPrefix();
    const { store } = await startStore(redis.current, { keyPrefix, nodeId: 'n-a' });
    await store.admit('ann', 'kept', 5, 5);
    await store.admit('bob', 'forgotten', 5, 5);
    /** A lost lease: the next renewal takes a new incarnation. */
    const loseLease = async () => {
      await redis.current.command('ZREM', `${keyPrefix}:{nodes}:leases`, String(store.incarnation));
      expect(await store.renew()).toBe('lost');
    };
    for (let i = 1; i < remembered; i++) await loseLease();
    await store.release('ann', 'kept');
    const line = lineOf(claim);
    expect(
      await redis.current.command('HEXISTS', `${keyPrefix}:{u:ann}:slots`, 'kept'),
      `line ${line}: the oldest of the ${remembered} incarnations it took is not released`,
    ).toBe(0);
    await loseLease();
    await store.release('bob', 'forgotten');
    expect(
      await redis.current.command('HEXISTS', `${keyPrefix}:{u:bob}:slots`, 'forgotten'),
      `line ${line}: an incarnation older than the last ${remembered} is released all the same`,
    ).toBe(1);
  });
});

describe('docs/cluster-store.md against the code', () => {
  it('states the defaults the options resolve to', () => {
    const resolved = resolveClusterOptions({ redis: 'redis://127.0.0.1:6379' });
    const defaults = new Map(
      tableRows('Defaults').map(({ line, cells }) => [
        unquote(cells[0] ?? ''),
        { line, value: cells[1] ?? '' },
      ]),
    );
    const expected: Record<string, string> = {
      leaseTtlMs: String(resolved.leaseTtlMs),
      reaperIntervalMs: resolved.reaperIntervalMs === resolved.leaseTtlMs ? '`leaseTtlMs`' : '?',
      commandTimeoutMs: String(resolved.commandTimeoutMs),
      keyPrefix: `\`'${resolved.keyPrefix}'\``,
      onStoreUnavailable: `\`'${resolved.onStoreUnavailable}'\``,
    };
    const wrong: string[] = [];
    for (const [option, value] of Object.entries(expected)) {
      const row = defaults.get(option);
      if (row === undefined) wrong.push(`the defaults table has no row for ${option}`);
      else if (!row.value.startsWith(value)) wrong.push(`line ${row.line}: ${option} defaults to ${value}`);
    }
    // The breaker's thresholds live in store-breakers.ts.
    const breakers = read('src/cluster/store-breakers.ts');
    const constant = (name: string) =>
      breakers.match(new RegExp(`const ${name} = ([\\d_]+);`))?.[1]?.replace(/_/g, '');
    const breaker = section('The breaker and outage policies');
    if (!breaker.includes(`${constant('FAILURES_TO_OPEN')} store calls in a row`))
      wrong.push(`the breaker section does not say ${constant('FAILURES_TO_OPEN')} store calls in a row`);
    if (!breaker.includes(`${Number(constant('HALF_OPEN_AFTER_MS')) / 1000} s`))
      wrong.push(
        `the breaker section does not say it lets a call through after ${constant('HALF_OPEN_AFTER_MS')} ms`,
      );
    // The cap of the orders' breakers lives in order-breakers.ts.
    const cap = Number(
      read('src/cluster/order-breakers.ts')
        .match(/const MAX_TARGETS = ([\d_]+);/)?.[1]
        ?.replace(/_/g, ''),
    );
    if (!breaker.includes(`once ${cap.toLocaleString('en-US')} others have been ordered`))
      wrong.push(`the breaker section does not say the orders' breakers are forgotten past ${cap} nodes`);
    expect(wrong).toEqual([]);
  });

  it('states the defaults of createRedisSlotStore() alone, and the node id of the cluster option', () => {
    const page = read('docs/cluster-store.md');
    expect(page).toContain('`createRedisSlotStore()` alone takes `nodeId`, `leaseTtlMs`,');
    expect(page).toContain('and `commandTimeoutMs` (500, whatever the TTL)');
    expect(page).toContain('(`createRedisSlotStore()` alone: a random UUID)');
    for (const leaseTtlMs of [900, 15_000, 60_000]) {
      const store = resolveStoreOptions({ redis: 'redis://127.0.0.1:1', leaseTtlMs });
      expect(store.commandTimeoutMs, `leaseTtlMs ${leaseTtlMs}`).toBe(500);
    }
    const { nodeId } = createRedisSlotStore({ redis: 'redis://127.0.0.1:1' }); // nothing connects before start()
    expect(nodeId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const twice = [1, 2].map(() => createRedisSlotStore({ redis: 'redis://127.0.0.1:1' }).nodeId);
    expect(twice[0]).not.toBe(twice[1]);
    expect(resolveClusterOptions({ redis: 'redis://127.0.0.1:1' }).nodeId).toBe(
      `${hostname()}:${process.pid}`,
    );
  });

  it('states the deadlines the connection derives from commandTimeoutMs', () => {
    const clock = createCountingClock();
    const deadlines = new Deadlines(500, clock);
    const periodMs = deadlines.periodMs;
    deadlines.stop();
    const claims: Array<[RegExp, boolean]> = [
      [/it every quarter of `commandTimeoutMs`/, periodMs === 500 / 4],
      [
        /silent for 4 timeouts \(at least 1 s\)/,
        silentSocketMs(500) === 2_000 && silentSocketMs(100) === 1_000,
      ],
      [
        /socket silent for 4 × this \(at least 1 s\)/,
        silentSocketMs(500) === 2_000 && silentSocketMs(100) === 1_000,
      ],
      [
        /\(`commandTimeoutMs`, at least 1 s, for the pub\/sub one/,
        connectTimeoutMs(500) === 1_000 && connectTimeoutMs(2_000) === 2_000,
      ],
      [
        /open within this or 1 s, whichever is longer/,
        connectTimeoutMs(500) === 1_000 && connectTimeoutMs(2_000) === 2_000,
      ],
    ];
    const wrong = claims
      .filter(([claim, holds]) => lineOf(claim) === 0 || !holds)
      .map(([claim]) =>
        lineOf(claim) === 0 ? `no line matches ${claim}` : `line ${lineOf(claim)} is wrong`,
      );
    expect(wrong).toEqual([]);
  });

  it('lists every outage policy, and no other', () => {
    const type =
      read('src/cluster/cluster-options.ts').match(/type StoreUnavailablePolicy = ([^;]+);/)?.[1] ?? '';
    const policies = [...type.matchAll(/'([a-z-]+)'/g)].map((match) => match[1] as string);
    expect(policies.length).toBeGreaterThan(0);
    const rows = tableRows('The breaker and outage policies');
    const documented = rows.map(({ cells }) => unquote(cells[0] ?? '').replace(/^'|'$/g, ''));
    expect(documented.sort(), 'the policy table of "The breaker and outage policies"').toEqual(
      policies.sort(),
    );
  });

  it('names every error code the store raises, and only those', () => {
    const files = [
      'src/cluster/redis-store.ts',
      'src/cluster/redis-order-channel.ts',
      'src/cluster/redis-store-input.ts',
      'src/cluster/redis-client.ts',
      'src/cluster/redis-senders.ts',
      'src/cluster/redis-shapes.ts',
      'src/cluster/redis-deadlines.ts',
      'src/cluster/redis-registry.ts',
      'src/cluster/slot-store.ts',
      'src/cluster/cluster-admission.ts',
      'src/cluster/store-answers.ts',
      'src/cluster/store-breakers.ts',
      'src/cluster/cluster-options.ts',
      'src/cluster/client-closed.ts',
    ];
    const classes: Record<string, string> = {};
    for (const path of ['src/errors.ts', 'src/cluster/slot-store.ts']) {
      for (const match of read(path).matchAll(
        /class (\w+) extends SupervisorError \{[\s\S]*?super\(\s*'(WSSUP_[A-Z_]+)'/g,
      ))
        classes[match[1] as string] = match[2] as string;
    }
    const raised = new Set<string>();
    for (const path of files) {
      const text = read(path);
      for (const match of text.matchAll(/'(WSSUP_[A-Z_]+)'/g)) raised.add(match[1] as string);
      for (const [name, code] of Object.entries(classes)) if (text.includes(`new ${name}(`)) raised.add(code);
      // importOptionalPeer throws MissingPeerError when `redis` is not installed.
      if (/importOptionalPeer[<(]/.test(text)) raised.add(classes.MissingPeerError as string);
    }
    const rows = tableRows('Errors');
    const documented = rows.map(({ cells }) => unquote(cells[0] ?? ''));
    expect(documented.sort(), 'the codes in the "Errors" table').toEqual([...raised].sort());
  });
});
