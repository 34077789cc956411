/**
 * Credentials through the Sentinel shorthand: `{ name, sentinelRootNodes, nodeClientOptions:
 * { username, password }, sentinelClientOptions: { username, password } }`, and the reference
 * server's `--redis-sentinel` with WSSUP_REDIS_USERNAME / WSSUP_REDIS_PASSWORD (the primary and
 * replicas) and WSSUP_REDIS_SENTINEL_USERNAME / WSSUP_REDIS_SENTINEL_PASSWORD (the sentinels).
 * Before, the shorthand refused any key but `name` and `sentinelRootNodes`, so a Sentinel
 * deployment under ACL users was reachable only through the app's own `createSentinel()`
 * client, and the reference server not at all.
 *
 * One private Sentinel setup (a primary, its replica, one sentinel:
 * test/helpers/redis-sentinel.ts) under ACL users as docs/cluster-store.md gives them
 * ("A least-privilege ACL", the same setup as doc-claims-sentinel-acl.test.ts): the app's user
 * on both servers, the sentinel's and the replication's users there, the app's own user on the
 * sentinel, then `default` off everywhere. No failover: that test covers it.
 */
import { createClient } from 'redis';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import type { RedisSentinelNodes } from '../../src/index.js';
import { runProgram } from '../helpers/process.js';
import { connect, ioWait, startServer } from '../helpers/server.js';
import {
  admin,
  monitor,
  pairs,
  replication,
  SENTINEL_APP_RULES,
  sentinelApp,
  setServerUsers,
} from './sentinel-acl-fixture.js';
import { freshPrefix, hasRedis, usePrivateSentinel } from './store-fixture.js';

const app = { username: 'wssup-app', password: 'app s3cret-node' };
/** The README's least-privilege rules for the app's user, for any prefix. */
const APP_RULES = [
  'reset',
  'on',
  `>${app.password}`,
  '~*',
  '&*',
  '+evalsha',
  '+eval',
  '+script|load',
  '+spublish',
  '+ssubscribe',
  '+hvals',
  '+sscan',
  '+scard',
  '+srem',
  '+del',
  '+ping',
  '+time',
  '+get',
  '+set',
  '+incr',
  '+hget',
  '+hset',
  '+hdel',
  '+hgetall',
  '+zadd',
  '+zscore',
  '+zrange',
  '+zrangebyscore',
  '+zrem',
  '+sadd',
  '+pexpire',
  '+info',
];
/** Every password of this file: none may show in a server's output. */
const SECRET = /s3cret/;

