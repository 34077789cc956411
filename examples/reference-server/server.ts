/**
 * The reference server: HTTP + WebSocket on one port, echo of each message,
 * demo authentication by `?user=<id>`, `GET /stats`, and the live dashboard at
 * `GET /dashboard` (see dashboard/).
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSupervisor, type Supervisor } from '../../src/index.js';
import type { ServerConfig } from './config.js';
import { createDashboard, type Dashboard } from './dashboard/index.js';

export interface ReferenceServer {
  supervisor: Supervisor;
  /** Serves GET /dashboard and its event streams. */
  dashboard: Dashboard;
  /** ws://host:port */
  url: string;
  port: number;
  /** Drains every client with 1001 (bounded by drainTimeoutMs), then closes the HTTP server. */
  close(): Promise<void>;
}

// Request targets are split by hand: `new URL()` throws on targets such as
// `//[`, and a throw in a server listener would take the process down.
const pathOf = (request: IncomingMessage) => (request.url ?? '/').split('?', 1)[0];
const queryOf = (request: IncomingMessage) => new URLSearchParams((request.url ?? '').split('?')[1] ?? '');

/** Demo only: trusts ?user=<id>. A real app verifies a token here. */
const userFromQuery = (request: IncomingMessage) => queryOf(request).get('user');

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
  });
  response.end(`${JSON.stringify(body, null, 2)}\n`);
}

export async function startReferenceServer(
  config: ServerConfig,
  log: (line: string) => void = console.log,
): Promise<ReferenceServer> {
  const supervisor = createSupervisor({
    ...config.limits,
    authenticate: userFromQuery,
    onMessage: (connection, data, isBinary) => {
      connection.send(data, { binary: isBinary });
    },
    onError: (error) => log(`error ${error.code}: ${error.message}`),
  });

  const dashboard = createDashboard(supervisor);
  const server = createServer((request, response) => {
    const pathname = pathOf(request);
    if (dashboard.handle(request, response, pathname ?? '/')) return;
    if (request.method === 'GET' && pathname === '/stats') {
      sendJson(response, 200, supervisor.stats({ perUser: true }));
    } else if (request.method === 'GET' && pathname === '/') {
      response.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      response.end(
        'ws-supervisor reference server: connect with ws://<host>:<port>/?user=<id>, GET /stats, GET /dashboard\n',
      );
    } else {
      sendJson(response, 404, { error: 'not found' });
    }
  });
  supervisor.attach(server);
  server.listen(config.port, config.host);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;

  let closing: Promise<void> | undefined;
  return {
    supervisor,
    dashboard,
    url: `ws://${host}:${port}`,
    port,
    close() {
      closing ??= (async () => {
        // Stop accepting first, so no request arrives between drain and close.
        const httpClosed = new Promise<void>((resolve) => server.close(() => resolve()));
        // Event streams never end on their own: end them, or close() would wait for the browser.
        dashboard.close();
        await supervisor.shutdown();
        server.closeAllConnections();
        await httpClosed;
      })();
      return closing;
    },
  };
}
