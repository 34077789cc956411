/**
 * The reference server never shows a secret: not the password of its Redis URL, however the
 * URL was written or whatever went wrong with it, nor the dashboard token. Each case runs
 * `ws-supervisor serve` (the built CLI) against a private redis-server that requires a
 * password, or against a port where nothing listens; connects one WebSocket client; reads every
 * endpoint a peer can reach (the token-guarded ones with the token), and a dashboard page with a
 * wrong token; stops it with SIGTERM; and looks for the secrets in everything it printed and
 * answered. (A security review's pass: the URL's query and fragment, and a stray argument,
 * printed them until then.)
 */
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { runProgram } from '../helpers/process.js';
import { freePort } from '../helpers/redis-server.js';
import { scopedCase } from '../helpers/test-scope.js';
import { hasRedis, usePrivateRedis } from './store-fixture.js';

const password = 'Pw-s3cret-4242';
const token = 'Tok-s3cret-7777-7777';
/** What a secret must never be shown as: in full, or its distinctive half. */
const secrets = /Pw-s3cret|s3cret-4242|Tok-s3cret|s3cret-7777/;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Everything a peer can read over HTTP, with the token where one is needed. */
const paths = [
  '/',
  '/stats',
  '/metrics',
  '/healthz',
  '/readyz',
  `/stats?cluster=1&token=${token}`,
  `/stats?perUser=1&cluster=1&token=${token}`,
  `/stats?user=alice&cluster=1&token=${token}`,
  `/dashboard/cluster?token=${token}`,
  `/dashboard?token=wrong-${token}`,
];

/** How a case ends: served with the lease held (the password was right), served without, or exit 2. */
type Outcome = 'lease held' | 'no lease' | 'exit 2';

/** A case: its name, how it ends, and its arguments and environment (given a port where nothing listens). */
type Case = [string, Outcome, (dead: number) => { args?: string[]; env?: Record<string, string> }];

/** Whether the server at `host` holds its lease, as its /stats says. */
async function leaseHeld(host: string): Promise<boolean> {
  const stats = (await (await fetch(`http://${host}/stats`)).json()) as { cluster?: { leaseHeld: boolean } };
  return stats.cluster?.leaseHeld === true;
}

/**
 * Runs the server with `args` and `env`: everything it printed and answered, and how it ended.
 * With `lease`, waits (at most 10 s) for the lease a right password gets: the store's first
 * connect and lease take far less than that, but more than a second on a loaded machine.
 */
async function everythingShown(args: string[], env: Record<string, string>, lease: boolean) {
  const server = runProgram('dist/src/cli.js', ['serve', '--preset', 'test', ...args], {
    WSSUP_DASHBOARD_TOKEN: token,
    ...env,
  });
  const listening = await Promise.race([
    server.waitFor(/listening on ws:\/\/(\S+)/).catch(() => undefined),
    server.exited.then(() => undefined),
  ]);
  const answers: string[] = [];
  let outcome: Outcome = 'exit 2';
  if (listening !== undefined) {
    const ws = new WebSocket(`ws://${listening[1]}/?user=alice`);
    await new Promise((resolve) => ws.once('open', resolve).once('error', resolve));
    // The store's first connect fails (or succeeds) within this; its error is printed by then.
    await sleep(1_000);
    for (const deadline = Date.now() + 10_000; lease && Date.now() < deadline; await sleep(100)) {
      if (await leaseHeld(listening[1] as string)) break;
    }
    for (const path of paths) {
      const response = await fetch(`http://${listening[1]}${path}`);
      // The status, headers and body: not the path, which holds the token.
      answers.push(`${response.status} ${JSON.stringify([...response.headers])}\n${await response.text()}`);
    }
    outcome = (await leaseHeld(listening[1] as string)) ? 'lease held' : 'no lease';
    ws.close();
    server.child.kill('SIGTERM');
  }
  const code = await server.exited;
  return { shown: `${server.output()}\n${answers.join('\n')}`, outcome, code, answers: answers.length };
}

