/**
 * Socket.IO's rooms, the ws-supervisor way: the rooms a connection joined are
 * its app data, messages are JSON of the app's own framing, and a message to
 * a room is a broadcast filtered over that data. The README ("Coming from
 * Socket.IO") quotes the region below (test/examples/readme-snippets.test.ts).
 *
 *   npm run example:rooms -- --port 8080
 *   then connect to ws://127.0.0.1:8080/?user=<id>&room=<room> (room: any number, or none)
 *   and send {"join":"<room>"}, {"leave":"<room>"} or {"to":"<room>","text":"…"}
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSupervisor, Refusal } from 'ws-supervisor';
// Not the library: the examples' own --port, --help and listen error. Your app reads its own configuration.
import { exitIfCannotListen, readExampleFlags } from './reference-server/command-line.js';

const { port } = readExampleFlags({
  script: 'example:rooms',
  about:
    'Rooms over app data: connect to ws://127.0.0.1:<port>/?user=<id>&room=<room>, then send\n' +
    '{"join":"<room>"}, {"leave":"<room>"} or {"to":"<room>","text":"..."}.',
});

/** What a client may send: the app's framing, not the library's. */
type Command = { join: string } | { leave: string } | { to: string; text: string };

const isRoom = (room: unknown): room is string =>
  typeof room === 'string' && room.length > 0 && room.length <= 64;

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
interface Member {
  rooms: Set<string>; // this connection's rooms, as Socket.IO's socket.rooms
}
const maxRooms = 32; // per connection: a client cannot grow the server's memory by joining

const supervisor = createSupervisor<Member>({
  preset: 'production',
  refuse: 'close', // as connect_error: a refused client reads a close code (4000 + status) and the message
  authenticate: (request) => {
    // Demo only: trusts ?user=<id>&room=<room>. Verify a real token, and the rooms it grants, here.
    const query = new URL(request.url ?? '/', 'http://localhost').searchParams;
    const user = query.get('user');
    if (user === null) return new Refusal(401, 'expected ?user=<id>'); // next(new Error(...)): close 4401
    return { userId: user, data: { rooms: new Set(query.getAll('room').filter(isRoom).slice(0, maxRooms)) } };
  },
  onMessage: (connection, data, isBinary) => {
    const command = isBinary ? undefined : parseCommand(data.toString());
    const rooms = connection.data?.rooms;
    if (command === undefined || rooms === undefined) {
      connection.send(JSON.stringify({ error: 'expected {"join"}, {"leave"} or {"to","text"}' }));
    } else if ('join' in command) {
      if (rooms.size >= maxRooms) return void connection.send(JSON.stringify({ error: 'too many rooms' }));
      rooms.add(command.join); // socket.join(room)
      connection.send(JSON.stringify({ joined: command.join }));
    } else if ('leave' in command) {
      rooms.delete(command.leave); // socket.leave(room)
      connection.send(JSON.stringify({ left: command.leave }));
    } else {
      // socket.to(room).emit(...): every member of the room but the sender. O(connections).
      const message = JSON.stringify({ room: command.to, from: connection.userId, text: command.text });
      const delivered = supervisor.broadcast(message, {
        filter: (member) => member.id !== connection.id && member.data?.rooms.has(command.to) === true,
      });
      connection.send(JSON.stringify({ sent: command.to, delivered })); // in place of an ack
    }
  },
});
// Leaving a room on disconnect is nothing to do: the set goes with the connection's handle.
// #endregion rooms

const server = createServer((_request, response) => response.end('your routes here\n'));
supervisor.attach(server);
exitIfCannotListen(server);
server.listen(port, '127.0.0.1', () => {
  console.log(`listening on ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
});

// `on`, not `once`: under npm, Ctrl-C reaches node twice, and shutdown() is idempotent.
const stop = () => void supervisor.shutdown().then(() => server.close()); // 1001 to every client
process.on('SIGINT', stop).on('SIGTERM', stop);
