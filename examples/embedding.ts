// Run: npm run example:embedding (it listens on PORT, default 8080; PORT=0 for any free port)
// Connect: ws://127.0.0.1:8080/?token=alice (the demo's token is the user id)
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSupervisor } from 'ws-supervisor';

const port = Number(process.env.PORT ?? 8080); // your app reads its own configuration

// Your code: a user id for a valid token, or null (HTTP 401). Demo: the token is the user id.
const verifyToken = (token: string | null): string | null => token;

const supervisor = createSupervisor({
  preset: 'production', // 20 connections per user, idle eviction at 70 %
  // A browser's WebSocket cannot set headers: the client sends ws://host/?token=...
  // Not new URL(request.url, base): it throws on a target such as `//[` (a 500, and an onError).
  authenticate: (request) => verifyToken(new URLSearchParams(request.url?.split('?')[1]).get('token')),
  // Echo: text stays text (a browser gets a string, not a Blob), binary stays binary.
  onMessage: (connection, data, isBinary) => connection.send(data, { binary: isBinary }),
});

const server = createServer((_request, response) => response.end('your routes here\n'));
supervisor.attach(server); // handles the server's WebSocket upgrades
// A port in use: one line and exit 2, not the stack trace of an unhandled 'error'.
const cannotListen = (error: Error) => {
  console.error(`error: cannot listen: ${error.message}`);
  process.exit(2);
};
server.once('error', cannotListen).listen(port, '127.0.0.1', () => {
  server.off('error', cannotListen);
  console.log(`listening on ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
});

// `on`, not `once`: under npm, Ctrl-C reaches node twice, and shutdown() is idempotent.
// The server closes even when shutdown() rejects: bad options still shut down (unpaced)
// before the rejection, and so does a failed cluster-mode stop. Once shutdown() has ended
// no supervised socket is left, so closeAllConnections() cuts only what close() would wait
// for, maybe forever: a request whose headers never end (close() stops Node's
// headersTimeout checks), a response still being sent. The process ends.
const stop = () =>
  void supervisor
    .shutdown() // 1001 to every client
    .catch((error: unknown) => console.error('shutdown failed', error))
    .finally(() => {
      server.close();
      server.closeAllConnections();
    });
process.on('SIGINT', stop).on('SIGTERM', stop);
