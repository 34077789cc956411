/**
 * Watching a supervisor: its events, stats() and userStats(), and the state
 * charts drawn from its machines, served over HTTP next to the WebSockets.
 * The README quotes the regions below (test/examples/readme-snippets.test.ts).
 *
 *   npm run example:observing -- --port 8080
 *   then connect to ws://127.0.0.1:8080/?user=<id> and open
 *   /stats, /stats?user=<id>, /audit, /chart.svg and /chart.json
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { charts, createSupervisor, machineGraph, renderChart, SupervisorError } from 'ws-supervisor';
// Not the library: the examples' own --port, --help and listen error. Your app reads its own configuration.
import { exitIfCannotListen, readExampleFlags } from './reference-server/command-line.js';

const flags = readExampleFlags({
  script: 'example:observing',
  about:
    'Events, stats() and the charts over HTTP: connect to ws://127.0.0.1:<port>/?user=<id>, then open\n' +
    '/stats, /stats?user=<id>, /audit, /chart.svg and /chart.json.',
});

const supervisor = createSupervisor({
  preset: 'production',
  // Demo only: trusts ?user=<id>. Verify a real token here.
  authenticate: (request) => new URLSearchParams(request.url?.split('?')[1]).get('user'),
  onMessage: (connection, data, isBinary) => connection.send(data, { binary: isBinary }),
});

// #region observe
supervisor.on('disposed', ({ connectionId, userId, reason, closeCode, httpStatus, lifetimeMs }) => {
  // httpStatus: a handshake refused over HTTP before it opened (no close frame was sent);
  // neither: a dead peer the heartbeat terminated (no close frame either way)
  const answer =
    httpStatus !== undefined
      ? `HTTP ${httpStatus}`
      : closeCode !== undefined
        ? `close ${closeCode}`
        : 'no close';
  console.log(`disposed ${userId} ${connectionId}: ${reason}, ${answer}, after ${lifetimeMs} ms`);
});
// also: 'admitted', 'evicted', and 'rejected' ({ reason, status, userId, message,
//   via, retryAfterMs, remoteAddress, userAgent, correlationId, and on 'user-limit' live, limit })

function statsFor(request: IncomingMessage) {
  const user = new URLSearchParams(request.url?.split('?')[1]).get('user');
  // stats(), O(1): { admission: { admitting, reason }, connections, users, idle,
  //   byState: { connecting, active, draining },
  //   counters: { admitted, rejected, evicted, disposed }, capacity: { levels, usersByBand, alerts },
  //   resources: { connectionActors, userSupervisors, lingeringSupervisors, pendingTimers, socketListeners,
  //     closeRefusals, authenticating, rooms, roomMemberships } }
  // userStats(id), O(1): { userId, live, idle, draining, limit, evictAt, band }, or undefined;
  //   an invalid id (empty, over 128 bytes, control characters) throws WSSUP_INVALID_ARGUMENT
  return user === null ? supervisor.stats() : (supervisor.userStats(user) ?? null);
}

// audit(), O(connections): every actor compared with the counters above.
// { ok, mismatches: string[], walked: { userSupervisors, connectionActors } }
const audit = () => supervisor.audit();
// #endregion observe

// #region charts
const svg = await renderChart(charts.connection, { format: 'svg' }); // or 'mermaid', 'dot', 'json'
const graph = machineGraph(charts.supervisor); // { nodes: [{ id: 'supervising', ... }], edges, events, guards, delays }
// #endregion charts

function send(response: ServerResponse, type: string, body: string): void {
  response.writeHead(200, { 'content-type': `${type}; charset=utf-8` }).end(body);
}

function sendStats(request: IncomingMessage, response: ServerResponse): void {
  try {
    send(response, 'application/json', `${JSON.stringify(statsFor(request))}\n`);
  } catch (error) {
    // ?user=<an invalid id>: the client's mistake. Match on the code, not the message.
    if (!(error instanceof SupervisorError && error.code === 'WSSUP_INVALID_ARGUMENT')) throw error;
    response.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' }).end(`${error.message}\n`);
  }
}

const server = createServer((request, response) => {
  const path = request.url?.split('?')[0];
  if (path === '/stats') sendStats(request, response);
  else if (path === '/audit') send(response, 'application/json', `${JSON.stringify(audit())}\n`);
  else if (path === '/chart.svg') send(response, 'image/svg+xml', svg);
  else if (path === '/chart.json') send(response, 'application/json', JSON.stringify(graph));
  else response.writeHead(404).end();
});
supervisor.attach(server);
exitIfCannotListen(server);
server.listen(flags.port, '127.0.0.1', () => {
  console.log(`listening on ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
});

// `on`, not `once`: under npm, Ctrl-C reaches node twice, and shutdown() is idempotent.
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
