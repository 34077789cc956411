// Each marked line must be a type error: if the library's types were `any`
// (ws types missing), they would all compile. The test expects exactly these.
import { type ConnectionHandle, createSupervisor } from 'ws-supervisor';

export function wrong(connection: ConnectionHandle): void {
  const n: number = connection.socket; // WRONG: a ws WebSocket, not a number
  console.log(n);
}

createSupervisor({
  authenticate: () => 'user',
  webSocketServer: 'not a server', // WRONG: not a ws WebSocketServer
});

createSupervisor({
  authenticate: () => 'user',
  maxConnectionsPerUser: '20', // WRONG: a number
});
