// Run: npm run example:fastify -- --port 8080
// Connect: ws://127.0.0.1:8080/ws?user=alice (supervised) and ws://127.0.0.1:8080/live (Fastify's own)
import fastifyWebsocket from '@fastify/websocket';
import Fastify from 'fastify';
import type { WebSocket } from 'ws';
import { createSupervisor } from 'ws-supervisor';
// Not the library: the examples' own --port, --help and listen error. Your app reads its own configuration.
import { cannotListen, readExampleFlags } from './reference-server/command-line.js';

const { port } = readExampleFlags({
  script: 'example:fastify',
  about:
    'Fastify with @fastify/websocket: ws://127.0.0.1:<port>/ws?user=<id> (supervised) and /live (its own).',
});

const supervisor = createSupervisor({
  // Demo only: trusts ?user=<id>. Verify a real token here.
  authenticate: (request) => new URLSearchParams(request.url?.split('?')[1]).get('user'),
  onMessage: (connection, data, isBinary) => connection.send(data, { binary: isBinary }),
});
// A route @fastify/websocket serves itself, beside the supervised one.
const onLive = (socket: WebSocket) => {
  socket.on('message', (data: Buffer) => socket.send(`live: ${data}`));
};

// #region coexist
// forceCloseConnections: its close() cuts HTTP stragglers after preClose (after shutdown() below),
// or a request whose headers never end holds the server's close forever.
const app = Fastify({ forceCloseConnections: true });
await app.register(fastifyWebsocket); // @fastify/websocket on its own routes
app.get('/live', { websocket: true }, onLive);
const detach = supervisor.attach(app.server, { path: '/ws' }); // before or after listen()
// #endregion coexist

// #region shutdown
// preClose, not onClose: Fastify runs onClose after its server has closed, and the server
// cannot close while the supervisor's clients are connected: app.close() would never end.
app.addHook('preClose', async () => {
  await supervisor.shutdown(); // 1001 to every client; /ws answers 503 from now on
});
// Let go of /ws only once the server has closed. Undone in preClose, an upgrade arriving
// before the close would reach Fastify's routes as a plain GET.
app.addHook('onClose', async () => detach());
// #endregion shutdown

await app.listen({ port, host: '127.0.0.1' }).catch(cannotListen); // a port in use: one line, exit 2
const { port: bound } = app.server.address() as { port: number };
console.log(`listening on ws://127.0.0.1:${bound}/ws`);

// `on`, not `once`: under npm, Ctrl-C reaches node twice.
const stop = () => void app.close();
process.on('SIGINT', stop).on('SIGTERM', stop);
