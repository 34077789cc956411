/**
 * docs/cluster-store.md, "Redis Sentinel": the claims no other test checks, on a private
 * Sentinel setup (a primary, its replica, one sentinel: test/helpers/redis-sentinel.ts),
 * counted in each server's own CLIENT LIST and script cache:
 *
 * - "**Connections.** The store's own client opens one connection to a sentinel ..., one to
 *   the primary for commands, and one to the primary for the order channel's `SSUBSCRIBE`.
 *   With the app's client the store subscribes on a `duplicate()`, a sentinel client of its
 *   own (one more sentinel connection, and two to the primary), which it destroys at stop;
 *   the app's client is left open."
 * - "With `{ name, sentinelRootNodes }` every connection the client opens, to the primary and
 *   to the sentinels, gets the store's settings (... the PING interval ...)": each such
 *   connection is PINGed while the store is otherwise quiet.
 *   And each connection's options, as node-redis's factory gets them: those of the store's
 *   client from a URL ("the settings above": no offline queue, the socket timeout, the PING
 *   interval, the reconnection policy), for the sentinels and for the primary alike.
 * - After a failover the promoted replica's "script cache may lack the scripts": the replica
 *   holds none of those the store loaded on the primary (SCRIPT LOAD is not replicated), so
 *   the first EVALSHA there answers NOSCRIPT (store-outage.test.ts: then one EVAL).
 */
import * as redis from 'redis';
import { createSentinel } from 'redis';
import { describe, expect, it, onTestFinished } from 'vitest';
import { connectRedis, connectRedisSentinel, silentSocketMs } from '../../src/cluster/redis-client.js';
import { scripts } from '../../src/cluster/redis-scripts.js';
import { eventually, freshPrefix, hasRedis, startStoreOn, usePrivateSentinel } from './store-fixture.js';

const COMMAND_TIMEOUT_MS = 300;

/** CLIENT LIST's lines, but the replication links, the sentinel's own links and the asking connection. */
function clients(list: unknown): string[] {
  return String(list)
    .split('\n')
    .filter(
      (line) =>
        line.includes('addr=') &&
        !/ flags=\S*[MS]/.test(line) &&
        !/ name=sentinel-/.test(line) &&
        !/ cmd=client\|list /.test(line),
    );
}

describe.runIf(hasRedis)('docs/cluster-store.md, "Redis Sentinel": connections, settings, scripts', () => {
  const sentinel = usePrivateSentinel();
  const sentinelPort = () => sentinel.current.sentinelRootNodes[0]?.port as number;
  const on = async (port: number) => clients(await sentinel.current.command(port, 'CLIENT', 'LIST'));
  const counts = async () => {
    const primary = await sentinel.current.primaryPort();
    return { sentinel: (await on(sentinelPort())).length, primary: (await on(primary)).length };
  };

  it("the store's own client: one connection to a sentinel and two to the primary, none left after stop()", async () => {
    const before = await counts();
    const { store } = await startStoreOn({
      redis: { name: sentinel.current.name, sentinelRootNodes: [...sentinel.current.sentinelRootNodes] },
      keyPrefix: freshPrefix(),
      commandTimeoutMs: COMMAND_TIMEOUT_MS,
    });
    await store.admit('ann', 'a1', 3, 3);
    expect(await counts()).toEqual({ sentinel: before.sentinel + 1, primary: before.primary + 2 });
    await store.stop();
    await eventually(async () => JSON.stringify(await counts()) === JSON.stringify(before));
  });

  it("the app's client: the store's duplicate() adds one sentinel connection and two to the primary, destroyed at stop(); the app's client stays open", async () => {
    const app = createSentinel({
      name: sentinel.current.name,
      sentinelRootNodes: [...sentinel.current.sentinelRootNodes],
      nodeClientOptions: { disableOfflineQueue: true },
    });
    app.on('error', () => {});
    onTestFinished(() => app.destroy());
    await app.connect();
    await app.sendCommand(false, ['PING']);
    const withApp = await counts();
    const { store } = await startStoreOn({
      redis: app,
      keyPrefix: freshPrefix(),
      commandTimeoutMs: COMMAND_TIMEOUT_MS,
    });
    await store.admit('ann', 'a1', 3, 3);
    expect(await counts()).toEqual({ sentinel: withApp.sentinel + 1, primary: withApp.primary + 2 });
    await store.stop();
    await eventually(async () => JSON.stringify(await counts()) === JSON.stringify(withApp));
    expect(await app.sendCommand(false, ['PING'])).toBe('PONG');
  });

  it("the store's own client PINGs every connection it opens, to the sentinel and to the primary, while nothing else is sent", async () => {
    const primary = await sentinel.current.primaryPort();
    const others = new Set(
      [...(await on(sentinelPort())), ...(await on(primary))].map((l) => /id=(\d+)/.exec(l)?.[1]),
    );
    const { store } = await startStoreOn({
      redis: { name: sentinel.current.name, sentinelRootNodes: [...sentinel.current.sentinelRootNodes] },
      keyPrefix: freshPrefix(),
      commandTimeoutMs: COMMAND_TIMEOUT_MS,
    });
    const own = async (port: number) => (await on(port)).filter((l) => !others.has(/id=(\d+)/.exec(l)?.[1]));
    // The store is quiet from here (no runtime renews it): only its keep-alive talks. Its
    // PING interval is half the silence after which it drops a socket.
    const quietSince = store.traffic().commands;
    await new Promise((resolve) => setTimeout(resolve, silentSocketMs(COMMAND_TIMEOUT_MS)));
    expect(store.traffic().commands).toBe(quietSince);
    const lastCommand = (line: string) => /cmd=(\S+)/.exec(line)?.[1];
    // The sentinel connection (its subscription to the sentinel's events), the commands', the
    // order channel's: each ran a PING after the store's last command (psubscribe, evalsha,
    // ssubscribe). A client created without the store's settings never PINGs.
    expect((await own(sentinelPort())).map(lastCommand)).toEqual(['ping']);
    expect((await own(primary)).map(lastCommand)).toEqual(['ping', 'ping']);
  });

  it("the replica's script cache holds none of the scripts the store loaded on the primary: a promoted replica answers NOSCRIPT", async () => {
    const keyPrefix = freshPrefix();
    const { store } = await startStoreOn({
      redis: { name: sentinel.current.name, sentinelRootNodes: [...sentinel.current.sentinelRootNodes] },
      keyPrefix,
      commandTimeoutMs: COMMAND_TIMEOUT_MS,
    });
    await store.admit('ann', 'a1', 3, 3);
    const primary = await sentinel.current.primaryPort();
    const replication = String(await sentinel.current.command(primary, 'INFO', 'replication'));
    const replica = Number(/slave0:ip=[^,]+,port=(\d+)/.exec(replication)?.[1]);
    const shas = scripts.map((s) => s.sha);
    // The book is replicated, the scripts are not.
    await eventually(
      async () => (await sentinel.current.command(replica, 'HLEN', `${keyPrefix}:{u:ann}:slots`)) === 1,
    );
    expect(await sentinel.current.command(primary, 'SCRIPT', 'EXISTS', ...shas)).toEqual(shas.map(() => 1));
    expect(await sentinel.current.command(replica, 'SCRIPT', 'EXISTS', ...shas)).toEqual(shas.map(() => 0));
  });
});

