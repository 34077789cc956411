/**
 * docs/cluster-store.md, "A least-privilege ACL", on Redis Sentinel: which credentials go
 * where, when the servers take only users (the README's least-privilege user for the app,
 * `default` off) and the sentinels require auth too.
 *
 * On a private Sentinel setup (a primary, its replica, one sentinel:
 * test/helpers/redis-sentinel.ts), made to require auth as the docs say: on each server the
 * app's user (the README's `ACL SETUSER` line, for this test's prefix), a user for the
 * sentinel (`sentinel auth-user` / `auth-pass` on the sentinels), one for replication
 * (`masteruser` / `masterauth`); on the sentinel a user of its own for the app; then
 * `default` off everywhere, and every connection it had dropped. Two processes, each with
 * the app's own `createSentinel()` client given the server user in `nodeClientOptions` and
 * the sentinel's in `sentinelClientOptions`: they book, a cluster-wide send reaches the
 * other's subscription (the store's `duplicate()` keeps the credentials), a graceful
 * failover is followed and fenced, and nothing is denied anywhere (`ACL LOG` empty on both
 * servers and the sentinel).
 */
import { readFileSync } from 'node:fs';
import { createClient, createSentinel } from 'redis';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import type WebSocket from 'ws';
import { readPage } from '../helpers/docs.js';
import { closed, connect, ioWait, nextMessage, startServer } from '../helpers/server.js';
import {
  admin,
  monitor,
  pairs,
  replication,
  SENTINEL_APP_RULES,
  sentinelApp,
  setServerUsers,
} from './sentinel-acl-fixture.js';
import { hasRedis, usePrivateSentinel } from './store-fixture.js';

const readme = readPage('docs/cluster.md');
const keyPrefix = 'acme:ws';
const app = { username: 'wssup-app', password: 'app s3cret' };
/** The README's `ACL SETUSER` rules for `keyPrefix`, with the app's password. */
function readmeRules(): string[] {
  const line = readme.split('\n').find((each) => each.startsWith('ACL SETUSER '));
  expect(line).toBeDefined();
  const [, , user, ...rules] = (line as string).split(' ');
  expect(user).toBe(app.username);
  return rules.map((rule) =>
    rule === '~wssup:*'
      ? `~${keyPrefix}:*`
      : rule === '&wssup:*'
        ? `&${keyPrefix}:*`
        : rule.startsWith('>')
          ? `>${app.password}`
          : rule,
  );
}

/** A line of the docs' section, with its words joined (the docs wrap lines). */
function docsSay(text: string): void {
  const docs = readFileSync(new URL('../../docs/cluster-store.md', import.meta.url), 'utf8');
  const section = docs.slice(docs.indexOf('## A least-privilege ACL'), docs.indexOf('## Redis Cluster'));
  expect(section.replace(/\s+/g, ' ')).toContain(text);
}

