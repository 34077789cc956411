/**
 * Cluster mode: one per-user limit across every process that shares a Redis
 * (docs/cluster.md, "Running several processes"). Run it twice on one Redis and a
 * user's connections to both count toward one limit of 5.
 *
 *   npm run example:cluster -- --redis redis://127.0.0.1:6379 --node-id a --port 8080
 *   npm run example:cluster -- --redis redis://127.0.0.1:6379 --node-id b --port 8081
 *   then connect to ws://127.0.0.1:8080/?user=ann and ws://127.0.0.1:8081/?user=ann,
 *   and GET /stats on either: this process, and the cluster-wide book; GET
 *   /notify?user=ann&message=hi on either reaches both of ann's connections.
 *
 * Without a Redis it still serves: it admits against its own limit and says
 * so (the 'local' outage policy), and books those connections once Redis answers.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSupervisor, InvalidOptionError } from 'ws-supervisor';
// Not the library: the examples' own --port, --help and listen error. Your app reads its own configuration.
import { exitIfCannotListen, exitWithFlagError, readExampleFlags } from './reference-server/command-line.js';

const commandLine = {
  script: 'example:cluster',
  about: 'An echo server whose per-user limit (5) is shared by every process on one Redis.',
  flags: {
    redis: ['<url>', 'the Redis to share (default redis://127.0.0.1:6379)'],
    'node-id': ['<id>', "this process's name in the cluster (default <hostname>:<pid>)"],
  },
} as const;
const flags = readExampleFlags(commandLine);

/** The supervisor, built from the flags. @throws {InvalidOptionError} for a bad --redis or --node-id */
function startCluster() {
  // #region cluster
  const supervisor = createSupervisor({
    maxConnectionsPerUser: 5, // per user, across every process on this Redis
    authenticate: (request) => new URLSearchParams(request.url?.split('?')[1]).get('user'),
    onMessage: (connection, data, isBinary) => connection.send(data, { binary: isBinary }),
    cluster: {
      redis: flags.redis ?? 'redis://127.0.0.1:6379', // a redis:// URL, or your app's own node-redis client (npm install redis)
      nodeId: flags['node-id'], // default: <hostname>:<pid>
      leaseTtlMs: 15_000, // a crashed process's slots are free within this, plus one reaper period
      onStoreUnavailable: 'local', // or 'reject': HTTP 503 with Retry-After while Redis is away
    },
    onError: (error) => console.error(`${error.code}: ${error.message}`),
  });

  // On a Redis Cluster, `shard` names the one master whose users are affected (host:port). Its
  // breaker also closes when a failover removed that master: its users are served again, by another.
  supervisor.on('store', ({ breaker, shard, policy }) => {
    const what = shard === undefined ? 'Redis' : `Redis master ${shard}`;
    if (breaker === 'open') console.log(`${what} away: admitting by policy '${policy}'`);
    else console.log(shard === undefined ? 'Redis is back' : `the users of ${what} are served again`);
  });

  // Resolves once this process holds its first lease. It waits through an outage (admitting by
  // the policy meanwhile), so bound it. Whether it admits now is stats().admission, not this.
  supervisor.ready({ signal: AbortSignal.timeout(5_000) }).then(
    () => console.log(`cluster: lease held as ${supervisor.stats().cluster?.nodeId}`),
    (error: Error) => console.log(`cluster: no lease yet (${error.message})`),
  );

  // stats() stays synchronous and O(1); stats({ cluster: true }) reads the cluster-wide book.
  async function clusterStats() {
    const { connections, cluster, global } = await supervisor.stats({ cluster: true });
    // cluster: { nodeId, incarnation, leaseHeld, breaker, unavailableShards, policy, unsynced, pendingReleases, edgesInFlight, edgesWaiting, pendingTimers, slotsReaped }
    // global: { nodes: [{ nodeId, incarnation, leaseExpiresInMs }], users, connections, superseded? }
    return { here: connections, cluster, global };
  }
  // #endregion cluster

  // #region cluster-sends
  // { cluster: true }: the user's connections on every process, not only this one's. The
  // other processes are told over Redis pub/sub: best effort, as Socket.IO's Redis adapter.
  async function notify(userId: string, message: string) {
    const notice = JSON.stringify({ notice: message });
    const { delivered, nodes, unreached } = await supervisor.sendToUser(userId, notice, { cluster: true });
    // This process's connections reached, other processes told, and those whose message failed
    // (a Redis Cluster master away): not retried here, as the ones told would get it twice.
    return { delivered, nodes, unreached };
  }
  // Kick everywhere; rejects with WSSUP_STORE_UNAVAILABLE (after closing this process's) while Redis is away.
  const kick = (userId: string) => supervisor.disconnectUser(userId, 4403, 'kicked', { cluster: true });
  // broadcast(data, { cluster: true }) reaches every process's connections; `except` (a connection
  // id: everyone but the sender) travels, `filter` cannot.
  // #endregion cluster-sends
  return { supervisor, clusterStats, notify, kick };
}

// A --redis or --node-id the library refuses is a bad flag: a message and the usage, exit 2.
const clusterFlags: Record<string, string> = { 'cluster.redis': '--redis', 'cluster.nodeId': '--node-id' };
let cluster: ReturnType<typeof startCluster>;
try {
  cluster = startCluster();
} catch (error) {
  if (!(error instanceof InvalidOptionError)) throw error;
  exitWithFlagError(commandLine, clusterFlags[error.option] ?? error.option, error);
}
const { supervisor, clusterStats, notify, kick } = cluster;

/** GET /notify?user=ann&message=hi and GET /kick?user=ann act on every process; anything else is the stats. */
function route(url: URL): Promise<unknown> {
  const user = url.searchParams.get('user') ?? '';
  if (url.pathname === '/notify') return notify(user, url.searchParams.get('message') ?? '');
  if (url.pathname === '/kick') return kick(user);
  return clusterStats();
}

const server = createServer((request, response) => {
  // new URL() throws on a target such as `//[`: uncaught in this listener, it ended the process.
  let url: URL;
  try {
    url = new URL(request.url ?? '/', 'http://localhost');
  } catch {
    response.statusCode = 400;
    response.end('{"error":"not a request target"}\n');
    return;
  }
  route(url).then(
    (answer) => response.end(`${JSON.stringify(answer, null, 2)}\n`),
    (error: Error & { code?: string }) => {
      // A bad ?user= is the caller's mistake; anything else here is Redis not answering.
      response.statusCode = error.code === 'WSSUP_INVALID_ARGUMENT' ? 400 : 503;
      response.end(`${JSON.stringify({ here: supervisor.stats().connections, error: error.message })}\n`);
    },
  );
});
supervisor.attach(server);
exitIfCannotListen(server);
server.listen(flags.port, '127.0.0.1', () => {
  console.log(`listening on ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
});

// Shutdown releases this process's slots and lease in Redis before it resolves. The server
// closes even when it rejects (the store's stop failed): the process ends.
const stop = () =>
  void supervisor
    .shutdown()
    .catch((error: unknown) => console.error('shutdown failed', error))
    .finally(() => {
      // After shutdown() only HTTP stragglers are left: cut them, or a request whose
      // headers never end holds close() forever (examples/embedding.ts says why).
      server.close();
      server.closeAllConnections();
    });
process.on('SIGINT', stop).on('SIGTERM', stop);
