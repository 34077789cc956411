/**
 * An Express 5 app that mounts the live dashboard (ws-supervisor/dashboard)
 * on a path of its own, behind a token, and serves Prometheus metrics
 * (ws-supervisor/metrics, with the optional peer prom-client) next to its
 * own routes. WebSockets are supervised on the same port.
 *
 *   npm run example:express-dashboard -- --port 8080
 *   then open http://127.0.0.1:8080/ops/dashboard?token=demo-token-not-a-secret (the npm script sets DASHBOARD_TOKEN=demo-token-not-a-secret
 *   unless it is set; run directly, the program refuses to start without DASHBOARD_TOKEN, or with
 *   one under 16 characters),
 *   scrape http://127.0.0.1:8080/metrics, and connect to ws://127.0.0.1:8080/?user=<id>
 */
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { Registry } from 'prom-client';
import { createSupervisor } from 'ws-supervisor';
import { type Authorize, createDashboard, tokenAuthorizer } from 'ws-supervisor/dashboard';
import { registerMetrics } from 'ws-supervisor/metrics';
// Not the library: the examples' own --port, --help and listen error. Your app reads its own configuration.
import { exitIfCannotListen, readExampleFlags } from './reference-server/command-line.js';

const flags = readExampleFlags({
  script: 'example:express-dashboard',
  about:
    'An Express 5 app with the dashboard at /ops/dashboard?token=<DASHBOARD_TOKEN>,\n' +
    '/metrics, and WebSockets at ws://127.0.0.1:<port>/?user=<id>. DASHBOARD_TOKEN is required\n' +
    '(at least 16 characters; the npm script sets it to demo unless it is set).',
  portVariable: 'PORT',
});

const supervisor = createSupervisor({
  preset: 'production',
  // Demo only: trusts ?user=<id>. Verify a real token (JWT, session) here.
  authenticate: (request: IncomingMessage) => new URLSearchParams(request.url?.split('?')[1]).get('user'),
  onMessage: (connection, data, isBinary) => {
    connection.send(data, { binary: isBinary });
  },
});

// #region dashboard
// No fallback token: one written here would be public, and so would your users.
const dashboardToken = process.env.DASHBOARD_TOKEN;
if (dashboardToken === undefined || dashboardToken.trim() === '') {
  console.error('error: set DASHBOARD_TOKEN to the secret that opens the dashboard (it shows your users)');
  process.exit(2);
}
let authorize: Authorize;
try {
  authorize = tokenAuthorizer(dashboardToken);
} catch (error) {
  // It refuses a token a guess finds (under 16 characters): say which rule, in one line.
  console.error(`error: DASHBOARD_TOKEN: ${(error as Error).message.replace(/^tokenAuthorizer: /, '')}`);
  process.exit(2);
}
const dashboard = createDashboard(supervisor, {
  basePath: '/ops/dashboard', // where it is mounted below: the page finds its chart and events under it
  authorize,
});
const app = express();
app.use('/ops/dashboard', dashboard);
// #endregion dashboard

// #region metrics
const registry = new Registry(); // or prom-client's default `register`, next to collectDefaultMetrics()
const unregisterMetrics = registerMetrics(supervisor, { registry });
app.get('/metrics', async (_request, response) => {
  response.type(registry.contentType).send(await registry.metrics());
});
// #endregion metrics

app.get('/', (_request, response) => {
  response.send('your own routes live here; the dashboard is at /ops/dashboard\n');
});

const server = app.listen(flags.port, '127.0.0.1');
exitIfCannotListen(server);
supervisor.attach(server);

// `on`, not `once`: under npm, Ctrl-C reaches node twice; the second copy must
// not meet Node's default handler while the clients drain.
const stopSignal = new Promise<string>((resolve) => {
  process.on('SIGINT', resolve).on('SIGTERM', resolve);
});
await once(server, 'listening');
console.log(`listening on ws://127.0.0.1:${(server.address() as AddressInfo).port}`);

const signal = await stopSignal;
console.log(`${signal}: draining`);
server.close();
// Event streams never end on their own: end them, or the server would wait for the browsers.
dashboard.close();
await supervisor.shutdown();
unregisterMetrics();
server.closeAllConnections();
