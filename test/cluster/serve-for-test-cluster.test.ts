/**
 * serveForTest()'s open() in cluster mode: the admission goes through the cluster-wide book
 * (an await on Redis) before the machines take it, and each client still gets the connection
 * admitted on its own socket, for several clients of one user opened at once and admitted in
 * the reverse order.
 *
 * Real redis-server (the test's private one), real sockets.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { createSupervisor } from '../../src/index.js';
import { serveForTest } from '../../src/testing/index.js';
import { freshPrefix, hasRedis, usePrivateRedis } from './store-fixture.js';

describe.runIf(hasRedis)('cluster: serveForTest() open() tells each client its connection', () => {
  const redis = usePrivateRedis();

  it('for three clients of one user opened at once, admitted in reverse order', async () => {
    // authenticate answers only once all three requests are in, the last one first: the
    // admissions come in the reverse order of the opens (a "next admitted" reading fails).
    const verdicts: Array<() => void> = [];
    let allIn: () => void = () => {};
    const arrived = new Promise<void>((resolve) => {
      allIn = resolve;
    });
    const supervisor = createSupervisor({
      preset: 'test',
      authenticate: (request) =>
        new Promise((resolve) => {
          verdicts.push(() => resolve(new URLSearchParams(request.url?.split('?')[1]).get('user')));
          if (verdicts.length === 3) allIn();
        }),
      cluster: { redis: redis.current.url, nodeId: 'testkit', keyPrefix: freshPrefix(), leaseTtlMs: 3_000 },
    });
    const app = await serveForTest(supervisor);
    onTestFinished(() => app.close());
    await supervisor.ready({ signal: AbortSignal.timeout(10_000) });
    const admittedIds: string[] = [];
    supervisor.on('admitted', ({ connectionId }) => admittedIds.push(connectionId));
    const opening = Promise.all([1, 2, 3].map((n) => app.open(`/?user=alice&n=${n}`)));
    await arrived;
    for (const verdict of verdicts.reverse()) verdict();
    const clients = await opening;
    expect(clients.map(({ userId }) => userId)).toEqual(['alice', 'alice', 'alice']);
    expect(admittedIds).toEqual(clients.map(({ connectionId }) => connectionId).reverse());
    expect(new Set(clients.map(({ connectionId }) => connectionId)).size).toBe(3);
    for (const [n, client] of clients.entries()) {
      expect(supervisor.connection(client.connectionId)?.send(`to ${n}`)).toBe(true);
    }
    for (const [n, client] of clients.entries()) expect((await client.messages.next()).text).toBe(`to ${n}`);
    expect(await supervisor.userStats('alice', { cluster: true })).toMatchObject({ live: 3 });
  });
});