describe.runIf(hasRedis)('the reference server never shows its Redis password or its dashboard token', () => {
  const redis = usePrivateRedis();
  const at = () => `127.0.0.1:${redis.current.port}`;

  // Each case runs a server process of its own (its own port and node id, and its own port where
  // nothing listens), mostly waiting on it: they run concurrently, and scopedCase keeps each
  // process's cleanup on its own case. The cases on the shared redis-server all set the same
  // password first, and each reads only what its own server printed and answered.
  it.concurrent.for<Case>([
    [
      'the right password, from --redis',
      'lease held',
      () => ({ args: ['--redis', `redis://default:${password}@${at()}`] }),
    ],
    [
      'the right password, from WSSUP_REDIS_URL',
      'lease held',
      () => ({ env: { WSSUP_REDIS_URL: `redis://:${password}@${at()}` } }),
    ],
    ['a wrong password', 'no lease', () => ({ args: ['--redis', `redis://default:x${password}@${at()}`] })],
    [
      'nothing listening',
      'no lease',
      (dead) => ({ args: ['--redis', `redis://default:${password}@127.0.0.1:${dead}`] }),
    ],
    [
      'nothing listening, refusing while Redis is away',
      'no lease',
      (dead) => ({
        args: ['--redis', `redis://u:${password}@127.0.0.1:${dead}`, '--store-unavailable', 'reject'],
      }),
    ],
    [
      // node-redis reads no query nor fragment: refused at startup.
      'the password in the query, as other clients take it',
      'exit 2',
      () => ({ args: ['--redis', `redis://${at()}?password=${password}`] }),
    ],
    [
      'the password after an unencoded #',
      'exit 2',
      (dead) => ({ args: ['--redis', `redis://localhost:${dead}#${password}@${at()}`] }),
    ],
    [
      'a Redis Cluster root node',
      'no lease',
      (dead) => ({ args: ['--redis-cluster', `redis://u:${password}@127.0.0.1:${dead}`] }),
    ],
    [
      // A path that is no database number: refused at startup (node-redis takes none).
      'a Redis Cluster root node whose password has an unencoded /',
      'exit 2',
      (dead) => ({ args: ['--redis-cluster', `redis://localhost:${dead}/${password}@${at()}`] }),
    ],
    [
      'a URL of another scheme',
      'exit 2',
      () => ({ args: ['--redis', `http://u:${password}@${at()}?password=${password}`] }),
    ],
    // A common slip for redis://:password@host: the password where a user name goes.
    [
      'the password as the user name, nothing listening',
      'no lease',
      (dead) => ({ args: ['--redis', `redis://${password}@127.0.0.1:${dead}`] }),
    ],
    [
      'the password as the user name of a root node, nothing listening',
      'no lease',
      (dead) => ({ args: ['--redis-cluster', `redis://${password}@127.0.0.1:${dead}`] }),
    ],
    [
      'the password as the user name of a URL of another scheme',
      'exit 2',
      () => ({ args: ['--redis', `http://${password}@${at()}`] }),
    ],
    // Told what is wrong at startup since a review: none of these may quote the password either.
    [
      'a Redis Cluster root node whose password has an unencoded ,',
      'exit 2',
      () => ({ args: ['--redis-cluster', `redis://u:${password.replace('-4242', ',4242')}@${at()}`] }),
    ],
    [
      'a Redis Cluster root node whose password starts after an unencoded ,',
      'exit 2',
      () => ({ args: ['--redis-cluster', `redis://:42,${password}@${at()}`] }),
    ],
    [
      'a password with a % that is no percent-encoding',
      'exit 2',
      () => ({ args: ['--redis', `redis://:${password}%zz@${at()}`] }),
    ],
    [
      'a password with a % that decodes to no UTF-8',
      'exit 2',
      () => ({ env: { WSSUP_REDIS_URL: `redis://u:${password}%FF@${at()}` } }),
    ],
    [
      'an @ and the password in the query',
      'exit 2',
      () => ({ args: ['--redis', `redis://${at()}/0?x=a@${password}`] }),
    ],
    ['a URL without its --redis', 'exit 2', () => ({ args: [`redis://:${password}@${at()}`] })],
    [
      'a token with an unquoted space',
      'exit 2',
      () => ({ args: ['--dashboard-token', 'Tok', 's3cret-7777'] }),
    ],
  ])(
    '%s (%s)',
    { timeout: 20_000 },
    scopedCase<Case>(async ([_name, expected, setup]) => {
      await redis.current.command('CONFIG', 'SET', 'requirepass', password);
      const { args = [], env = {} } = setup(await freePort());
      const { shown, outcome, code, answers } = await everythingShown(args, env, expected === 'lease held');
      // Served and read (or refused at startup) as the case means: not a run that showed nothing.
      expect({ outcome, code, answers }).toEqual(
        expected === 'exit 2'
          ? { outcome, code: 2, answers: 0 }
          : { outcome: expected, code: 0, answers: paths.length },
      );
      expect(shown).toMatch(expected === 'exit 2' ? /^error: /m : /^listening on /m);
      expect(shown).not.toMatch(secrets);
    }),
  );
});
