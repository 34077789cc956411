/**
 * examples/rooms.ts, as `npm run example:rooms` runs it (from dist/): Socket.IO's
 * rooms kept in app data, and a message to a room delivered by a filtered
 * broadcast. It must reach exactly the room's members: not the sender, not a
 * connection that left the room, not another connection of a member's user
 * (rooms belong to connections, as in Socket.IO), not anyone else; and only a member
 * may post (the app checks, the library does not). And a
 * client that authenticate refuses reads why, as socket.io-client reads connect_error.
 */
import { once } from 'node:events';
import { expect, it } from 'vitest';
import WebSocket from 'ws';
import { runProgram } from '../helpers/process.js';
import { closed } from '../helpers/server.js';

interface Client {
  ws: WebSocket;
  /** Every message received since the socket opened, parsed. */
  inbox: unknown[];
  /** Sends `command` (as JSON unless a string) and resolves with the answer: the next message that is not a room's. */
  ask(command: unknown): Promise<unknown>;
}

/** A room message may arrive while a client waits for the answer to its own command: it is not the answer. */
const isRoomMessage = (message: unknown) =>
  typeof message === 'object' && message !== null && 'room' in message;

async function connect(url: string, query: string): Promise<Client> {
  const ws = new WebSocket(`${url}/?${query}`);
  const inbox: unknown[] = [];
  ws.on('message', (data: Buffer) => inbox.push(JSON.parse(data.toString())));
  await once(ws, 'open');
  const ask = (command: unknown) =>
    new Promise<unknown>((resolve) => {
      const answered = (data: Buffer) => {
        const message: unknown = JSON.parse(data.toString());
        if (isRoomMessage(message)) return;
        ws.off('message', answered);
        resolve(message);
      };
      ws.on('message', answered);
      ws.send(typeof command === 'string' ? command : JSON.stringify(command));
    });
  return { ws, inbox, ask };
}

it('a message to a room reaches exactly the members of that room', async () => {
  const program = runProgram('dist/examples/rooms.js', ['--port', '0']);
  const [, url = ''] = await program.waitFor(/listening on (ws:\/\/127\.0\.0\.1:\d+)/);

  const alice = await connect(url, 'user=alice&room=lobby'); // joined by her token
  const aliceOtherTab = await connect(url, 'user=alice'); // same user, no room
  const bob = await connect(url, 'user=bob&room=lobby&room=kitchen');
  const carol = await connect(url, 'user=carol&room=kitchen');
  const dave = await connect(url, 'user=dave');
  const erin = await connect(url, 'user=erin&room=lobby');
  expect(await dave.ask({ join: 'lobby' })).toEqual({ joined: 'lobby' });
  expect(await erin.ask({ leave: 'lobby' })).toEqual({ left: 'lobby' });

  // To the lobby: bob and dave; not alice (the sender), her other tab, carol or erin.
  expect(await alice.ask({ to: 'lobby', text: 'hi' })).toEqual({ sent: 'lobby', delivered: 2 });
  // The library lets anyone post (as Socket.IO); the app's onMessage refuses a non-member, and
  // nothing reaches the room (a new-user trial's mallory posted into alice's room).
  expect(await dave.ask({ to: 'kitchen', text: 'burnt' })).toEqual({ error: 'not a member of kitchen' });
  expect(await carol.ask({ to: 'kitchen', text: 'dinner' })).toEqual({ sent: 'kitchen', delivered: 1 });
  expect(await carol.ask('not json')).toEqual({ error: expect.stringMatching(/^expected/) });

  // Each client's last answer came after any room message sent to it before it, on the same socket.
  for (const client of [aliceOtherTab, erin]) await client.ask({ to: 'nowhere', text: '' });
  const inLobby = { room: 'lobby', from: 'alice', text: 'hi' };
  const inKitchen = { room: 'kitchen', from: 'carol', text: 'dinner' };
  const notInNowhere = { error: 'not a member of nowhere' };
  expect(alice.inbox).toEqual([{ sent: 'lobby', delivered: 2 }]);
  expect(aliceOtherTab.inbox).toEqual([notInNowhere]);
  expect(bob.inbox).toEqual([inLobby, inKitchen]);
  expect(carol.inbox).toEqual([
    { sent: 'kitchen', delivered: 1 },
    { error: expect.stringMatching(/^expected/) },
  ]);
  expect(dave.inbox).toEqual([{ joined: 'lobby' }, inLobby, { error: 'not a member of kitchen' }]);
  expect(erin.inbox).toEqual([{ left: 'lobby' }, notInNowhere]);

  // A connection holds at most 32 rooms: bob holds 2, so his 31st join is refused.
  for (let room = 1; room <= 30; room += 1) await bob.ask({ join: `room-${room}` });
  expect(await bob.ask({ join: 'one-too-many' })).toEqual({ error: 'too many rooms' });
  expect(await bob.ask({ to: 'one-too-many', text: '' })).toEqual({ error: 'not a member of one-too-many' });

  // Refused in authenticate, as Socket.IO's middleware refuses with next(new Error()): with
  // refuse: 'close' the client reads why (4401 and a reason), where an HTTP 401 would reach a
  // browser as a bare 1006 that a reconnecting client retries forever.
  const anonymous = new WebSocket(`${url}/?room=lobby`);
  anonymous.on('error', () => {}); // what HTTP 401 gives ws's client: the close below then says 1006
  expect(await closed(anonymous)).toEqual({ code: 4401, reason: 'expected ?user=<id> refusal=refused' });

  const clients = [alice, aliceOtherTab, bob, carol, dave, erin];
  const closes = Promise.all(clients.map((client) => closed(client.ws)));
  program.child.kill('SIGTERM');
  expect((await closes).map((close) => close.code)).toEqual(clients.map(() => 1001));
  expect(await program.exited).toBe(0);
});
