/**
 * The Redis Sentinel form of single-stop-during-pubsub-reconnect.test.ts: stop() while the
 * store's pub/sub connection to the primary reconnected.
 *
 * Through Sentinel that connection is node-redis's own: a sentinel client keeps its pub/sub
 * connection in a private PubSubProxy (sentinel/pub-sub-proxy.js) and its command connection in
 * a private pool, and its destroy() calls each client's destroy(). node-redis 6.3 does not stop a
 * client destroyed while its connect is on its way (destroy() finds no socket to close yet): the
 * connect completes, and the pub/sub client subscribes again.
 *
 * Held here as there: TLS, the primary stopped (SIGSTOP) until the connections are reconnecting,
 * stop(), then SIGCONT. The sentinels are told first to wait a minute before calling the primary
 * down, so no failover comes meanwhile. Messages keep coming on the channel, so a subscriber left
 * behind is never idle. The same right after a failover, and (pinned, below) with the store's own
 * sentinel client.
 *
 * Those connections are the app's client's duplicate()'s: the store now puts an AbortSignal on
 * every socket of it and aborts it once the duplicate is destroyed (stoppableDuplicate in
 * src/cluster/redis-client.ts).
 */
import { createClient, createSentinel } from 'redis';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { createKeyLayout } from '../../src/cluster/redis-keys.js';
import { freshPrefix, hasRedis, startStoreOn, usePrivateSentinel } from '../cluster/store-fixture.js';
import { recordDuplicates } from '../helpers/recorded-duplicates.js';
import type { PrivateRedisSentinel } from '../helpers/redis-sentinel.js';
import { testTls } from '../helpers/redis-server.js';

/** The clients of the server on `port`: not the sentinels' (named), the replica's (flag S) or the asking one. */
async function clientsOf(setup: PrivateRedisSentinel, port: number): Promise<number> {
  return String(await setup.command(port, 'CLIENT', 'LIST'))
    .split('\n')
    .filter(
      (line) =>
        line.includes('id=') &&
        !/ name=sentinel-/.test(line) &&
        !/ flags=\w*S/.test(line) &&
        !/cmd=client\|list/.test(line),
    ).length;
}

