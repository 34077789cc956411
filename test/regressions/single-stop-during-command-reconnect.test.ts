/**
 * The store's own command connection (a store made from a `rediss://` URL, on a single Redis),
 * as single-stop-during-pubsub-reconnect.test.ts is for its pub/sub one: stop() while that
 * connection reconnects left it open. node-redis 6.3 does not stop a client destroyed while
 * its connect is on its way (destroy() finds no socket to close yet): the TLS handshake
 * completes after stop(), and the connection stays, holding the process open, until it has
 * been silent for its socketTimeout (destroyed, node-redis sends no PING on it and does not
 * reconnect it: so the leak is bounded, by 4 command timeouts).
 *
 * The store runs in a process of its own (given the test CA by NODE_EXTRA_CA_CERTS, the URL
 * form's only way), through a TCP proxy (test/helpers/redis-proxy.ts) that can hold new
 * connections: the command connection is killed (CLIENT KILL), its reconnect held mid-TLS, the
 * store stopped, the connect let through. Then nothing of the store may be left on the server,
 * nor at the proxy, and the process must end on its own. The same over `redis://`, where the
 * reconnect is held after TCP's connect (the proxy accepts), in the handshake's first reply:
 * destroy() closes that socket, so it never leaked; pinned (a store whose destroy() did
 * nothing fails it). The window there is the bare TCP connect (closed by the same fix: its
 * 'connect' comes once TCP's does), which a loopback test cannot hold.
 * The app's own client (`cluster: { redis: client }`) is the app's to close.
 */
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { freshPrefix, hasRedis, usePrivateRedis } from '../cluster/store-fixture.js';
import { runCommand } from '../helpers/process.js';
import { startRedisProxy } from '../helpers/redis-proxy.js';
import { testTls } from '../helpers/redis-server.js';

/** The store alone in a process: started, stopped on a line on stdin, then left to end. */
const program = `
const { createRedisSlotStore } = await import(new URL('dist/src/cluster/redis-store.js', process.env.WSSUP_ROOT));
const store = createRedisSlotStore({
  redis: process.env.WSSUP_URL,
  nodeId: 'held',
  keyPrefix: process.env.WSSUP_PREFIX,
  // A connection left behind closes only once silent for 4 command timeouts (its socketTimeout,
  // redis-client.ts): 40 s here, far past what the test waits.
  commandTimeoutMs: 10000,
});
await store.start({ evictionOrdered() {}, incarnationChanged() {} });
console.log('started');
process.stdin.once('data', async () => {
  process.stdin.destroy();
  await store.stop();
  console.log('stopped');
});
`;

for (const tls of [true, false]) {
  describe.runIf(hasRedis)(
    `regression: stop() while the store’s own command connection reconnects (single Redis, ${tls ? 'rediss' : 'redis'}://)`,
    () => {
      const redis = usePrivateRedis({ tls });

      /** The server's clients, but the asking connection: the store's (the only other client). */
      const storeClients = async () =>
        String(await redis.current.command('CLIENT', 'LIST'))
          .split('\n')
          .filter((line) => line.includes('id=') && !/cmd=client\|list/.test(line));

      it('leaves no connection behind once the held connect completes, and the process ends', async () => {
        const r = redis.current;
        const proxy = await startRedisProxy(r.port);
        const url = `${tls ? 'rediss' : 'redis'}://127.0.0.1:${proxy.port}`;
        const store = runCommand(process.execPath, ['--input-type=module', '-e', program], {
          WSSUP_ROOT: new URL('../../', import.meta.url).href,
          WSSUP_URL: url,
          WSSUP_PREFIX: freshPrefix(),
          NODE_EXTRA_CA_CERTS: testTls.caFile,
        });
        await store.waitFor(/started/);
        // Its command connection and its pub/sub one (subscribed to its orders channel).
        const before = await storeClients();
        expect(before).toHaveLength(2);
        const command = before.find((line) => / ssub=0 /.test(line) && / sub=0 /.test(line));
        const id = command?.match(/^id=(\d+) /)?.[1];
        expect(id).toBeDefined();

        proxy.hold();
        expect(await r.command('CLIENT', 'KILL', 'ID', id as string)).toBe(1);
        // Its reconnect, at the proxy, held (over TLS: before the handshake's first reply).
        await vi.waitFor(() => expect(proxy.held()).toBe(1), { timeout: 5_000, interval: 5 });
        store.child.stdin.write('stop\n');
        await store.waitFor(/stopped/);
        proxy.hold(false);

        const settled = async () => {
          expect(await storeClients()).toEqual([]);
          expect(proxy.open()).toBe(0);
        };
        await vi.waitFor(settled, { timeout: 10_000, interval: 50 });
        // And it stays so: no reconnect, no late PING from a connection left behind.
        for (let i = 0; i < 20; i++) {
          await new Promise((resolve) => setTimeout(resolve, 100));
          await settled();
        }
        // Nothing holds the process: it ends by itself.
        const code = await Promise.race([
          store.exited,
          new Promise<string>((resolve) => {
            const timer = setTimeout(() => resolve('still running'), 10_000);
            onTestFinished(() => clearTimeout(timer));
          }),
        ]);
        expect(code).toBe(0);
      }, 40_000);
    },
  );
}