/** The settings a client's connections are given, as the doc names them. */
interface Settings {
  disableOfflineQueue?: boolean;
  pingInterval?: number;
  socket?: {
    socketTimeout?: number;
    connectTimeout?: number;
    reconnectStrategy?: (retries: number, cause: Error) => number | Error;
  };
}

describe('docs/cluster-store.md, "Redis Sentinel": the settings of every connection', () => {
  it("{ name, sentinelRootNodes }: the store's settings on the primary's connections and the sentinels', the same as a URL's", async () => {
    let single: Settings | undefined;
    let sentinel: { nodeClientOptions?: Settings; sentinelClientOptions?: Settings } | undefined;
    const load = async () => ({
      ...redis,
      createClient: (options: Parameters<typeof redis.createClient>[0]) => {
        single = options as Settings;
        return redis.createClient(options);
      },
      createSentinel: (options: Parameters<typeof redis.createSentinel>[0]) => {
        sentinel = options as typeof sentinel;
        return redis.createSentinel(options);
      },
    });
    // Nothing listens on port 1: each connect fails, after the factory was called.
    const options = { commandTimeoutMs: COMMAND_TIMEOUT_MS };
    await expect(connectRedis('redis://127.0.0.1:1', options, load)).rejects.toMatchObject({
      code: 'WSSUP_STORE_UNAVAILABLE',
    });
    await expect(
      connectRedisSentinel(
        { name: 'mymaster', sentinelRootNodes: [{ host: '127.0.0.1', port: 1 }] },
        options,
        load,
      ),
    ).rejects.toMatchObject({ code: 'WSSUP_STORE_UNAVAILABLE' });
    const plain = (settings: Settings | undefined) => ({
      disableOfflineQueue: settings?.disableOfflineQueue,
      pingInterval: settings?.pingInterval,
      socketTimeout: settings?.socket?.socketTimeout,
      connectTimeout: settings?.socket?.connectTimeout,
      // The first connect fails at once: the policy gives the cause back (no retry).
      firstConnect: settings?.socket?.reconnectStrategy?.(1, new Error('refused')),
    });
    expect(plain(single)).toEqual({
      disableOfflineQueue: true,
      pingInterval: silentSocketMs(COMMAND_TIMEOUT_MS) / 2,
      socketTimeout: silentSocketMs(COMMAND_TIMEOUT_MS),
      connectTimeout: 1_000,
      firstConnect: new Error('refused'),
    });
    expect(plain(sentinel?.nodeClientOptions)).toEqual(plain(single));
    expect(plain(sentinel?.sentinelClientOptions)).toEqual(plain(single));
  });
});
