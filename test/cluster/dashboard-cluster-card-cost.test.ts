/**
 * The dashboard's Cluster card, what it costs Redis (INFO commandstats on a private
 * redis-server): every open page asks for `<basePath>/cluster` every 5 s, and the whole
 * cluster-wide read (stats({ cluster: true })) is a command per booked user: 10,087 commands
 * per read at 10,060 users. The card reads at most clusterCardBooks users' books
 * (stats({ cluster: true, maxBooks })), and says so; below that it is exact, and
 * stats({ cluster: true }) still reads every book.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { SimulatedClock } from 'xstate';
import { SET_PAGE } from '../../src/cluster/redis-scan.js';
import { createDashboard } from '../../src/dashboard/index.js';
import { clusterCardBooks } from '../../src/dashboard/page.js';
import type { Supervisor } from '../../src/index.js';
import { connect, ioWait, startServer } from '../helpers/server.js';
import { commandCalls, hasRedis, startStore, usePrivateRedis } from './store-fixture.js';

describe.runIf(hasRedis)("the dashboard's Cluster card on a private redis-server", () => {
  const redis = usePrivateRedis();

  /** The commands Redis ran for one read of the card (INFO and CONFIG, the test's own, left out). */
  async function cardRead(url: string) {
    await redis.current.command('CONFIG', 'RESETSTAT');
    const response = await fetch(url);
    expect(response.status).toBe(200);
    const card = (await response.json()) as {
      users: number;
      connections: number;
      nodes: unknown[];
      perUser: Array<{ userId: string; live: number }>;
      capped?: { read: number; booked: number };
    };
    const calls = await commandCalls(redis.current);
    const commands = Object.entries(calls)
      .filter(([name]) => name !== 'info' && !name.startsWith('config'))
      .reduce((sum, [, n]) => sum + n, 0);
    return { card, commands, calls };
  }

  it('a read of the Cluster card costs at most clusterCardBooks books whatever the number of users booked, and says when its totals are a lower bound', async () => {
    const t = await startServer({
      // A deadline for a busy machine: an admission booked late would be counted only once reconciled.
      cluster: {
        redis: redis.current.url,
        nodeId: 'dash',
        leaseTtlMs: 600_000,
        reaperIntervalMs: 600_000,
        commandTimeoutMs: 5_000,
      },
    });
    await vi.waitFor(() => expect(t.supervisor.stats().cluster?.leaseHeld).toBe(true), ioWait);
    const clock = new SimulatedClock(); // the age of the kept view: moved by the test
    // A copy of the supervisor, which the codebase treats as one (`{ ...supervisor }` compiles
    // and works): the bound once rode on a hidden property that a spread loses, and the card
    // then read every book again, unsaid. It is an option of stats() now.
    const copy: Supervisor = { ...t.supervisor };
    const dashboard = createDashboard(copy, { authorize: () => true, clock });
    const http = createServer((request, response) => dashboard(request, response));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => {
      dashboard.close();
      http.close();
    });
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/dashboard/cluster`;

    // Five users here (the card's shown users), two connections each: below the bound, exact.
    for (let i = 0; i < 5; i++) {
      await connect(t.url(`here-${i}`));
      await connect(t.url(`here-${i}`));
    }
    await vi.waitFor(
      async () => expect((await t.supervisor.stats({ cluster: true })).global.connections).toBe(10),
      ioWait,
    );
    const small = await cardRead(url);
    expect(small.card).toMatchObject({ users: 5, connections: 10 });
    expect(small.card.capped).toBeUndefined();
    expect(small.card.perUser.map((book) => book.live)).toEqual([2, 2, 2, 2, 2]);

    // Another node books three times the bound in users.
    const other = await startStore(redis.current, {
      keyPrefix: 'wssup',
      nodeId: 'other',
      leaseTtlMs: 600_000,
    });
    const booked = 3 * clusterCardBooks;
    for (let i = 0; i < booked; i += 500) {
      await Promise.all(
        Array.from({ length: 500 }, (_, j) => other.store.admit(`there-${i + j}`, `c-${i + j}`, 5, 4)),
      );
    }
    clock.increment(5_000); // the kept view is stale: the next request reads again
    const { card, commands, calls } = await cardRead(url);
    // The books read, one HVALS each, the shown users' books, and a few per node (registry,
    // SSCAN pages, SCARD): not a command per booked user (3,000 and more before).
    expect(calls.hvals).toBeLessThanOrEqual(clusterCardBooks + 5);
    expect(commands).toBeLessThanOrEqual(clusterCardBooks + 5 + 20);
    // The scans stop at the bound: the other node's index in pages of about SET_PAGE until
    // clusterCardBooks are asked for (a page more at most, as SSCAN's COUNT is a hint), this
    // node's in one; not every page of the 3,000 (7 and more).
    expect(calls.sscan).toBeLessThanOrEqual(Math.ceil(clusterCardBooks / SET_PAGE) + 1 + 1);
    // Said: the totals are of the books read, and about how many users are booked in all.
    expect(card.capped).toEqual({ read: clusterCardBooks, booked: booked + 5 });
    expect(card.users).toBeLessThanOrEqual(clusterCardBooks);
    expect(card.users).toBeGreaterThan(0);
    expect(card.nodes).toHaveLength(2);
    // The shown users' own cluster-wide books are read whole, as before.
    expect(card.perUser.map((book) => book.live)).toEqual([2, 2, 2, 2, 2]);

    // stats({ cluster: true }), the app's own call, still reads every book.
    const { global } = await t.supervisor.stats({ cluster: true });
    expect(global).toMatchObject({ users: booked + 5, connections: booked + 10 });
    expect(global.capped).toBeUndefined();

    // The app's own bounded read, as the card's: capped, the books read and about how many are booked.
    await redis.current.command('CONFIG', 'RESETSTAT');
    const bounded = await t.supervisor.stats({ cluster: true, maxBooks: 600 });
    expect(bounded.global.capped).toEqual({ read: 600, booked: booked + 5 });
    expect(bounded.global.users).toBeLessThanOrEqual(600);
    expect((await commandCalls(redis.current)).hvals).toBe(600);
    // A bound above the booked users reads them all: exact, no capped.
    const above = await t.supervisor.stats({ cluster: true, maxBooks: booked + 6 });
    expect(above.global).toMatchObject({ users: booked + 5, connections: booked + 10 });
    expect(above.global.capped).toBeUndefined();
  }, 60_000);

  it('a bound met exactly, every book read: not capped (the scan stopped before its cursor came back to 0)', async () => {
    const t = await startServer({
      cluster: { redis: redis.current.url, nodeId: 'exact', leaseTtlMs: 600_000, reaperIntervalMs: 600_000 },
    });
    await vi.waitFor(() => expect(t.supervisor.stats().cluster?.leaseHeld).toBe(true), ioWait);
    // Another node books them all, in an index read in SSCAN pages (a hashtable past 128
    // members; a page ends once it holds SET_PAGE members). The case: the page that brings the
    // last member ends with the cursor not back to 0, only empty buckets left to visit. Where
    // that happens depends on where members hash, so the test makes it: it books a few more
    // than two pages' worth, reads the index as the view does (the same SSCANs), and takes the
    // members of the pages after the second out of the index (SREM, which never shrinks a
    // table this full), until a read of it ends with empty pages after a cursor that was not 0.
    const other = await startStore(redis.current, {
      keyPrefix: 'wssup',
      nodeId: 'other',
      leaseTtlMs: 600_000,
      // A deadline for a busy machine: the admissions below go out a hundred at a time.
      commandTimeoutMs: 5_000,
    });
    const before = (await redis.current.command('KEYS', 'wssup:{i:*}:users')) as string[];
    for (let i = 0; i < 2 * SET_PAGE + 20; i += 100) {
      const batch = Math.min(100, 2 * SET_PAGE + 20 - i);
      await Promise.all(
        Array.from({ length: batch }, (_, j) => other.store.admit(`u-${i + j}`, `c-${i + j}`, 5, 4)),
      );
    }
    const after = (await redis.current.command('KEYS', 'wssup:{i:*}:users')) as string[];
    const key = after.find((name) => !before.includes(name)) as string;
    const scan = async () => {
      const pages: Array<{ members: string[]; cursor: string }> = [];
      let cursor = '0';
      do {
        const [next, members] = (await redis.current.command(
          'SSCAN',
          key,
          cursor,
          'COUNT',
          String(SET_PAGE),
        )) as [string, string[]];
        pages.push({ members, cursor: next });
        cursor = next;
      } while (cursor !== '0');
      return pages;
    };
    let made = false;
    for (let tries = 0; tries < 10 && !made; tries++) {
      const pages = await scan();
      const last = pages.findLastIndex((page) => page.members.length > 0);
      made = last >= 1 && pages[last]?.cursor !== '0';
      const tail = pages.slice(2).flatMap((page) => page.members);
      if (!made && tail.length > 0) await redis.current.command('SREM', key, ...tail);
    }
    expect(made, 'an index whose read ends with empty pages after its last member').toBe(true);
    const booked = Number(await redis.current.command('SCARD', key));
    expect(booked).toBeGreaterThanOrEqual(2 * SET_PAGE);
    const { global } = await t.supervisor.stats({ cluster: true, maxBooks: booked });
    expect(global).toMatchObject({ users: booked, connections: booked });
    expect(global.capped).toBeUndefined();
    // One fewer is capped, and says it.
    const fewer = await t.supervisor.stats({ cluster: true, maxBooks: booked - 1 });
    expect(fewer.global.capped).toEqual({ read: booked - 1, booked });
  }, 60_000);
});
