// Run: npm run example:express-registry -- --port 8080
// Connect: ws://127.0.0.1:8080/ws?user=alice, then from another terminal:
//   curl -X POST -H 'content-type: application/json' -d '{"message":"hi"}' http://127.0.0.1:8080/users/alice/notify
//   curl -X POST -H 'content-type: application/json' -d '{"message":"to all"}' http://127.0.0.1:8080/broadcast
//   curl -X DELETE http://127.0.0.1:8080/users/alice/connections
//
// The connection registry from REST routes (Express 5): the supervisor's own
// books answer, so the app keeps no map of its own. It logs who comes online and
// goes offline (the `offline` event, after lingerMs).
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import { createSupervisor, SupervisorError } from 'ws-supervisor';
// Not the library: the examples' own --port, --help and listen error. Your app reads its own configuration.
import { exitIfCannotListen, readExampleFlags } from './reference-server/command-line.js';

const flags = readExampleFlags({
  script: 'example:express-registry',
  about:
    'The connection registry from REST routes (Express 5): connect to ws://127.0.0.1:<port>/ws?user=<id>,\n' +
    'then POST /users/<id>/notify, POST /broadcast or DELETE /users/<id>/connections.',
});

const supervisor = createSupervisor({
  // Demo only: trusts ?user=<id>. Verify a real token here.
  authenticate: (request) => new URLSearchParams(request.url?.split('?')[1]).get('user'),
  onMessage: (connection, data, isBinary) => connection.send(data, { binary: isBinary }),
});

// #region capacity
// Alerts at 50, 80 and 90 % of the per-user limit (capacityLevels), up and back down.
supervisor.on('capacity', ({ userId, direction, level, live, limit }) => {
  // Rounded to a tenth: in floating point 0.55 × 100 is 55.00000000000001.
  const percent = Math.round(level * 1000) / 10;
  console.log(`capacity ${direction}: ${userId} holds ${live} of ${limit} (level ${percent} %)`);
});
// #endregion capacity

// #region presence
// Who is online on this process. 'offline' waits out lingerMs (5 s by default) after the
// user's last connection: a token rotation (4002) or a network switch admitted again within
// it is no departure, and neither is a shutdown (a deploy). Push "while you were away" here;
// an 'admitted' after 'offline' (a reconnect admitted past the grace) marks the user back.
const online = new Set();
supervisor.on('admitted', ({ userId }) => {
  if (online.has(userId)) return;
  online.add(userId);
  console.log(`online: ${userId}`);
});
supervisor.on('offline', ({ userId, leftAt, offlineAt }) => {
  online.delete(userId);
  console.log(`offline: ${userId}, no connection for ${offlineAt - leftAt} ms`);
});
// #endregion presence

const messageOf = (request: Request): string | undefined => {
  const message: unknown = request.body?.message;
  return typeof message === 'string' ? message : undefined;
};

// #region routes
const app = express();
app.use(express.json({ limit: '16kb' }));

app.get('/users/:id/connections', (request, response) => {
  const ids = supervisor.connectionsOf(request.params.id).map((connection) => connection.id);
  response.json({ connections: ids });
});

app.post('/users/:id/notify', (request, response) => {
  const message = messageOf(request);
  if (message === undefined) return void response.status(400).json({ error: 'body must be { message }' });
  const delivered = supervisor.sendToUser(request.params.id, JSON.stringify({ notice: message }));
  response.json({ delivered });
});

app.post('/broadcast', (request, response) => {
  const message = messageOf(request);
  if (message === undefined) return void response.status(400).json({ error: 'body must be { message }' });
  response.json({ delivered: supervisor.broadcast(JSON.stringify({ broadcast: message })) });
});

// Kick: every connection of the user closes gracefully with 4403 "kicked" (forbidden: createClient
// stays away until resume(); after another code, such as 4000, it backs off and comes back).
app.delete('/users/:id/connections', (request, response) => {
  response.json({ closed: supervisor.disconnectUser(request.params.id, 4403, 'kicked') });
});

// A bad user id (empty, too long, control characters) is a typed error: answer 400 with its code.
app.use((error: unknown, _request: Request, response: Response, next: NextFunction) => {
  if (!(error instanceof SupervisorError)) return next(error);
  response.status(400).json({ error: error.message, code: error.code });
});
// #endregion routes

// #region attach
// Express 5: the app is the request handler of a node:http server, and the supervisor
// attaches to that server, on its own path: Express never sees /ws (app.listen() returns
// such a server too: `supervisor.attach(app.listen(port), { path: '/ws' })`).
const server = createServer(app);
const detach = supervisor.attach(server, { path: '/ws' });
// #endregion attach
exitIfCannotListen(server);
server.listen(flags.port, '127.0.0.1');
await once(server, 'listening');
console.log(`listening on ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`);

// #region shutdown
// Paced: 10 batches over 20 s (idle connections first, then the oldest), so that
// the clients do not all reconnect elsewhere at once; at 30 s the rest is terminated.
// `on`, not `once`: under npm, Ctrl-C reaches node twice, and shutdown() is idempotent.
const stop = () =>
  void supervisor
    .shutdown({ deadlineMs: 30_000, pace: { windowMs: 20_000, batches: 10 } })
    .catch((error: unknown) => console.error('shutdown failed', error))
    .finally(() => {
      server.close(() => detach()); // /ws let go once the server has closed, never before
      server.closeAllConnections();
    });
process.on('SIGINT', stop).on('SIGTERM', stop);
// #endregion shutdown
