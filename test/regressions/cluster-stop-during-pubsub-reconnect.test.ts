/**
 * stop() while the store's pub/sub connection to a Redis Cluster reconnected left that
 * connection open, subscribed again to the node's channel: for good while messages come on it
 * (or when the client has no socket timeout), as nothing of the store owned it any more.
 *
 * The store's pub/sub connection is a duplicate of the cluster client (a cluster client too).
 * When its sharded subscriber's socket drops, node-redis 6.3 connects it again in the
 * background; a node client destroyed while that connect is on its way (the TCP connect, TLS's
 * handshake) is not stopped: destroy() finds no socket to close yet, and the connect then
 * completes and subscribes again (its resubscribe). stop() destroyed the duplicate with
 * node-redis's destroy() alone; the command client's was already guarded (clusterOwned in
 * src/cluster/redis-client.ts, test/regressions/cluster-stop-during-rediscover.test.ts).
 *
 * Here the connect is held on purpose: the cluster talks TLS, and the master of the node's
 * channel is stopped (SIGSTOP), so every connection to it goes silent, is dropped by its socket
 * timeout and connected again, the TLS handshake unanswered; stop() runs once the store's
 * duplicate is reconnecting there. Once the master runs again (SIGCONT) the handshakes complete:
 * nothing of the store may stay connected or subscribed. The app's own cluster client (lent to
 * the store, which duplicates it) stays connected.
 */
import { createCluster } from 'redis';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { createKeyLayout } from '../../src/cluster/redis-keys.js';
import { channelSubscribers, clientsOf, keyOffMasters } from '../cluster/cluster-failover-fixture.js';
import { freshPrefix, hasRedis, startStoreOn, usePrivateCluster } from '../cluster/store-fixture.js';
import { recordDuplicates } from '../helpers/recorded-duplicates.js';
import { testTls } from '../helpers/redis-server.js';

describe.runIf(hasRedis)(
  'regression: stop() while the store’s pub/sub connection reconnects (Redis Cluster)',
  () => {
    const cluster = usePrivateCluster({ tls: true });

    it('leaves no connection and no subscription behind once the held connect completes; the app’s own client stays', async () => {
      const c = cluster.current;
      const keys = createKeyLayout(freshPrefix());
      const app = createCluster({
        rootNodes: [{ url: c.urls[0] as string }],
        defaults: {
          disableOfflineQueue: true,
          // A silent connection is dropped within a second (its PING unanswered) and connected
          // again (node-redis's default gives up on a socket timeout), and a connect may take
          // 10 s: the held one below does not time out.
          pingInterval: 300,
          socket: {
            tls: true,
            ca: testTls.ca,
            socketTimeout: 1_000,
            connectTimeout: 10_000,
            reconnectStrategy: () => 100,
          },
        },
      });
      app.on('error', () => {});
      // The duplicates the store makes of it (its pub/sub connection), watched below.
      const duplicates = recordDuplicates<{
        on(event: 'node-reconnecting', listener: (node: { port: number }) => void): unknown;
      }>(app);
      await app.connect();
      onTestFinished(() => app.destroy());
      // The master of the node's channel, not the registry's (stop() retires the lease there;
      // what it sends to a stopped master, the index's maybe, is given up at its deadline).
      const registry = await c.masterOf(keys.registry.leases);
      const { index, master: quiet } = await keyOffMasters(c, (i) => keys.orders(`p${i}`), [registry.port]);
      const nodeId = `p${index}`;
      const channel = keys.orders(nodeId);
      // The app's own client, one connection on every master (its connect made them all).
      const ports = c.masters.map((m) => m.port);
      const appOnly = await Promise.all(ports.map((port) => clientsOf(c, port)));
      expect(appOnly).toEqual(ports.map(() => 1));
      const a = await startStoreOn({ redis: app, keyPrefix: keys.prefix, nodeId, commandTimeoutMs: 300 });
      expect(await channelSubscribers(c, ports, channel)).toEqual(
        ports.map((p) => (p === quiet.port ? 1 : 0)),
      );

      // The master stopped (SIGSTOP): every connection to it goes silent and is dropped by its
      // socketTimeout, and node-redis connects each again; the new connections wait for a TLS
      // handshake nobody answers. The store's pub/sub duplicate has two there (its connect's, and
      // its sharded subscriber): stop() comes once both are reconnecting.
      expect(duplicates).toHaveLength(1);
      let reconnecting = 0;
      duplicates[0]?.on('node-reconnecting', ({ port }) => {
        if (port === quiet.port) reconnecting += 1;
      });
      expect(await clientsOf(c, quiet.port)).toBe(3); // with the app's own
      c.pause(quiet.port);
      let resumed = false;
      onTestFinished(() => {
        if (!resumed) c.resume(quiet.port);
      });
      // Within the cluster's node timeout (5 s): the others do not call it failed.
      await vi.waitFor(() => expect(reconnecting).toBe(2), { timeout: 4_000, interval: 10 });

      await a.store.stop();
      c.resume(quiet.port);
      resumed = true;

      // The handshakes answered now, a connect that outlived stop() is ready within ms and
      // subscribes again. Messages keep coming on the channel (the app publishes, through its own
      // connection), as orders for a node whose stop() is not yet known do: a subscriber left
      // behind is never idle, and its socket timeout (the app's 1 s) does not end it. The masters
      // must come to have the app's own clients (its reconnect done) and no more, and keep so.
      let publishing = true;
      const publisher = (async () => {
        while (publishing) {
          await app.sendCommand(channel, false, ['SPUBLISH', channel, 'after stop']).catch(() => {});
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      })();
      onTestFinished(async () => {
        publishing = false;
        await publisher;
      });
      const settled = async () => {
        expect(await channelSubscribers(c, ports, channel)).toEqual(ports.map(() => 0));
        expect(await Promise.all(ports.map((port) => clientsOf(c, port)))).toEqual(appOnly);
      };
      await vi.waitFor(settled, { timeout: 10_000, interval: 50 });
      for (let i = 0; i < 20; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        await settled();
      }
      publishing = false;
      await publisher;
      // The app's own client was lent, not owned: it still answers, on every master.
      const probe = `${keys.prefix}:after`;
      expect(await app.sendCommand(probe, false, ['SET', probe, 'still here'])).toBe('OK');
      for (const master of app.masters) expect((await app.nodeClient(master)).isReady).toBe(true);
    }, 40_000);
  },
);
