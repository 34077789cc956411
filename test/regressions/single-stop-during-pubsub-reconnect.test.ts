/**
 * The single-Redis form of cluster-stop-during-pubsub-reconnect.test.ts: stop() while the
 * store's pub/sub connection (a duplicate of the client) reconnected left it open, subscribed
 * again to the node's channel. node-redis 6.3 does not stop a client destroyed while its
 * connect is on its way (destroy() finds no socket to close yet): the connect completes and
 * resubscribes. Held here as there: TLS, the server stopped (SIGSTOP) until the duplicate is
 * reconnecting, stop(), then SIGCONT; messages keep coming on the channel, so a subscriber left
 * behind is never idle. The app's own client stays connected.
 */
import { createClient } from 'redis';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { createKeyLayout } from '../../src/cluster/redis-keys.js';
import { freshPrefix, hasRedis, startStoreOn, usePrivateRedis } from '../cluster/store-fixture.js';
import { recordDuplicates } from '../helpers/recorded-duplicates.js';
import { testTls } from '../helpers/redis-server.js';

describe.runIf(hasRedis)(
  'regression: stop() while the store’s pub/sub connection reconnects (single Redis)',
  () => {
    const redis = usePrivateRedis({ tls: true });

    /** The server's clients, but the asking connection. */
    const clients = async () =>
      String(await redis.current.command('CLIENT', 'LIST'))
        .split('\n')
        .filter((line) => line.includes('id=') && !/cmd=client\|list/.test(line)).length;

    it('leaves no connection and no subscription behind once the held connect completes; the app’s own client stays', async () => {
      const r = redis.current;
      const keys = createKeyLayout(freshPrefix());
      const app = createClient({
        url: r.url,
        disableOfflineQueue: true,
        // As in the cluster test: a silent connection dropped within a second and connected
        // again, and a connect that may take 10 s.
        pingInterval: 300,
        socket: {
          tls: true,
          ca: testTls.ca,
          socketTimeout: 1_000,
          connectTimeout: 10_000,
          reconnectStrategy: () => 100,
        },
      });
      app.on('error', () => {});
      await app.connect();
      onTestFinished(() => app.destroy());
      const duplicates = recordDuplicates<{ on(event: 'reconnecting', listener: () => void): unknown }>(app);
      const appOnly = await clients();
      const a = await startStoreOn({
        redis: app,
        keyPrefix: keys.prefix,
        nodeId: 's',
        commandTimeoutMs: 300,
      });
      const channel = keys.orders('s');
      expect(await r.command('PUBSUB', 'SHARDNUMSUB', channel)).toEqual([channel, 1]);
      expect(duplicates).toHaveLength(1);
      let reconnecting = 0;
      duplicates[0]?.on('reconnecting', () => {
        reconnecting += 1;
      });

      await r.pause();
      let resumed = false;
      onTestFinished(() => {
        if (!resumed) r.resume();
      });
      await vi.waitFor(() => expect(reconnecting).toBe(1), { timeout: 5_000, interval: 10 });
      await a.store.stop();
      r.resume();
      resumed = true;

      let publishing = true;
      const publisher = (async () => {
        while (publishing) {
          await app.sendCommand(['SPUBLISH', channel, 'after stop']).catch(() => {});
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      })();
      onTestFinished(async () => {
        publishing = false;
        await publisher;
      });
      const settled = async () => {
        expect(await r.command('PUBSUB', 'SHARDNUMSUB', channel)).toEqual([channel, 0]);
        expect(await clients()).toBe(appOnly);
      };
      await vi.waitFor(settled, { timeout: 10_000, interval: 50 });
      for (let i = 0; i < 20; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        await settled();
      }
      publishing = false;
      await publisher;
      // The app's own client was lent, not owned: it still answers.
      expect(await app.sendCommand(['SET', `${keys.prefix}:after`, 'still here'])).toBe('OK');
    }, 40_000);
  },
);
