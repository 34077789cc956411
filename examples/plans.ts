/**
 * Plan tiers: a per-user limit from `authenticate`. Free users may hold 3
 * connections, Pro users 20, and anonymous visitors 2 per address; each
 * admission is decided against the limit its own `authenticate` returned, so
 * a user who upgrades gets the new limit at their next connection. docs/admission.md
 * ("A limit per user: plans") quotes the region below
 * (test/examples/readme-snippets.test.ts).
 *
 *   npm run example:plans -- --port 8080
 *   then connect to ws://127.0.0.1:8080/?token=free-ann (or pro-bob), or with no token (anonymous):
 *   the 4th connection of ann is refused with close code 4429
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSupervisor } from 'ws-supervisor';
// Not the library: the examples' own --port, --help and listen error. Your app reads its own configuration.
import { exitIfCannotListen, readExampleFlags } from './reference-server/command-line.js';

const { port } = readExampleFlags({
  script: 'example:plans',
  about:
    'Plan tiers: connect to ws://127.0.0.1:<port>/?token=free-<name> (3 connections),\n' +
    '?token=pro-<name> (20), or with no token (anonymous: 2 per address).',
});

type Plan = 'free' | 'pro';

/** Demo only: a token is `<plan>-<name>`. Your app looks the session and its plan up here. */
function userOf(token: string | null): { id: string; plan: Plan } | undefined {
  const found = token?.match(/^(free|pro)-([a-z0-9]{1,32})$/);
  return found ? { id: found[2] as string, plan: found[1] as Plan } : undefined;
}

// #region plans
const limits: Record<Plan, number> = { free: 3, pro: 20 };

const supervisor = createSupervisor<{ plan: Plan | 'anonymous' }>({
  refuse: 'close', // a refused browser reads 4429 and the message, not a bare failed handshake
  authenticate: (request) => {
    const token = new URLSearchParams(request.url?.split('?')[1]).get('token');
    const user = userOf(token);
    if (user === undefined) {
      // Anonymous visitors: one "user" per address, 2 tabs each. Behind a proxy, use the
      // client address your proxy forwards (and that you trust), not the proxy's own.
      const visitor = `anonymous:${request.socket.remoteAddress}`;
      return { userId: visitor, maxConnectionsPerUser: 2, data: { plan: 'anonymous' } };
    }
    return { userId: user.id, maxConnectionsPerUser: limits[user.plan], data: { plan: user.plan } };
  },
  onOpen: (connection) => {
    const limit = supervisor.userStats(connection.userId)?.limit; // this user's own limit
    connection.send(`welcome, ${connection.userId} (${connection.data?.plan}: up to ${limit} connections)`);
  },
  onMessage: (connection, data, isBinary) => connection.send(data, { binary: isBinary }),
});

// The refusal names the user's own limit: "user has reached the maximum number of connections (3)".
supervisor.on('rejected', (event) => {
  if (event.reason !== 'user-limit') return;
  console.log(`${event.userId} refused at ${event.live} of ${event.limit}`);
});
// #endregion plans

const server = createServer((_request, response) => response.end('your routes here\n'));
supervisor.attach(server);
exitIfCannotListen(server);
server.listen(port, '127.0.0.1', () => {
  console.log(`listening on ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
});

// `on`, not `once`: under npm, Ctrl-C reaches node twice, and shutdown() is idempotent.
const stop = () =>
  void supervisor
    .shutdown() // 1001 to every client
    .catch((error: unknown) => console.error('shutdown failed', error))
    .finally(() => {
      // After shutdown() only HTTP stragglers are left: cut them, or a request whose
      // headers never end holds close() forever (examples/embedding.ts says why).
      server.close();
      server.closeAllConnections();
    });
process.on('SIGINT', stop).on('SIGTERM', stop);
