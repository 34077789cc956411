/**
 * Socket.IO's rooms, the ws-supervisor way: `connection.join(room)` and
 * `supervisor.sendToRoom(room, data, { except })`; messages are JSON of the
 * app's own framing. A connection leaves its rooms as it starts to drain (or
 * at its disposal, ending without a drain), however it ends. docs/coming-from-socket-io.md quotes the region
 * below (test/examples/readme-snippets.test.ts).
 *
 *   npm run example:rooms -- --port 8080
 *   then connect to ws://127.0.0.1:8080/?user=<id>&room=<room> (room: any number, or none)
 *   and send {"join":"<room>"}, {"leave":"<room>"} or {"to":"<room>","text":"…"}
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSupervisor, Refusal, roomNameProblem } from 'ws-supervisor';
// Not the library: the examples' own --port, --help and listen error. Your app reads its own configuration.
import { exitIfCannotListen, readExampleFlags } from './reference-server/command-line.js';

const { port } = readExampleFlags({
  script: 'example:rooms',
  about:
    'Rooms: connect to ws://127.0.0.1:<port>/?user=<id>&room=<room>, then send\n' +
    '{"join":"<room>"}, {"leave":"<room>"} or {"to":"<room>","text":"..."}.',
});

/** What a client may send: the app's framing, not the library's. */
type Command = { join: string } | { leave: string } | { to: string; text: string };

/** A room name join() takes (the library's own check), and short enough for this app. */
const isRoom = (room: unknown): room is string =>
  roomNameProblem(room) === undefined && (room as string).length <= 64;

function parseCommand(text: string): Command | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const command = value as Record<string, unknown>;
  if (isRoom(command.join)) return { join: command.join };
  if (isRoom(command.leave)) return { leave: command.leave };
  if (isRoom(command.to) && typeof command.text === 'string') return { to: command.to, text: command.text };
  return undefined;
}

// #region rooms
const supervisor = createSupervisor<{ rooms: string[] }>({
  preset: 'production',
  refuse: 'close', // as connect_error: a refused client reads a close code (4000 + status) and the message
  maxRoomsPerConnection: 32, // join() returns false beyond it: a client cannot grow the server's memory
  authenticate: (request) => {
    // Demo only: trusts ?user=<id>&room=<room>. Verify a real token, and the rooms it grants, here.
    const query = new URLSearchParams(request.url?.split('?')[1]);
    const user = query.get('user');
    if (user === null) return new Refusal(401, 'expected ?user=<id>'); // next(new Error(...)): close 4401
    return { userId: user, data: { rooms: query.getAll('room').filter(isRoom) } };
  },
  onOpen: (connection) => {
    for (const room of connection.data?.rooms ?? []) connection.join(room); // socket.join(room)
  },
  onMessage: (connection, data, isBinary) => {
    const command = isBinary ? undefined : parseCommand(data.toString());
    if (command === undefined) {
      connection.send(JSON.stringify({ error: 'expected {"join"}, {"leave"} or {"to","text"}' }));
    } else if ('join' in command) {
      // Any room here: the library never checks who may join. Check what this user may join first.
      const joined = connection.join(command.join); // false at maxRoomsPerConnection
      connection.send(JSON.stringify(joined ? { joined: command.join } : { error: 'too many rooms' }));
    } else if ('leave' in command) {
      connection.leave(command.leave); // socket.leave(room)
      connection.send(JSON.stringify({ left: command.leave }));
    } else if (!connection.rooms.has(command.to)) {
      // The library never checks who may post: sendToRoom() sends for anyone. Members only, here.
      connection.send(JSON.stringify({ error: `not a member of ${command.to}` }));
    } else {
      // socket.to(room).emit(...): every member of the room but the sender, O(members).
      const message = JSON.stringify({ room: command.to, from: connection.userId, text: command.text });
      const delivered = supervisor.sendToRoom(command.to, message, { except: connection.id });
      connection.send(JSON.stringify({ sent: command.to, delivered })); // in place of an ack
    }
  },
});
// Nothing to undo on disconnect: a connection is in no room once it is disposed, however it ended.
// #endregion rooms

const server = createServer((_request, response) => response.end('your routes here\n'));
supervisor.attach(server);
exitIfCannotListen(server);
server.listen(port, '127.0.0.1', () => {
  console.log(`listening on ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
});

// `on`, not `once`: under npm, Ctrl-C reaches node twice, and shutdown() is idempotent.
const stop = () =>
  void supervisor
    .shutdown() // 1001 to every client
    .catch((error: unknown) => console.error('shutdown failed', error))
    .finally(() => {
      // After shutdown() only HTTP stragglers are left: cut them, or a request whose
      // headers never end holds close() forever (examples/embedding.ts says why).
      server.close();
      server.closeAllConnections();
    });
process.on('SIGINT', stop).on('SIGTERM', stop);
