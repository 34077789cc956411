/**
 * What `onError` says when the store cannot connect to Redis: the message names the Redis
 * (its URL without the password) and why, as Redis or the socket said it. It said only
 * "could not connect to Redis at redis://:***@127.0.0.1:<port>", the reason left in `cause`:
 * an app that logs `${error.code}: ${error.message}`, as the README's cluster example does,
 * could not tell a wrong password from a Redis that is down. (Found by running the packed
 * package against a private Redis with `requirepass`.)
 *
 * On a private redis-server that requires a password (set once it is up).
 */
import { describe, expect, it, vi } from 'vitest';
import { createSupervisor, InvalidOptionError, type SupervisorError } from '../../src/index.js';
import { freePort } from '../helpers/redis-server.js';
import { ioWait, startServer } from '../helpers/server.js';
import { hasRedis, usePrivateRedis } from './store-fixture.js';

const password = 'connect s3cret';

/** The first error the supervisor reports, with a store that cannot connect to `redis`. */
async function firstError(redis: string): Promise<SupervisorError> {
  const t = await startServer({ cluster: { redis, commandTimeoutMs: 300 } });
  await vi.waitFor(() => expect(t.errors.length).toBeGreaterThan(0), ioWait);
  const [error] = t.errors as [SupervisorError];
  expect(t.supervisor.stats().cluster?.leaseHeld).toBe(false);
  return error;
}

describe.runIf(hasRedis)('the store cannot connect: onError says why', () => {
  const redis = usePrivateRedis();

  it('a wrong password: WRONGPASS, in the message; the password itself nowhere', async () => {
    expect(await redis.current.command('CONFIG', 'SET', 'requirepass', password)).toBe('OK');
    const url = `redis://:wrong-${encodeURIComponent(password)}@127.0.0.1:${redis.current.port}`;
    const error = await firstError(url);
    expect(error.code).toBe('WSSUP_STORE_UNAVAILABLE');
    expect(error.message).toBe(
      `could not connect to Redis at redis://:***@127.0.0.1:${redis.current.port}: WRONGPASS invalid username-password pair or user is disabled.; ` +
        'a misconfiguration of cluster.redis: check the user name and password it gives (retrying does not cure this)',
    );
    expect(error.message).not.toContain('s3cret');
  });

  it('no password where one is required: NOAUTH, in the message', async () => {
    const error = await firstError(`redis://127.0.0.1:${redis.current.port}`);
    expect(error.message).toMatch(
      new RegExp(`^could not connect to Redis at redis://127\\.0\\.0\\.1:${redis.current.port}: NOAUTH `),
    );
  });

  it('nothing listening: the socket error, in the message', async () => {
    const port = await freePort();
    const error = await firstError(`redis://127.0.0.1:${port}`);
    expect(error.message).toBe(
      `could not connect to Redis at redis://127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}`,
    );
  });
});

/**
 * A password written where node-redis does not read one: in a query (`?password=`, as redis-py
 * and go-redis take it) or after an unencoded `#` (`:12#pass@` parses as port 12 and a
 * fragment), or a slash (`:12/pass@`, a path). The message showed the URL with them; then it
 * named the query and the fragment as `***`; now such a URL is refused at once (node-redis reads
 * no query nor fragment: `?db=2` silently meant database 0), the secret not shown. Needs no
 * redis-server: nothing listens on the port.
 */
describe('the store cannot connect: a secret outside the user info is hidden too', () => {
  const secret = 'Qu3ry-s3cret';

  it('a password in the query, or after an unencoded / or #: refused at once, the secret not shown', () => {
    // `redis://u:12/…@host` parses as port 12 and a path, which node-redis refuses (not a
    // database number) only when it connects; a query or a fragment it ignores. The option
    // check refuses each before, by name.
    const port = 6390;
    for (const [redis, option] of [
      [{ rootNodes: [`redis://localhost:${port}/${secret}@127.0.0.1:6379`] }, 'cluster.redis.rootNodes'],
      [`redis://localhost:${port}/${secret}@127.0.0.1:6379`, 'cluster.redis'],
      [`redis://127.0.0.1:${port}?password=${secret}`, 'cluster.redis'],
      [{ rootNodes: [`redis://127.0.0.1:${port}?password=${secret}`] }, 'cluster.redis.rootNodes'],
      [`redis://localhost:${port}#${secret}@127.0.0.1:6379`, 'cluster.redis'],
    ] as const) {
      let thrown: unknown;
      try {
        createSupervisor({ authenticate: () => ({ userId: 'u' }), cluster: { redis } });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(InvalidOptionError);
      expect(thrown).toMatchObject({ code: 'WSSUP_INVALID_OPTION', option });
      expect((thrown as Error).message).not.toContain(secret);
      expect(JSON.stringify((thrown as InvalidOptionError).received)).not.toContain(secret);
    }
  });

  // `redis://SECRET@host` is a common slip for `redis://:SECRET@host`: node-redis takes the
  // secret as a user name, and the message showed it as one.
  it('a password written as the user name (no colon): the user info shown as ***', async () => {
    const port = await freePort();
    const error = await firstError(`redis://${secret}@127.0.0.1:${port}`);
    expect(error.message).toBe(
      `could not connect to Redis at redis://***@127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}`,
    );
    const t = await startServer({
      cluster: { redis: { rootNodes: [`redis://${secret}@127.0.0.1:${port}`] }, commandTimeoutMs: 300 },
    });
    await vi.waitFor(() => expect(t.errors.length).toBeGreaterThan(0), ioWait);
    const [clusterError] = t.errors as [SupervisorError];
    expect(clusterError.message).toContain(`the Redis Cluster at redis://***@127.0.0.1:${port}: `);
  });

  it('a user name with a password: the user name kept, so that a wrong one can be seen', async () => {
    const port = await freePort();
    const error = await firstError(`redis://bob:${secret}@127.0.0.1:${port}`);
    expect(error.message).toMatch(
      new RegExp(`^could not connect to Redis at redis://bob:\\*\\*\\*@127\\.0\\.0\\.1:${port}: `),
    );
  });
});
