/**
 * The baseline: a bare `ws` server doing what the reference server does
 * (same HTTP routes, same demo authentication by ?user=<id> with the same
 * user-id check, same echo, same ws options) with no supervisor, no limits,
 * no heartbeat and no actors.
 *
 * With `actorPerConnection`, each socket also gets one small XState actor
 * (bench/xstate-floor.ts's connection machine, on Node's timers) taken
 * through the same steps as a supervised connection's: open, one event per
 * message, close. That is the floor of "one XState actor per connection"
 * with real sockets, and nothing of ws-supervisor runs.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { createActor } from 'xstate';
import { checkUserId, refuseUpgrade } from './refusal.js';
import { floorConnectionMachine } from './xstate-floor.js';

export interface BareServerOptions {
  host?: string;
  port?: number;
  /** One small XState actor per connection (see above). @default false */
  actorPerConnection?: boolean;
}

const connecting = floorConnectionMachine('connecting');

export interface BareServer {
  port: number;
  /** Open WebSockets, for /stats and the memory benchmark. */
  connections(): number;
  close(): Promise<void>;
}

const pathOf = (request: IncomingMessage) => (request.url ?? '/').split('?', 1)[0];
const queryOf = (request: IncomingMessage) => new URLSearchParams((request.url ?? '').split('?')[1] ?? '');

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
  });
  response.end(`${JSON.stringify(body, null, 2)}\n`);
}

export async function startBareServer({
  host = '127.0.0.1',
  port = 0,
  actorPerConnection = false,
}: BareServerOptions = {}): Promise<BareServer> {
  let open = 0;
  const wss = new WebSocketServer({ noServer: true, clientTracking: false, maxPayload: 1_048_576 });
  const server = createServer((request, response) => {
    const pathname = pathOf(request);
    if (request.method === 'GET' && pathname === '/stats') {
      sendJson(response, 200, { connections: open });
    } else if (request.method === 'GET' && pathname === '/') {
      response.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      response.end('bare ws server: connect with ws://<host>:<port>/?user=<id>, GET /stats\n');
    } else {
      sendJson(response, 404, { error: 'not found' });
    }
  });
  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const userId = queryOf(request).get('user');
    if (userId === null) return refuseUpgrade(socket, 401, 'unauthenticated');
    const problem = checkUserId(userId);
    if (problem !== undefined) return refuseUpgrade(socket, 400, problem);
    wss.handleUpgrade(request, socket, head, (ws) => {
      open += 1;
      const actor = actorPerConnection ? createActor(connecting).start() : undefined;
      actor?.send({ type: 'OPEN' });
      ws.on('message', (data, isBinary) => {
        actor?.send({ type: 'TOUCH' });
        ws.send(data as Buffer, { binary: isBinary });
      });
      ws.on('error', () => {});
      ws.on('close', () => {
        open -= 1;
        actor?.send({ type: 'CLOSE' });
        actor?.send({ type: 'CLOSED' });
      });
    });
  });
  server.listen(port, host);
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => open,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