describe.runIf(hasRedis)(
  'regression: stop() while the store’s pub/sub connection reconnects (Redis Sentinel)',
  () => {
    const sentinel = usePrivateSentinel({ tls: true });

    const clients = (port: number) => clientsOf(sentinel.current, port);

    /** Stops (SIGSTOP) or resumes (SIGCONT) the server on `port`, without a failover. */
    const signal = async (port: number, name: 'SIGSTOP' | 'SIGCONT') => {
      const info = String(await sentinel.current.command(port, 'INFO', 'server'));
      const pid = Number(info.match(/process_id:(\d+)/)?.[1]);
      return () => process.kill(pid, name);
    };

    /**
     * The app's sentinel client, lent to the store (which duplicates it for its pub/sub). As in the
     * single test: a silent connection dropped within a second and connected again, and a connect
     * that may take 10 s.
     */
    const appSentinel = async () => {
      const s = sentinel.current;
      const app = createSentinel({
        name: s.name,
        sentinelRootNodes: [...s.sentinelRootNodes],
        nodeClientOptions: {
          disableOfflineQueue: true,
          pingInterval: 300,
          socket: {
            tls: true,
            ca: testTls.ca,
            socketTimeout: 1_000,
            connectTimeout: 10_000,
            reconnectStrategy: () => 100,
          },
        },
        sentinelClientOptions: { socket: { tls: true, ca: testTls.ca } },
        // Its node clients' errors as 'error' too (watched below, on the store's duplicate).
        passthroughClientErrorEvents: true,
      });
      app.on('error', () => {});
      await app.connect();
      onTestFinished(() => app.destroy());
      return app;
    };

    /** Calls `publish` every 50 ms until the returned stop is called or the test ends: a subscriber left behind is never idle. */
    const keepPublishing = (publish: () => Promise<unknown>) => {
      let publishing = true;
      const publisher = (async () => {
        while (publishing) {
          await publish().catch(() => {});
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      })();
      const stop = async () => {
        publishing = false;
        await publisher;
      };
      onTestFinished(stop);
      return stop;
    };

    it('leaves no connection and no subscription behind once the held connect completes; the app’s own client stays', async () => {
      const s = sentinel.current;
      const primary = await s.primaryPort();
      // No failover while the primary is stopped below: this is about the reconnect alone.
      for (const { port } of s.sentinelRootNodes) {
        expect(await s.command(port, 'SENTINEL', 'SET', s.name, 'down-after-milliseconds', '60000')).toBe(
          'OK',
        );
      }
      onTestFinished(async () => {
        for (const { port } of s.sentinelRootNodes) {
          await s.command(port, 'SENTINEL', 'SET', s.name, 'down-after-milliseconds', '600');
        }
      });
      const keys = createKeyLayout(freshPrefix());
      const app = await appSentinel();
      const duplicates = recordDuplicates<{
        on(event: string, listener: (...args: unknown[]) => void): unknown;
      }>(app);
      const appOnly = await clients(primary);
      expect(appOnly).toBe(1); // the app's command client
      const a = await startStoreOn({
        redis: app,
        keyPrefix: keys.prefix,
        nodeId: 's',
        commandTimeoutMs: 300,
      });
      const channel = keys.orders('s');
      expect(await s.command(primary, 'PUBSUB', 'SHARDNUMSUB', channel)).toEqual([channel, 1]);
      expect(duplicates).toHaveLength(1);
      // The duplicate's pub/sub client reports its dropped socket as the duplicate's 'error'
      // (PubSubProxy's onError, as it is), and its command client too, "Master Client (…): …"
      // (passthroughClientErrorEvents); each then connects again.
      let pubSubDropped = 0;
      let commandDropped = 0;
      duplicates[0]?.on('error', (error) => {
        if (/^Master Client/.test(String((error as Error).message))) commandDropped += 1;
        else pubSubDropped += 1;
      });

      const stop = await signal(primary, 'SIGSTOP');
      const resume = await signal(primary, 'SIGCONT');
      stop();
      let resumed = false;
      onTestFinished(() => {
        if (!resumed) resume();
      });
      await vi.waitFor(
        () => {
          expect(pubSubDropped).toBeGreaterThan(0);
          expect(commandDropped).toBeGreaterThan(0);
        },
        { timeout: 5_000, interval: 10 },
      );
      await a.store.stop();
      resume();
      resumed = true;

      const stopPublishing = keepPublishing(() =>
        app.sendCommand(false, ['SPUBLISH', channel, 'after stop']),
      );
      const settled = async () => {
        expect(await clients(primary)).toBe(appOnly);
        expect(await s.command(primary, 'PUBSUB', 'SHARDNUMSUB', channel)).toEqual([channel, 0]);
      };
      await vi.waitFor(settled, { timeout: 10_000, interval: 50 });
      for (let i = 0; i < 20; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        await settled();
      }
      await stopPublishing();
      // The app's own client was lent, not owned: it still answers.
      expect(await app.sendCommand(false, ['SET', `${keys.prefix}:after`, 'still here'])).toBe('OK');
    }, 40_000);

    // Last: it moves the primary. node-redis's failover (transform) destroys the old primary's
    // clients, the duplicate's pub/sub client among them, while their connects to the stopped
    // server are held: as above, they complete once it runs again, and the pub/sub client
    // subscribes there again. stop() right after the switch must end them too.
    it('mid-failover: leaves no connection and no subscription behind on the old primary or the promoted one', async () => {
      const s = sentinel.current;
      const keys = createKeyLayout(freshPrefix());
      const app = await appSentinel();
      const duplicates = recordDuplicates<{
        on(event: string, listener: (...args: unknown[]) => void): unknown;
      }>(app);
      const a = await startStoreOn({
        redis: app,
        keyPrefix: keys.prefix,
        nodeId: 'f',
        commandTimeoutMs: 300,
      });
      const channel = keys.orders('f');
      const old = await s.primaryPort();
      expect(await s.command(old, 'PUBSUB', 'SHARDNUMSUB', channel)).toEqual([channel, 1]);
      let switched = false;
      duplicates[0]?.on('topology-change', (event) => {
        if ((event as { type?: string }).type === 'MASTER_CHANGE') switched = true;
      });

      const { frozenPort, promotedPort } = await s.freeze();
      expect(frozenPort).toBe(old);
      let thawed = false;
      onTestFinished(async () => {
        if (!thawed) await s.thaw(frozenPort);
      });
      await vi.waitFor(() => expect(switched).toBe(true), { timeout: 10_000, interval: 10 });
      await a.store.stop();
      await s.thaw(frozenPort);
      thawed = true;

      // Orders on the channel on both servers: the old one still takes them (it is made a
      // replica some seconds later), and a subscriber left on either is never idle.
      const stopPublishing = keepPublishing(() =>
        Promise.all([
          app.sendCommand(false, ['SPUBLISH', channel, 'after stop']),
          s.command(frozenPort, 'SPUBLISH', channel, 'after stop'),
        ]),
      );
      const settled = async () => {
        expect(await s.command(frozenPort, 'PUBSUB', 'SHARDNUMSUB', channel)).toEqual([channel, 0]);
        expect(await s.command(promotedPort, 'PUBSUB', 'SHARDNUMSUB', channel)).toEqual([channel, 0]);
        // The app's command client alone on the promoted primary.
        expect(await clients(promotedPort)).toBe(1);
      };
      await vi.waitFor(settled, { timeout: 10_000, interval: 50 });
      for (let i = 0; i < 20; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        await settled();
      }
      await stopPublishing();
      expect(await app.sendCommand(false, ['SET', `${keys.prefix}:after`, 'still here'])).toBe('OK');
    }, 60_000);
  },
);

/**
 * The store's own sentinel client (`{ name, sentinelRootNodes }`): its pub/sub connection is that
 * client's own, ended by its destroy() at stop. It speaks plain TCP only (the option takes no
 * TLS), whose connect on loopback completes at once even to a stopped server (the kernel
 * accepts): nothing holds it the way TLS does above. A pinned guarantee, then: stop() as the
 * sentinels promote a replica leaves no connection on either server once the old one runs again.
 */
describe.runIf(hasRedis)('stop() mid-failover with the store’s own sentinel client', () => {
  const sentinel = usePrivateSentinel();

  const clients = (port: number) => clientsOf(sentinel.current, port);

  it('leaves no connection and no subscription on the old primary or the promoted one', async () => {
    const s = sentinel.current;
    const keys = createKeyLayout(freshPrefix());
    const a = await startStoreOn({
      redis: { name: s.name, sentinelRootNodes: [...s.sentinelRootNodes] },
      keyPrefix: keys.prefix,
      nodeId: 'o',
      commandTimeoutMs: 300,
    });
    const channel = keys.orders('o');
    const old = await s.primaryPort();
    expect(await s.command(old, 'PUBSUB', 'SHARDNUMSUB', channel)).toEqual([channel, 1]);
    expect(await clients(old)).toBe(2); // its command and pub/sub connections

    const { frozenPort, promotedPort } = await s.freeze();
    let thawed = false;
    onTestFinished(async () => {
      if (!thawed) await s.thaw(frozenPort);
    });
    await a.store.stop();
    await s.thaw(frozenPort);
    thawed = true;

    // One publishing connection to each server (counted below), each its own.
    const publishers = await Promise.all(
      [frozenPort, promotedPort].map(async (port) => {
        const publisher = createClient({ socket: { host: '127.0.0.1', port } });
        publisher.on('error', () => {});
        await publisher.connect();
        onTestFinished(() => publisher.destroy());
        return publisher;
      }),
    );
    let publishing = true;
    const publisher = (async () => {
      while (publishing) {
        for (const one of publishers) await one.sPublish(channel, 'after stop').catch(() => {});
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    onTestFinished(async () => {
      publishing = false;
      await publisher;
    });
    const settled = async () => {
      for (const port of [frozenPort, promotedPort]) {
        expect(await clients(port)).toBe(1); // the publisher
        expect(await s.command(port, 'PUBSUB', 'SHARDNUMSUB', channel)).toEqual([channel, 0]);
      }
    };
    await vi.waitFor(settled, { timeout: 10_000, interval: 50 });
    for (let i = 0; i < 20; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      await settled();
    }
  }, 60_000);
});
