// Runs the installed package for real: the supervisor's own WebSocketServer,
// made from the app's ws (the peer, resolved from inside the package), a real
// socket, an echo, the mounted dashboard, shutdown; then charts without the
// optional peer elkjs, metrics without the optional peer prom-client, and cluster
// mode without the optional peer redis.
// Prints one JSON line with what it saw.
import { once } from 'node:events';
import { createServer } from 'node:http';
import WebSocket from 'ws';
import { charts, createSupervisor, renderChart } from 'ws-supervisor';
import { createClient } from 'ws-supervisor/client';
import { createDashboard } from 'ws-supervisor/dashboard';
import { registerMetrics } from 'ws-supervisor/metrics';

const supervisor = createSupervisor({
  preset: 'test',
  authenticate: () => 'consumer',
  onMessage: (connection, data) => connection.send(data),
});
const dashboard = createDashboard(supervisor, { authorize: () => true }); // open: a loopback test
const server = createServer(dashboard);
supervisor.attach(server);
server.listen(0, '127.0.0.1');
await once(server, 'listening');

// ws-supervisor/client, with the app's ws as its WebSocket: an echo, then close() for good.
const client = createClient({ url: `ws://127.0.0.1:${server.address().port}/`, WebSocket });
const clientEcho = await new Promise((resolve) => {
  client.on('open', () => client.send('from the client'));
  client.on('message', ({ data }) => resolve(String(data)));
});
client.close();

const ws = new WebSocket(`ws://127.0.0.1:${server.address().port}/`);
await once(ws, 'open');
ws.send('hello');
const [echo] = await once(ws, 'message');
const base = `http://127.0.0.1:${server.address().port}/dashboard`;
const page = (await fetch(base)).status;
const chart = await fetch(`${base}/chart.svg`); // needs elkjs: a 500 that says so
const dashboardSeen = { page, chart: chart.status, chartSays: await chart.text() };
const closed = once(ws, 'close');
dashboard.close();
await supervisor.shutdown({ deadlineMs: 1000 });
const [closeCode] = await closed;
server.close();

const mermaid = await renderChart(charts.connection);
const svg = await renderChart(charts.connection, { format: 'svg' }).then(
  () => ({ ok: true }),
  (error) => ({ ok: false, name: error.name, code: error.code, peer: error.peer, message: error.message }),
);
let metrics;
try {
  registerMetrics(supervisor);
  metrics = { ok: true };
} catch (error) {
  metrics = { ok: false, name: error.name, code: error.code, peer: error.peer, message: error.message };
}
// Cluster mode on a Redis URL without the optional peer redis: createSupervisor() must say so
// at once, not report it later to onError and admit against this process's limit only.
let cluster;
try {
  const clustered = createSupervisor({
    authenticate: () => 'consumer',
    onError: () => {},
    cluster: { redis: 'redis://127.0.0.1:1' },
  });
  await clustered.shutdown();
  cluster = { ok: true };
} catch (error) {
  cluster = { ok: false, name: error.name, code: error.code, peer: error.peer, message: error.message };
}
console.log(
  JSON.stringify({
    echo: echo.toString(),
    clientEcho,
    closeCode,
    counters: supervisor.stats().counters,
    mermaid: mermaid.split('\n')[0],
    svg,
    dashboard: dashboardSeen,
    metrics,
    cluster,
  }),
);
