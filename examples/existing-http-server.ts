/**
 * Embedding ws-supervisor in an HTTP server you already have, routing the
 * upgrades yourself: only `/chat` is supervised; other paths are refused.
 *
 *   npm run example:existing-http-server -- --port 8080
 *   then connect to ws://127.0.0.1:8080/chat with header "authorization: Bearer <user>"
 *   (or ?token=<user> from a browser, which cannot set headers)
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { createSupervisor } from 'ws-supervisor';
// Not the library: the examples' own --port, --help and listen error. Your app reads its own configuration.
import { exitIfCannotListen, readExampleFlags } from './reference-server/command-line.js';

// Demo only: the "token" is the user id. Verify a real token (JWT, session) here.
function authenticate(request: IncomingMessage): string | null {
  const header = request.headers.authorization;
  if (header?.startsWith('Bearer ')) return header.slice('Bearer '.length);
  return new URLSearchParams(request.url?.split('?')[1]).get('token');
}

const flags = readExampleFlags({
  script: 'example:existing-http-server',
  about:
    'Your HTTP server, routing its own upgrades: only /chat is supervised. Connect to\n' +
    'ws://127.0.0.1:<port>/chat with "authorization: Bearer <user>" or ?token=<user>.',
  portVariable: 'PORT',
});

// #region origins
const supervisor = createSupervisor({
  preset: 'production',
  // Pages of these sites may connect; a page of any other site gets 403. Clients
  // that are not browsers send no Origin and pass: this is not authentication.
  allowedOrigins: [
    'https://app.example.com',
    // Development only (a local page on any port, any local program): remove it in production.
    /^http:\/\/(localhost|127\.0\.0\.1)(:\d+)?$/,
  ],
  authenticate,
  onOpen: (connection) => connection.send(JSON.stringify({ hello: connection.userId, id: connection.id })),
  onMessage: (connection, data) => {
    connection.send(JSON.stringify({ from: connection.userId, text: data.toString() }));
  },
});
// #endregion origins

const server = createServer((_request, response) => {
  response.end('your existing routes live here\n');
});

// #region upgrade
server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
  // Split by hand: `new URL()` throws on request targets such as `//[`.
  if ((request.url ?? '/').split('?', 1)[0] === '/chat') {
    void supervisor.handleUpgrade(request, socket, head);
  } else {
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  }
});
// #endregion upgrade

// `on`, not `once`: under npm, Ctrl-C reaches node twice; the second copy must
// not meet Node's default handler while the clients drain.
const stopSignal = new Promise<string>((resolve) => {
  process.on('SIGINT', resolve).on('SIGTERM', resolve);
});
exitIfCannotListen(server);
server.listen(flags.port, '127.0.0.1');
await once(server, 'listening');
console.log(`listening on ws://127.0.0.1:${(server.address() as AddressInfo).port}/chat`);

const signal = await stopSignal;
console.log(`${signal}: draining`);
// close() before shutdown(), but not awaited: the port closes at once (a new client is refused
// by the kernel, not answered 503), and its callback waits for the upgraded sockets, which
// shutdown() ends. Keep the port open instead if a balancer's probes must reach a draining process.
server.close();
await supervisor.shutdown();
// No supervised socket is left: cut the HTTP stragglers close() would wait for, maybe forever
// (a request whose headers never end: close() stopped Node's headersTimeout checks).
server.closeAllConnections();