describe.runIf(hasRedis)(
  'the Sentinel shorthand with credentials, on servers and a sentinel with default off',
  () => {
    const setup = usePrivateSentinel();
    /** A command as the admin user (the helper's own commands have no user, and default is off). */
    let asAdmin: (port: number, ...args: string[]) => Promise<unknown>;
    let primary: number;
    let sentinelPort: number;

    beforeAll(async () => {
      const s = setup.current;
      primary = s.firstPrimaryPort;
      sentinelPort = s.sentinelRootNodes[0]?.port as number;
      const info = String(await s.command(primary, 'INFO', 'replication'));
      let replica = Number(info.match(/slave0:ip=[^,]*,port=(\d+)/)?.[1]);
      expect(replica).toBeGreaterThan(0);
      for (const port of [primary, replica]) {
        await setServerUsers((...args) => s.command(port, ...args), {
          admin,
          app,
          appRules: APP_RULES,
          monitor,
          replication,
        });
      }
      const { name } = s;
      // No failover here (the sentinel's links drop below when default goes off): a longer
      // down-after than the helper's 600 ms keeps the primary where it is.
      expect(await s.command(sentinelPort, 'SENTINEL', 'SET', name, 'down-after-milliseconds', '10000')).toBe(
        'OK',
      );
      expect(await s.command(sentinelPort, 'SENTINEL', 'SET', name, 'auth-user', monitor.username)).toBe(
        'OK',
      );
      expect(await s.command(sentinelPort, 'SENTINEL', 'SET', name, 'auth-pass', monitor.password)).toBe(
        'OK',
      );
      const setSentinelUser = (...rules: string[]) => s.command(sentinelPort, 'ACL', 'SETUSER', ...rules);
      expect(
        await setSentinelUser(sentinelApp.username, 'on', `>${sentinelApp.password}`, ...SENTINEL_APP_RULES),
      ).toBe('OK');
      expect(await setSentinelUser(admin.username, 'on', `>${admin.password}`, '+@all')).toBe('OK');
      for (const port of [primary, replica, sentinelPort])
        expect(await s.command(port, 'ACL', 'SETUSER', 'default', 'off')).toBe('OK');
      const clients = new Map<number, { sendCommand(args: string[]): Promise<unknown>; destroy(): void }>();
      for (const port of [primary, replica, sentinelPort]) {
        const client = createClient({ url: `redis://127.0.0.1:${port}`, ...admin });
        client.on('error', () => {});
        await client.connect();
        clients.set(port, client);
        await client.sendCommand(['CLIENT', 'KILL', 'USER', 'default']);
      }
      asAdmin = (port, ...args) =>
        clients.get(port)?.sendCommand(args) ?? Promise.reject(new Error(`${port}?`));
      // The sentinel reaches the servers again as its user, the replica is in sync again. (On a
      // loaded machine the sentinel may have called the primary down meanwhile, its down-after
      // being 600 ms, and failed over: then the roles are the other way round, once settled.)
      await vi.waitFor(
        async () => {
          const master = (await asAdmin(
            sentinelPort,
            'SENTINEL',
            'GET-MASTER-ADDR-BY-NAME',
            name,
          )) as string[];
          const current = Number(master[1]);
          const other = current === primary ? replica : primary;
          expect(pairs(await asAdmin(sentinelPort, 'SENTINEL', 'MASTER', name)).flags).toBe('master');
          const otherInfo = String(await asAdmin(other, 'INFO', 'replication'));
          expect(otherInfo).toMatch(/role:slave/);
          expect(otherInfo).toContain(`master_port:${current}`);
          expect(otherInfo).toMatch(/master_link_status:up/);
          expect(String(await asAdmin(current, 'CLIENT', 'LIST'))).toMatch(/user=sentinel-monitor\b/);
          [primary, replica] = [current, other];
        },
        { timeout: 30_000 },
      );
      for (const port of [primary, replica, sentinelPort]) await asAdmin(port, 'ACL', 'LOG', 'RESET');
      return async () => {
        for (const client of clients.values()) client.destroy();
      };
    }, 60_000);

    const sentinels = (): RedisSentinelNodes => ({
      name: setup.current.name,
      sentinelRootNodes: [...setup.current.sentinelRootNodes],
    });
    const slotsOf = async (keyPrefix: string, user: string) =>
      Number(await asAdmin(primary, 'HLEN', `${keyPrefix}:{u:${user}}:slots`));
    const usersOn = async (port: number) =>
      new Set([...String(await asAdmin(port, 'CLIENT', 'LIST')).matchAll(/ user=(\S+)/g)].map((m) => m[1]));

    it('nodeClientOptions and sentinelClientOptions: the store connects as those users and books', async () => {
      const keyPrefix = freshPrefix();
      const t = await startServer({
        cluster: {
          redis: { ...sentinels(), nodeClientOptions: { ...app }, sentinelClientOptions: { ...sentinelApp } },
          nodeId: 'cred-a',
          keyPrefix,
          leaseTtlMs: 3_000,
          commandTimeoutMs: 300,
        },
      });
      await t.supervisor.ready({ signal: AbortSignal.timeout(10_000) });
      await connect(t.url('ann'));
      await connect(t.url('ann'));
      await vi.waitFor(async () => expect(await slotsOf(keyPrefix, 'ann')).toBe(2), ioWait);
      expect(await usersOn(primary)).toContain(app.username);
      expect(await usersOn(sentinelPort)).toContain(sentinelApp.username);
      expect(t.errors.map((error) => `${error.code}: ${error.message}`)).toEqual([]);
      await t.supervisor.shutdown();
      expect(await slotsOf(keyPrefix, 'ann')).toBe(0);
      for (const port of [primary, sentinelPort])
        expect(await asAdmin(port, 'ACL', 'LOG'), `${port}`).toEqual([]);
    }, 30_000);

    /** The reference server on the setup, with `env`; its /stats?cluster=1 URL. */
    const referenceServer = async (env: NodeJS.ProcessEnv, args: string[] = []) => {
      const [root] = setup.current.sentinelRootNodes;
      const program = runProgram(
        'dist/examples/reference-server/main.js',
        [
          '--preset',
          'test',
          '--redis-sentinel',
          `${setup.current.name}@${root?.host}:${root?.port}`,
          ...args,
        ],
        env,
      );
      const [, url] = (await program.waitFor(/listening on (ws:\/\/\S+)/)) as RegExpMatchArray;
      return { program, url: url as string, http: (url as string).replace('ws://', 'http://') };
    };
    const credentialsEnv = {
      WSSUP_REDIS_USERNAME: app.username,
      WSSUP_REDIS_PASSWORD: app.password,
      WSSUP_REDIS_SENTINEL_USERNAME: sentinelApp.username,
      WSSUP_REDIS_SENTINEL_PASSWORD: sentinelApp.password,
    };

    it('the reference server with the four variables serves a user and /stats?cluster=1; no password in its output', async () => {
      const { program, url, http } = await referenceServer(credentialsEnv, ['--node-id', 'ref-cred']);
      const ws = await connect(`${url}/?user=bob`);
      await vi.waitFor(async () => expect(await slotsOf('wssup', 'bob')).toBe(1), ioWait);
      await vi.waitFor(async () => {
        const reply = await fetch(`${http}/stats?cluster=1`);
        expect(reply.status).toBe(200);
        const { global } = (await reply.json()) as {
          global: { users: number; connections: number; nodes: { nodeId: string }[] };
        };
        expect(global).toMatchObject({ users: 1, connections: 1 });
        expect(global.nodes.map((node) => node.nodeId)).toEqual(['ref-cred']);
      }, ioWait);
      ws.close();
      await vi.waitFor(async () => expect(await slotsOf('wssup', 'bob')).toBe(0), ioWait);
      program.child.kill('SIGTERM');
      expect(await program.exited).toBe(0);
      expect(program.output()).not.toMatch(/error/i);
      expect(program.output()).not.toMatch(SECRET);
    }, 30_000);

    // node-redis retries a refused connection to the primary without a word until its own
    // limit (16 s): the store's connect deadline ends it first, and says what it was refused.
    it.each([
      ['WSSUP_REDIS_PASSWORD', 'the primary'],
      ['WSSUP_REDIS_SENTINEL_PASSWORD', 'a sentinel'],
    ])(
      'a wrong %s: the server runs, not ready, and says %s refused it (WRONGPASS), never the password',
      async (variable, who) => {
        const { program, http } = await referenceServer({ ...credentialsEnv, [variable]: 'wrong s3cret' }, [
          '--store-unavailable',
          'reject',
        ]);
        const [line] = (await program.waitFor(/^error WSSUP_STORE_UNAVAILABLE: .*$/m)) as RegExpMatchArray;
        expect(line).toBe(
          `error WSSUP_STORE_UNAVAILABLE: could not connect to the primary "${setup.current.name}" of the Redis ` +
            `Sentinels at 127.0.0.1:${sentinelPort}: no answer within 1000 ms; last error: ${who}: ` +
            'WRONGPASS invalid username-password pair or user is disabled.; a misconfiguration of cluster.redis: ' +
            'check the user name and password it gives (retrying does not cure this)',
        );
        expect((await fetch(`${http}/readyz`)).status).toBe(503);
        program.child.kill('SIGTERM');
        expect(await program.exited).toBe(0);
        expect(program.output()).not.toMatch(SECRET);
      },
      30_000,
    );
  },
);