describe.runIf(hasRedis)('docs: Redis Sentinel with ACL users on the servers and on the sentinels', () => {
  const setup = usePrivateSentinel();

  it('the server user in nodeClientOptions, the sentinel user in sentinelClientOptions: booked, sent across, failed over, nothing denied', async () => {
    const s = setup.current;
    const { name } = s;
    const sentinelPort = s.sentinelRootNodes[0]?.port as number;
    let primary = s.firstPrimaryPort;
    const info = String(await s.command(primary, 'INFO', 'replication'));
    let replica = Number(info.match(/slave0:ip=[^,]*,port=(\d+)/)?.[1]);
    expect(replica).toBeGreaterThan(0);

    // What the docs tell the operator to create, on every server (ACLs are per node).
    docsSay('`sentinel auth-user <name> <user>` and `sentinel auth-pass <name> <password>`');
    docsSay('`nodeClientOptions: { username, password }`');
    docsSay('`sentinelClientOptions: { username, password }`');
    for (const port of [primary, replica]) {
      await setServerUsers((...args) => s.command(port, ...args), {
        admin,
        app,
        appRules: readmeRules(),
        monitor,
        replication,
      });
    }
    expect(await s.command(sentinelPort, 'SENTINEL', 'SET', name, 'auth-user', monitor.username)).toBe('OK');
    expect(await s.command(sentinelPort, 'SENTINEL', 'SET', name, 'auth-pass', monitor.password)).toBe('OK');
    // The app's user on the sentinels: what node-redis's sentinel client sends them (its
    // discovery, and a PSUBSCRIBE to their events: +switch-master and others), and PING.
    docsSay(`ACL SETUSER wssup-sentinel on >change-me ${SENTINEL_APP_RULES.join(' ')}`);
    expect(
      await s.command(
        sentinelPort,
        'ACL',
        'SETUSER',
        sentinelApp.username,
        'on',
        `>${sentinelApp.password}`,
        ...SENTINEL_APP_RULES,
      ),
    ).toBe('OK');
    expect(
      await s.command(sentinelPort, 'ACL', 'SETUSER', admin.username, 'on', `>${admin.password}`, '+@all'),
    ).toBe('OK');
    // Then no way in without a user: `default` off, and its connections dropped (the
    // sentinel's links and the replication link reconnect with their users).
    for (const port of [primary, replica, sentinelPort])
      expect(await s.command(port, 'ACL', 'SETUSER', 'default', 'off')).toBe('OK');
    const as = async (port: number) => {
      const client = createClient({ url: `redis://127.0.0.1:${port}`, ...admin });
      client.on('error', () => {});
      await client.connect();
      onTestFinished(() => client.destroy());
      return client;
    };
    const adminOn = new Map([
      [primary, await as(primary)],
      [replica, await as(replica)],
      [sentinelPort, await as(sentinelPort)],
    ]);
    const on = (port: number) => adminOn.get(port) as Awaited<ReturnType<typeof as>>;
    for (const port of [primary, replica, sentinelPort]) {
      await on(port).sendCommand(['CLIENT', 'KILL', 'USER', 'default']);
      expect(await on(port).sendCommand(['ACL', 'LOG', 'RESET'])).toBe('OK');
    }
    // The sentinel reaches both servers again, as its user; the replica is in sync again. (On a
    // loaded machine the sentinel may have called the primary down meanwhile, its down-after
    // being 600 ms, and failed over: then the roles are the other way round, once settled.)
    await vi.waitFor(
      async () => {
        const [, port] = (await on(sentinelPort).sendCommand([
          'SENTINEL',
          'GET-MASTER-ADDR-BY-NAME',
          name,
        ])) as string[];
        const current = Number(port);
        const other = current === primary ? replica : primary;
        const master = pairs(await on(sentinelPort).sendCommand(['SENTINEL', 'MASTER', name]));
        expect(master.flags).toBe('master');
        const otherInfo = String(await on(other).sendCommand(['INFO', 'replication']));
        expect(otherInfo).toMatch(/role:slave/);
        expect(otherInfo).toContain(`master_port:${current}`);
        expect(otherInfo).toMatch(/master_link_status:up/);
        expect(String(await on(current).sendCommand(['CLIENT', 'LIST']))).toMatch(/user=sentinel-monitor\b/);
        [primary, replica] = [current, other];
      },
      { timeout: 30_000 },
    );

    // The app's own sentinel clients: the server user for the servers, the sentinel's for the sentinels.
    const client = async () => {
      const sentinel = createSentinel({
        name,
        sentinelRootNodes: [...s.sentinelRootNodes],
        nodeClientOptions: { ...app, disableOfflineQueue: true },
        sentinelClientOptions: { ...sentinelApp },
      });
      sentinel.on('error', () => {});
      await sentinel.connect();
      onTestFinished(() => sentinel.close());
      return sentinel;
    };
    const options = (nodeId: string) => ({ nodeId, keyPrefix, leaseTtlMs: 3_000, commandTimeoutMs: 300 });
    const a = await startServer({ cluster: { redis: await client(), ...options('sacl-a') } });
    const b = await startServer({ cluster: { redis: await client(), ...options('sacl-b') } });
    for (const t of [a, b]) await t.supervisor.ready({ signal: AbortSignal.timeout(10_000) });
    const bookOn = async (port: number) =>
      Object.keys(
        await on(port)
          .sendCommand(['HGETALL', `${keyPrefix}:{u:ann}:slots`])
          .then(pairs),
      ).length;
    const onA: WebSocket = await connect(a.url('ann'));
    const onB: WebSocket = await connect(b.url('ann'));
    expect(await bookOn(primary)).toBe(2);
    // Every connection to the servers is the app's user, the sentinel's or the admin's.
    const users = (list: unknown) =>
      new Set([...String(list).matchAll(/ user=(\S+)/g)].map((match) => match[1]));
    expect(users(await on(primary).sendCommand(['CLIENT', 'LIST']))).toEqual(
      new Set([app.username, monitor.username, replication.username, admin.username]),
    );
    expect(users(await on(sentinelPort).sendCommand(['CLIENT', 'LIST']))).toContain(sentinelApp.username);
    // A cluster-wide send from B reaches A's connection over A's subscription (its duplicate()).
    const message = nextMessage(onA);
    expect(await b.supervisor.sendToUser('ann', 'hello', { cluster: true })).toMatchObject({
      nodes: 1,
      unreached: 0,
    });
    expect(await message).toBe('hello');

    const reported = () => [a, b].flatMap((t) => t.errors.map((error) => `${error.code}: ${error.message}`));
    expect(reported()).toEqual([]);

    // A graceful failover, asked of the sentinel as its admin: followed, fenced, booked again there.
    const incarnation = a.supervisor.stats().cluster?.incarnation;
    await vi.waitFor(async () => {
      expect(await on(sentinelPort).sendCommand(['SENTINEL', 'FAILOVER', name])).toBe('OK');
    }, ioWait);
    await vi.waitFor(async () => {
      const [, port] = (await on(sentinelPort).sendCommand([
        'SENTINEL',
        'GET-MASTER-ADDR-BY-NAME',
        name,
      ])) as string[];
      expect(Number(port)).toBe(replica);
      expect(String(await on(replica).sendCommand(['INFO', 'replication']))).toMatch(/role:master/);
    }, ioWait);
    await vi.waitFor(
      async () => {
        expect(a.supervisor.stats().cluster?.incarnation).not.toBe(incarnation);
        expect(await bookOn(replica)).toBe(2);
      },
      { timeout: 20_000 },
    );
    const third = await connect(a.url('ann'));
    await vi.waitFor(async () => expect(await bookOn(replica)).toBe(3), ioWait);

    const onBClosed = closed(onB);
    await b.supervisor.shutdown();
    await onBClosed;
    await a.supervisor.shutdown();
    expect(third.readyState).not.toBe(1);
    expect(await bookOn(replica)).toBe(0);
    for (const port of [primary, replica, sentinelPort])
      expect(await on(port).sendCommand(['ACL', 'LOG']), `ACL LOG of ${port}`).toEqual([]);
    // Across the failover, commands may miss their deadline until node-redis has switched
    // (the docs' "Redis Sentinel"), and one that reaches the promoted replica before this node
    // has renewed there is refused as 'moved' (another server answers); none was refused for
    // want of a credential or a rule.
    for (const line of reported()) {
      expect(line).toMatch(
        /^WSSUP_STORE_UNAVAILABLE: Redis .*(no answer within|still unanswered|closed|offline|another server answers than the one this node last renewed on)/,
      );
      expect(line).not.toMatch(/NOPERM|NOAUTH|WRONGPASS|can't run/);
    }
  }, 90_000);
});
