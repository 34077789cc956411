// A strict TypeScript app using the public API as the README shows it. Must compile with no error,
// including the library's own .d.ts files (skipLibCheck: false).
import { createServer } from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';
import {
  type ConnectionHandle,
  charts,
  createSupervisor,
  type DisposedEvent,
  type ErrorCode,
  MissingPeerError,
  renderChart,
  type SupervisorStats,
} from 'ws-supervisor';
import { type ClientCloseEvent, type ClientState, createClient } from 'ws-supervisor/client';
import { clientMachine, connectionMachine } from 'ws-supervisor/machines';

const supervisor = createSupervisor({
  preset: 'production',
  authenticate: (request) => request.headers.authorization ?? null,
  onMessage: (connection, data, isBinary) => {
    const sent: boolean = connection.send(data, { binary: isBinary });
    return sent;
  },
  onClose: (connection, { reason, closeCode }) => console.log(connection.id, reason, closeCode),
  webSocketServer: new WebSocketServer({ noServer: true, perMessageDeflate: false }),
});

export function socketOf(connection: ConnectionHandle): WebSocket | undefined {
  const socket = connection.socket;
  if (socket !== undefined && socket.readyState === WebSocket.OPEN) socket.ping();
  return socket;
}

const server = createServer().listen(0);
const detach: () => void = supervisor.attach(server, { path: '/ws' });
supervisor.on('disposed', (event: DisposedEvent) => console.log(event.connectionId, event.lifetimeMs));
const stats: SupervisorStats = supervisor.stats();
const code: ErrorCode = 'WSSUP_MISSING_PEER';
console.log(stats.connections, code, connectionMachine.id);

renderChart(charts.connection, { format: 'svg' }).catch((error: unknown) => {
  if (error instanceof MissingPeerError) console.log(error.peer, error.code);
});
// ws's WebSocket is a constructor the client takes as it is (Node 20 has no global one).
const client = createClient({ url: 'ws://127.0.0.1:1/ws', WebSocket, backoff: { capMs: 60_000 } });
client.on('close', (event: ClientCloseEvent) => console.log(event.kind, event.next, event.retryAfterMs));
const state: ClientState = client.state;
console.log(state, client.send(new Uint8Array(1)), clientMachine.id);
client.close();

await supervisor.shutdown({ deadlineMs: 100 });
detach();
server.close();
