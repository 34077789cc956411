/**
 * The Socket.IO peer: what a Socket.IO 4.8 user writes to get the reference
 * server's behaviour. WebSocket transport only (no long-polling, so the same
 * raw client can drive it), the user from the handshake query, a per-user
 * limit kept in a Map by a middleware and the connection / disconnect
 * handlers, and an echo of every `message` event. Socket.IO's own defaults
 * otherwise (its heartbeat: a ping every 25 s).
 *
 * The limit has the race such code usually has: the middleware's check and
 * the count's increment are a tick apart, so two connections of one user
 * that arrive together may both pass. The benchmarks never open two
 * connections of one user at once, so it never shows here.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { presets } from '../src/index.js';

export interface SocketIoServerOptions {
  host?: string;
  port?: number;
  /** @default the production preset's maxConnectionsPerUser, as the supervised server */
  maxConnectionsPerUser?: number;
}

export interface SocketIoServer {
  port: number;
  /** Connected Socket.IO sockets (refused handshakes excluded). */
  connections(): number;
  close(): Promise<void>;
}

export async function startSocketIoServer({
  host = '127.0.0.1',
  port = 0,
  maxConnectionsPerUser = presets.production.maxConnectionsPerUser,
}: SocketIoServerOptions = {}): Promise<SocketIoServer> {
  const perUser = new Map<string, number>();
  const server = createServer((request, response) => {
    if (request.method === 'GET' && request.url === '/stats') {
      response.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
      response.end(`${JSON.stringify({ connections: io.of('/').sockets.size, users: perUser.size })}\n`);
    } else {
      response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      response.end('not found\n');
    }
  });
  const io = new Server(server, { transports: ['websocket'], serveClient: false });

  io.use((socket, next) => {
    const user = socket.handshake.query.user;
    if (typeof user !== 'string' || user === '') return next(new Error('unauthenticated'));
    if ((perUser.get(user) ?? 0) >= maxConnectionsPerUser) return next(new Error('limit'));
    next();
  });
  io.on('connection', (socket) => {
    const user = socket.handshake.query.user as string;
    perUser.set(user, (perUser.get(user) ?? 0) + 1);
    socket.on('message', (data: unknown) => {
      socket.send(data);
    });
    socket.on('disconnect', () => {
      const left = (perUser.get(user) ?? 1) - 1;
      if (left === 0) perUser.delete(user);
      else perUser.set(user, left);
    });
  });

  server.listen(port, host);
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => io.of('/').sockets.size,
    close: async () => {
      // io.close() disconnects every socket and closes the HTTP server.
      const closed = io.close();
      server.closeAllConnections();
      await closed;
    },
  };
}
