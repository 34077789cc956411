/**
 * A new user's first run of cluster mode with a wrong Redis setting (found by a trial of the
 * README's "Running several processes"): under the default `onStoreUnavailable: 'local'` it
 * looked like a short outage that never ends. The process admitted on its own limit, and
 * `ready({ signal })` rejected with the signal's TimeoutError only, not saying why.
 *
 * - a wrong password (WRONGPASS) or a database number this Redis does not have (`/99`):
 *   retrying cannot cure either, so `onError` says it is a misconfiguration of
 *   `cluster.redis`, and `ready()` rejects with that error (as for another store format);
 * - any failed first start (nothing listening, say): a `ready()` ended by its signal
 *   rejects with a DOMException of the reason's name and message (new: the app's reason, maybe
 *   shared by several waits, is never changed), with the store's last error as its `cause`;
 * - an app's own node-redis client that was never connected (or is closed already) is
 *   refused by createSupervisor() (WSSUP_INVALID_OPTION, `cluster.redis`): it only
 *   reported "The client is closed" on every retry, forever.
 *
 * On a private redis-server (free port), real sockets.
 */
import { createClient, createCluster } from 'redis';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { createSupervisor, InvalidOptionError, SupervisorError } from '../../src/index.js';
import { freePort } from '../helpers/redis-server.js';
import { ioWait, startServer } from '../helpers/server.js';
import { hasRedis, usePrivateRedis } from './store-fixture.js';

const password = 'trial s3cret';

/** What ready() settles with, or 'resolved'. */
const settled = (call: Promise<void>) =>
  call.then(
    () => 'resolved' as const,
    (error: unknown) => error,
  );

describe.runIf(hasRedis)('a wrong Redis setting at start', () => {
  const redis = usePrivateRedis();

  it('a wrong password: onError names the misconfiguration, and ready() rejects with it', async () => {
    expect(await redis.current.command('CONFIG', 'SET', 'requirepass', password)).toBe('OK');
    onTestFinished(async () => {
      const admin = createClient({ url: redis.current.url, password });
      await admin.connect();
      await admin.configSet('requirepass', '');
      await admin.close();
    });
    const url = `redis://:wrong@127.0.0.1:${redis.current.port}`;
    const t = await startServer({ cluster: { redis: url, commandTimeoutMs: 300 } });
    const error = await settled(t.supervisor.ready({ signal: AbortSignal.timeout(10_000) }));
    expect(error).toBeInstanceOf(SupervisorError);
    expect(error).toMatchObject({ code: 'WSSUP_STORE_UNAVAILABLE' });
    expect((error as Error).message).toMatch(/WRONGPASS/);
    expect((error as Error).message).toMatch(/misconfiguration.*cluster\.redis/);
    expect(t.errors[0]?.message).toBe((error as Error).message);
    expect(t.supervisor.stats().cluster?.leaseHeld).toBe(false);
  });

  it('a database number this Redis does not have (/99): named as a misconfiguration too', async () => {
    const t = await startServer({
      cluster: { redis: `redis://127.0.0.1:${redis.current.port}/99`, commandTimeoutMs: 300 },
    });
    const error = await settled(t.supervisor.ready({ signal: AbortSignal.timeout(10_000) }));
    expect(error).toMatchObject({ code: 'WSSUP_STORE_UNAVAILABLE' });
    expect((error as Error).message).toMatch(/DB index is out of range/);
    expect((error as Error).message).toMatch(/misconfiguration.*cluster\.redis/);
  });

  it('nothing listening: ready() ended by its signal carries the last store error as its cause', async () => {
    const port = await freePort();
    const t = await startServer({ cluster: { redis: `redis://127.0.0.1:${port}`, commandTimeoutMs: 300 } });
    await vi.waitFor(() => expect(t.errors.length).toBeGreaterThan(0), ioWait);
    const controller = new AbortController();
    const waiting = settled(t.supervisor.ready({ signal: controller.signal }));
    controller.abort(new DOMException('gave up', 'TimeoutError'));
    const error = (await waiting) as DOMException & { cause?: unknown };
    expect(error.name).toBe('TimeoutError');
    expect(error.cause).toBe(t.errors.at(-1));
    expect((error.cause as Error).message).toMatch(/ECONNREFUSED/);
    // A reason of the app's own that is no DOMException is passed on untouched.
    const own = { mine: true };
    const ownController = new AbortController();
    const ownWait = settled(t.supervisor.ready({ signal: ownController.signal }));
    ownController.abort(own);
    expect(await ownWait).toBe(own);
    expect(own).toEqual({ mine: true });
  });
});

// Nothing listens there: no redis-server needed.
describe('a signal shared by several ready() waits', () => {
  // Review: the store's failure was defined as `cause` ON the signal's reason, an object the
  // app owns and may share: the reason kept it, and a later wait (or the app) saw a stale cause.
  it("leaves the signal's reason as it was, and each wait it ends still carries the store's failure", async () => {
    const port = await freePort();
    const t = await startServer({ cluster: { redis: `redis://127.0.0.1:${port}`, commandTimeoutMs: 300 } });
    await vi.waitFor(() => expect(t.errors.length).toBeGreaterThan(0), ioWait);
    const reason = new DOMException('gave up', 'TimeoutError');
    const controller = new AbortController();
    const waits = [
      t.supervisor.ready({ signal: controller.signal }),
      t.supervisor.ready({ signal: controller.signal }),
    ];
    controller.abort(reason);
    // And one more with the same signal, aborted already.
    waits.push(t.supervisor.ready({ signal: controller.signal }));
    const errors = (await Promise.all(waits.map(settled))) as (DOMException & { cause?: unknown })[];
    expect(Object.hasOwn(reason, 'cause')).toBe(false);
    expect(reason.cause).toBeUndefined();
    for (const error of errors) {
      expect(error).toBeInstanceOf(DOMException);
      expect(error).toMatchObject({ name: 'TimeoutError', message: 'gave up' });
      expect(error.cause).toBe(t.errors.at(-1));
    }
  });
});

describe.runIf(hasRedis)("an app's own client that is not open", () => {
  const redis = usePrivateRedis();

  const refused = (client: unknown) => {
    let thrown: unknown;
    try {
      createSupervisor({ authenticate: () => 'ann', cluster: { redis: client as string } });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(InvalidOptionError);
    expect(thrown).toMatchObject({ code: 'WSSUP_INVALID_OPTION', option: 'cluster.redis' });
    expect((thrown as Error).message).toContain('await client.connect()');
  };

  it('never connected: createSupervisor() throws WSSUP_INVALID_OPTION naming cluster.redis and the fix', () => {
    refused(createClient({ url: redis.current.url, disableOfflineQueue: true }));
    refused(createCluster({ rootNodes: [{ url: redis.current.url }] }));
  });

  it('closed already: the same', async () => {
    const client = createClient({ url: redis.current.url, disableOfflineQueue: true });
    client.on('error', () => {});
    await client.connect();
    await client.close();
    refused(client);
  });
});
