/**
 * Rooms (connection.join/leave/rooms, supervisor.sendToRoom/roomMembers), as
 * an app uses them, on real clients over loopback. The membership is the
 * connection's: whichever way a connection ends, it is in no room once it is
 * disposed, and a room nobody is in is gone (stats().resources.rooms and
 * roomMembers() say so; audit() checks both sides after every test).
 */
import { describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { type ConnectionHandle, MAX_ROOM_BYTES, SupervisorError } from '../../src/index.js';
import {
  type Client,
  closeOf,
  drainTimeoutMs,
  idleTimeoutMs,
  nextEvent,
  type RulesServer,
  startRulesServer,
  stopReading,
} from '../helpers/rules.js';
import { allDisposed, expectNoLeaks, ioWait, nextMessage, userFromQuery } from '../helpers/server.js';

/** Collects every message the client receives from now on. */
function inbox(ws: WebSocket): string[] {
  const received: string[] = [];
  ws.on('message', (data: Buffer) => received.push(data.toString()));
  return received;
}

const ids = (handles: readonly ConnectionHandle[]) => handles.map((handle) => handle.id);
const roomsOf = (t: RulesServer) => {
  const { rooms, roomMemberships } = t.supervisor.stats().resources;
  return { rooms, roomMemberships };
};

async function closeAll(t: RulesServer, clients: readonly Client[]): Promise<void> {
  for (const { ws } of clients) ws.close();
  await allDisposed(t.supervisor);
  expect(roomsOf(t)).toEqual({ rooms: 0, roomMemberships: 0 });
  expectNoLeaks(t.supervisor);
}

/** A round trip through the echo: everything sent to `ws` before it has arrived. */
async function flush(ws: WebSocket): Promise<void> {
  const echo = nextMessage(ws);
  ws.send('flush');
  expect(await echo).toBe('flush');
}

describe('join, leave and sendToRoom', () => {
  it('sends to the members of a room only, all but `except`, and counts them', async () => {
    const t = await startRulesServer();
    const [ann, bob, cy] = [await t.open('ann'), await t.open('bob'), await t.open('cy')];
    const cyInbox = inbox(cy.ws);

    expect(ann.handle.join('lobby')).toBe(true);
    expect(bob.handle.join('lobby')).toBe(true);
    expect(bob.handle.join('lobby')).toBe(true); // already a member: nothing changes
    expect(cy.handle.join('kitchen')).toBe(true);
    expect([...bob.handle.rooms]).toEqual(['lobby']);
    expect(ids(t.supervisor.roomMembers('lobby'))).toEqual([ann.id, bob.id]);
    expect([t.supervisor.roomSize('lobby'), t.supervisor.roomSize('kitchen')]).toEqual([2, 1]);
    expect(roomsOf(t)).toEqual({ rooms: 2, roomMemberships: 3 });

    const both = Promise.all([nextMessage(ann.ws), nextMessage(bob.ws)]);
    expect(t.supervisor.sendToRoom('lobby', 'hello lobby')).toBe(2);
    expect(await both).toEqual(['hello lobby', 'hello lobby']);

    // socket.to(room).emit(): everyone but the sender.
    const annInbox = inbox(ann.ws);
    const toBob = nextMessage(bob.ws);
    expect(t.supervisor.sendToRoom('lobby', 'from ann', { except: ann.id })).toBe(1);
    expect(await toBob).toBe('from ann');

    const binary = new Promise<boolean>((resolve) =>
      bob.ws.once('message', (_data, isBinary) => resolve(isBinary)),
    );
    expect(t.supervisor.sendToRoom('lobby', Buffer.from('bytes'), { except: ann.id, binary: true })).toBe(1);
    expect(await binary).toBe(true);

    expect(t.supervisor.sendToRoom('nobody-here', 'hi')).toBe(0);
    expect(t.supervisor.roomMembers('nobody-here')).toEqual([]);
    expect(t.supervisor.roomSize('nobody-here')).toBe(0);
    await flush(ann.ws);
    await flush(cy.ws);
    expect(annInbox).toEqual(['flush']);
    expect(cyInbox).toEqual(['flush']); // not in the lobby: got nothing

    expect(ann.handle.leave('lobby')).toBe(true);
    expect(ann.handle.leave('lobby')).toBe(false); // no longer a member
    expect(ann.handle.rooms.size).toBe(0);
    expect(ids(t.supervisor.roomMembers('lobby'))).toEqual([bob.id]);
    expect(t.supervisor.roomSize('lobby')).toBe(1);
    expect(cy.handle.leave('kitchen')).toBe(true);
    // The last member out deletes the room: no entry is kept for a dead room's name.
    expect(t.supervisor.roomMembers('kitchen')).toEqual([]);
    expect(t.supervisor.roomSize('kitchen')).toBe(0);
    expect(roomsOf(t)).toEqual({ rooms: 1, roomMemberships: 1 });
    expect(t.supervisor.audit().mismatches).toEqual([]);
    await closeAll(t, [ann, bob, cy]);
  });

  it('roomNames() lists the rooms with members on this process, in the order each was made, until the last member is gone', async () => {
    const t = await startRulesServer();
    expect(t.supervisor.roomNames()).toEqual([]);
    const [ann, bob] = [await t.open('ann'), await t.open('bob')];
    ann.handle.join('lobby');
    bob.handle.join('kitchen');
    bob.handle.join('lobby');
    const names = t.supervisor.roomNames();
    expect(names).toEqual(['lobby', 'kitchen']);
    // A new array each call: the app's to keep or change, the books untouched.
    names.push('forged');
    expect(t.supervisor.roomNames()).toEqual(['lobby', 'kitchen']);

    expect(ann.handle.leave('lobby')).toBe(true);
    expect(t.supervisor.roomNames()).toEqual(['lobby', 'kitchen']); // bob is still in it
    // bob's connection ends: both rooms lose their last member as it starts draining.
    const disposed = nextEvent(t.supervisor, 'disposed', (event) => event.connectionId === bob.id);
    bob.ws.close();
    await disposed;
    expect(t.supervisor.roomNames()).toEqual([]);
    // Made again by its next first join: listed from then on, after any older room.
    ann.handle.join('kitchen');
    ann.handle.join('lobby');
    expect(t.supervisor.roomNames()).toEqual(['kitchen', 'lobby']);

    expect(() => (t.supervisor.roomNames as (options: unknown) => string[])({ cluster: true })).toThrow(
      expect.objectContaining({
        code: 'WSSUP_INVALID_ARGUMENT',
        message: expect.stringContaining('roomNames()'),
      }),
    );
    await closeAll(t, [ann]);
  });

  it('connection.rooms is a read-only copy in join order, safe to leave while iterating', async () => {
    const t = await startRulesServer();
    const ann = await t.open('ann');
    for (const room of ['a', 'b', 'c']) ann.handle.join(room);
    const rooms = ann.handle.rooms;
    expect([...rooms]).toEqual(['a', 'b', 'c']);
    // A cast cannot reach the books: the copy is the app's.
    (rooms as Set<string>).add('forged');
    expect(t.supervisor.roomMembers('forged')).toEqual([]);
    for (const room of ann.handle.rooms) ann.handle.leave(room);
    expect(ann.handle.rooms.size).toBe(0);
    expect(roomsOf(t)).toEqual({ rooms: 0, roomMemberships: 0 });
    await closeAll(t, [ann]);
  });

  it('joins from onOpen; refuses (false) before the socket opens, as send() does', async () => {
    const joinedOnOpen: boolean[] = [];
    const joinedWhenAdmitted: boolean[] = [];
    const t = await startRulesServer({
      onOpen: (connection) => void joinedOnOpen.push(connection.join('lobby')),
    });
    t.supervisor.on('admitted', ({ connectionId }) => {
      const handle = t.supervisor.connection(connectionId);
      joinedWhenAdmitted.push(handle?.join('early') ?? true);
    });
    const ann = await t.open('ann');
    expect(joinedWhenAdmitted).toEqual([false]);
    expect(joinedOnOpen).toEqual([true]);
    expect(ids(t.supervisor.roomMembers('lobby'))).toEqual([ann.id]);
    expect(t.supervisor.roomMembers('early')).toEqual([]);
    await closeAll(t, [ann]);
  });
});

describe('the per-connection cap (maxRoomsPerConnection)', () => {
  it('refuses a join beyond it with false, and allocates nothing', async () => {
    const t = await startRulesServer({ maxRoomsPerConnection: 2 });
    const ann = await t.open('ann');
    expect(ann.handle.join('a')).toBe(true);
    expect(ann.handle.join('b')).toBe(true);
    expect(ann.handle.join('c')).toBe(false);
    expect(ann.handle.join('a')).toBe(true); // already in it: still a member
    expect([...ann.handle.rooms]).toEqual(['a', 'b']);
    expect(t.supervisor.roomMembers('c')).toEqual([]);
    expect(roomsOf(t)).toEqual({ rooms: 2, roomMemberships: 2 });
    ann.handle.leave('a');
    expect(ann.handle.join('c')).toBe(true); // room again below the cap
    await closeAll(t, [ann]);
  });

  it('0 turns rooms off', async () => {
    const t = await startRulesServer({ maxRoomsPerConnection: 0 });
    const ann = await t.open('ann');
    expect(ann.handle.join('a')).toBe(false);
    expect(roomsOf(t)).toEqual({ rooms: 0, roomMemberships: 0 });
    await closeAll(t, [ann]);
  });
});

describe('bad input', () => {
  const badRooms: Array<[string, unknown]> = [
    ['an empty name', ''],
    ['a number', 7],
    ['undefined', undefined],
    ['an object', { room: 'lobby' }],
    [`${MAX_ROOM_BYTES + 1} bytes`, 'x'.repeat(MAX_ROOM_BYTES + 1)],
    [`${MAX_ROOM_BYTES / 2 + 1} two-byte characters`, 'é'.repeat(MAX_ROOM_BYTES / 2 + 1)],
    // The characters a user id may not hold (src/user-id.ts): a name from `?room=` can carry them.
    ['a NUL', 'a\u0000b'],
    ['a newline', 'line\nbreak'],
    ['a C1 control character (U+0085)', 'a\u0085b'],
    ['a right-to-left override (U+202E)', 'x\u202eevil'],
    ['a line separator (U+2028)', 'a\u2028b'],
    ['U+FFFD, the mark of bytes that were not UTF-8', 'alice\ufffd'],
    ['a lone surrogate', 'a\ud800'],
    ['a BOM (U+FEFF), invisible', '\ufefflobby'],
    ['a zero-width space (U+200B), invisible', 'lob\u200bby'],
  ];

  it.each(badRooms)(
    '%s is refused by join, leave, sendToRoom, roomMembers and roomSize, allocating nothing',
    async (_, room) => {
      const t = await startRulesServer();
      const ann = await t.open('ann');
      const annInbox = inbox(ann.ws);
      ann.handle.join('lobby');
      const calls: Array<[string, () => unknown]> = [
        ['join', () => ann.handle.join(room as string)],
        ['leave', () => ann.handle.leave(room as string)],
        ['sendToRoom', () => t.supervisor.sendToRoom(room as string, 'hi')],
        ['roomMembers', () => t.supervisor.roomMembers(room as string)],
        ['roomSize', () => t.supervisor.roomSize(room as string)],
      ];
      for (const [method, call] of calls) {
        expect(call, method).toThrow(SupervisorError);
        expect(call, method).toThrow(expect.objectContaining({ code: 'WSSUP_INVALID_ARGUMENT' }));
        expect(call, method).toThrow(new RegExp(`^${method}: a room name`));
      }
      expect(roomsOf(t)).toEqual({ rooms: 1, roomMemberships: 1 });
      await flush(ann.ws);
      expect(annInbox).toEqual(['flush']);
      await closeAll(t, [ann]);
    },
  );

  it('the longest name is allowed', async () => {
    const t = await startRulesServer();
    const ann = await t.open('ann');
    expect(ann.handle.join('x'.repeat(MAX_ROOM_BYTES))).toBe(true);
    expect(ann.handle.join('é'.repeat(MAX_ROOM_BYTES / 2))).toBe(true);
    // Any other text is a name: spaces, accents, other scripts, emoji (a surrogate pair).
    expect(ann.handle.join('café au lait 🎉 شاي')).toBe(true);
    // Invisible characters that carry meaning: a joiner in an emoji sequence, a variation selector.
    expect(ann.handle.join('dev 👩\u200d💻 \u2764\ufe0f')).toBe(true);
    await closeAll(t, [ann]);
  });

  it.each<[string, unknown, RegExp]>([
    ['options that are not an object', 'binary', /send options must be an object/],
    ['a binary that is not a boolean', { binary: 1 }, /options.binary must be a boolean/],
    ['an except that is not a string', { except: 42 }, /options.except must be a connection id/],
    ['a misspelt key', { exept: 'id' }, /unknown key exept/],
    ['a filter (broadcast’s, not a room’s)', { filter: () => true }, /unknown key filter/],
    ['data that is not sendable', undefined, /data must be a string/],
  ])('sendToRoom refuses %s and sends nothing', async (what, options, message) => {
    const t = await startRulesServer();
    const ann = await t.open('ann');
    const annInbox = inbox(ann.ws);
    ann.handle.join('lobby');
    const data = what.startsWith('data') ? undefined : 'hi';
    const send = () =>
      t.supervisor.sendToRoom('lobby', data as unknown as string, options as { binary: boolean });
    expect(send).toThrow(expect.objectContaining({ code: 'WSSUP_INVALID_ARGUMENT' }));
    expect(send).toThrow(message);
    await flush(ann.ws);
    expect(annInbox).toEqual(['flush']);
    await closeAll(t, [ann]);
  });

  it('sendToRoom given the sender’s handle as except says to pass its id, and sends nothing', async () => {
    const t = await startRulesServer();
    const ann = await t.open('ann');
    const annInbox = inbox(ann.ws);
    ann.handle.join('lobby');
    // Socket.IO's socket.to(room) takes no argument; a newcomer passes the socket itself.
    const send = () => t.supervisor.sendToRoom('lobby', 'hi', { except: ann.handle as unknown as string });
    expect(send).toThrow(expect.objectContaining({ code: 'WSSUP_INVALID_ARGUMENT' }));
    expect(send).toThrow(
      /^sendToRoom: options\.except must be a connection id \(a string\), got a connection handle: pass connection\.id$/,
    );
    await flush(ann.ws);
    expect(annInbox).toEqual(['flush']);
    await closeAll(t, [ann]);
  });
});

/**
 * Every way a connection ends. `end` ends `victim` (its user `vic` holds it
 * alone, unless the way needs more); `other` is in the same room and stays.
 */
const ways: Array<[string, (t: RulesServer, victim: Client) => unknown]> = [
  ['the client closes', (_t, victim) => victim.ws.close()],
  ['the client drops its TCP connection', (_t, victim) => victim.ws.terminate()],
  ['the app closes it', (_t, victim) => victim.handle.close(4000, 'bye')],
  ['disconnectUser', (t) => t.supervisor.disconnectUser('vic', 4003, 'banned')],
  [
    'a protocol error (an unmasked frame)',
    (_t, victim) =>
      (victim.ws as unknown as { _socket: { write(b: Buffer): void } })._socket.write(
        Buffer.from([0x81, 0x01, 0x61]),
      ),
  ],
  ['onMessage throws (1011)', (_t, victim) => victim.ws.send('throw')],
];

describe('membership ends with the connection, however it ends', () => {
  it.each(ways)('%s: in no room once disposed, its own rooms gone, the others kept', async (_, end) => {
    const t = await startRulesServer({
      onMessage: (connection, data, isBinary) => {
        if (data.toString() === 'throw') throw new Error('app bug');
        connection.send(data, { binary: isBinary });
      },
    });
    const victim = await t.open('vic');
    const other = await t.open('oth');
    victim.handle.join('shared');
    victim.handle.join('alone');
    other.handle.join('shared');
    const disposed = nextEvent(t.supervisor, 'disposed', (event) => event.connectionId === victim.id);

    await end(t, victim);
    await disposed;

    expect(ids(t.supervisor.roomMembers('shared'))).toEqual([other.id]);
    expect(t.supervisor.roomMembers('alone')).toEqual([]);
    expect(roomsOf(t)).toEqual({ rooms: 1, roomMemberships: 1 });
    // It reads the rooms it ended in (for onClose), though it is a member of none.
    expect([...victim.handle.rooms]).toEqual(['shared', 'alone']);
    expect(victim.handle.join('shared')).toBe(false); // a kept handle is inert
    expect(victim.handle.leave('shared')).toBe(false);
    expect(t.supervisor.sendToRoom('shared', 'still here')).toBe(1);
    expect(t.supervisor.audit().mismatches).toEqual([]);
    await closeAll(t, [other]);
  });

  it('an idle eviction (4001)', async () => {
    const t = await startRulesServer();
    const victim = await t.open('vic');
    victim.handle.join('shared');
    t.clock.increment(1);
    const more = [await t.open('vic'), await t.open('vic')];
    for (const client of more) client.handle.join('shared');
    t.clock.increment(idleTimeoutMs); // all three idle, the victim longest
    const closing = closeOf(victim.ws);
    const disposed = nextEvent(t.supervisor, 'disposed', (event) => event.connectionId === victim.id);
    const fourth = await t.open('vic'); // n = T: the longest idle goes
    expect(t.events.evicted.map((event) => event.connectionId)).toEqual([victim.id]);
    expect((await closing).code).toBe(4001);
    await disposed;
    expect(ids(t.supervisor.roomMembers('shared'))).toEqual(ids(more.map((client) => client.handle)));
    expect(roomsOf(t)).toEqual({ rooms: 1, roomMemberships: 2 });
    await closeAll(t, [...more, fourth]);
  });

  it('shutdown: every room is gone once it resolves', async () => {
    const t = await startRulesServer();
    const clients = [await t.open('ann'), await t.open('bob'), await t.open('ann')];
    clients.forEach((client, i) => {
      client.handle.join('all');
      client.handle.join(`room-${i}`);
    });
    expect(roomsOf(t)).toEqual({ rooms: 4, roomMemberships: 6 });
    const done = t.supervisor.shutdown();
    t.clock.increment(1_000); // the drain deadline, on simulated time
    await done;
    expect(roomsOf(t)).toEqual({ rooms: 0, roomMemberships: 0 });
    expect(t.supervisor.roomMembers('all')).toEqual([]);
    expectNoLeaks(t.supervisor);
  });
});

/**
 * Every cause of a drain, observed while the drain lasts: the victim stops reading, so
 * the close is never answered and its socket stays open (CLOSING) until the test moves
 * the clock by drainTimeoutMs. The membership must be gone from the drain's start, not
 * from the disposal the table above checks. (A dropped TCP connection never drains: it
 * is disposed at once. The idle eviction, a reconnect's eviction, the peer's close frame
 * on a half-open socket and an overflow have tests of their own, rooms-open-members.test.ts.)
 * Each row has its own server: the expiry needs a heartbeat, and shutdown ends it.
 */
const drainCauses: Array<
  [
    string,
    {
      options?: Parameters<typeof startRulesServer>[0];
      end: (t: RulesServer, victim: Client) => unknown;
      /** Who is still a member once the victim drains: `other`, unless the cause drains it too. */
      othersKept?: boolean;
    },
  ]
> = [
  ...ways
    .filter(([name]) => name !== 'the client drops its TCP connection')
    .map(([name, end]) => [name, { end }] as (typeof drainCauses)[number]),
  [
    'session expiry (expiresAt, at the heartbeat after it)',
    {
      options: {
        heartbeatIntervalMs: 1_000,
        authenticate: (request) => {
          const userId = userFromQuery(request) ?? 'nobody';
          return userId === 'vic' ? { userId, expiresAt: Date.now() + 500 } : userId;
        },
      },
      end: (t) => t.clock.increment(1_000),
    },
  ],
  ['shutdown', { end: (t) => void t.supervisor.shutdown(), othersKept: false }],
];

describe('membership ends as the drain starts, whatever its cause', () => {
  it.each(drainCauses)('%s: out of its rooms while its socket is still open', async (_, cause) => {
    const t = await startRulesServer({
      onMessage: (connection, data, isBinary) => {
        if (data.toString() === 'throw') throw new Error('app bug');
        connection.send(data, { binary: isBinary });
      },
      ...cause.options,
    });
    const victim = await t.open('vic');
    const other = await t.open('oth');
    victim.handle.join('shared');
    victim.handle.join('alone');
    other.handle.join('shared');
    expect(t.supervisor.roomSize('shared')).toBe(2);
    stopReading(victim.ws); // the close is never answered: the drain lasts drainTimeoutMs
    const disposed = nextEvent(t.supervisor, 'disposed', (event) => event.connectionId === victim.id);

    await cause.end(t, victim);
    await vi.waitFor(() => expect(t.supervisor.userStats('vic')).toMatchObject({ draining: 1 }), ioWait);
    expect(victim.handle.socket?.readyState).toBe(WebSocket.CLOSING);
    const kept = cause.othersKept === false ? [] : [other.id];
    expect({
      shared: ids(t.supervisor.roomMembers('shared')),
      sharedSize: t.supervisor.roomSize('shared'),
      alone: t.supervisor.roomSize('alone'),
      sentTo: t.supervisor.sendToRoom('shared', 'after'),
      mismatches: t.supervisor.audit().mismatches,
    }).toEqual({ shared: kept, sharedSize: kept.length, alone: 0, sentTo: kept.length, mismatches: [] });
    expect([...victim.handle.rooms]).toEqual(['shared', 'alone']); // for onClose

    t.clock.increment(drainTimeoutMs);
    await disposed;
    await closeAll(t, [other]);
  });
});

describe('a connection on its way out', () => {
  it('joins nothing once draining, and is neither listed, counted nor sent to from then on', async () => {
    const t = await startRulesServer();
    const ann = await t.open('ann');
    const bob = await t.open('bob');
    ann.handle.join('lobby');
    bob.handle.join('lobby');
    const disposed = nextEvent(t.supervisor, 'disposed', (event) => event.connectionId === ann.id);
    ann.handle.close(4000, 'bye');
    expect(ann.handle.join('kitchen')).toBe(false);
    expect(t.supervisor.roomMembers('kitchen')).toEqual([]);
    // Its membership ended as it started draining: the open members only, listed, counted and sent to.
    expect(ids(t.supervisor.roomMembers('lobby'))).toEqual([bob.id]);
    expect(t.supervisor.roomSize('lobby')).toBe(1);
    expect(t.supervisor.sendToRoom('lobby', 'to bob only')).toBe(1);
    expect([...ann.handle.rooms]).toEqual(['lobby']); // the rooms it was in, for onClose
    expect(t.supervisor.audit().mismatches).toEqual([]);
    await disposed;
    expect(ids(t.supervisor.roomMembers('lobby'))).toEqual([bob.id]);
    expect(t.supervisor.roomSize('lobby')).toBe(1);
    await closeAll(t, [bob]);
  });

  it('an `evicted` listener cannot join the evicted connection to a room', async () => {
    const t = await startRulesServer();
    const joined: boolean[] = [];
    t.supervisor.on('evicted', ({ connectionId }) => {
      joined.push(t.supervisor.connection(connectionId)?.join('late') ?? true);
    });
    const victim = await t.open('vic');
    t.clock.increment(1);
    const more = [await t.open('vic'), await t.open('vic')];
    t.clock.increment(idleTimeoutMs); // all three idle, the victim longest
    const disposed = nextEvent(t.supervisor, 'disposed', (event) => event.connectionId === victim.id);
    const fourth = await t.open('vic'); // n = T: the longest idle goes
    expect(joined).toEqual([false]);
    expect(t.supervisor.roomMembers('late')).toEqual([]);
    expect(roomsOf(t)).toEqual({ rooms: 0, roomMemberships: 0 });
    await disposed;
    await closeAll(t, [...more, fourth]);
  });

  it('sendToRoom from onMessage after closing other members counts the open ones only', async () => {
    const counted: number[] = [];
    const t = await startRulesServer({
      onMessage: (connection, data) => {
        if (data.toString() !== 'kick-and-send') return;
        for (const member of t.supervisor.roomMembers('lobby'))
          if (member.userId === 'bob') member.close(4000, 'kicked');
        counted.push(t.supervisor.sendToRoom('lobby', 'after the kick', { except: connection.id }));
      },
    });
    const [ann, bob, cy] = [await t.open('ann'), await t.open('bob'), await t.open('cy')];
    for (const client of [ann, bob, cy]) client.handle.join('lobby');
    const toCy = nextMessage(cy.ws);
    const bobDisposed = nextEvent(t.supervisor, 'disposed', (event) => event.userId === 'bob');
    ann.ws.send('kick-and-send');
    expect(await toCy).toBe('after the kick');
    expect(counted).toEqual([1]);
    await bobDisposed;
    expect(ids(t.supervisor.roomMembers('lobby'))).toEqual([ann.id, cy.id]);
    await closeAll(t, [ann, cy]);
  });

  it('onClose reads the rooms it ended in (Socket.IO `disconnecting`), though a member of none, and cannot rejoin', async () => {
    const seen: Array<{
      rooms: string[];
      members: string[][];
      told: number[];
      joined: boolean;
      left: boolean;
    }> = [];
    const t = await startRulesServer({
      onClose: (connection) => {
        const rooms = [...connection.rooms];
        const members = rooms.map((room) => ids(t.supervisor.roomMembers(room)));
        // The usual "user left" loop: each room it was in hears of it, the leaver is no longer sent to.
        const told = rooms.map((room) => t.supervisor.sendToRoom(room, `${connection.userId} left ${room}`));
        seen.push({
          rooms,
          members,
          told,
          joined: connection.join('lobby'),
          left: connection.leave('lobby'),
        });
      },
    });
    const ann = await t.open('ann');
    const bob = await t.open('bob');
    const bobInbox = inbox(bob.ws);
    ann.handle.join('lobby');
    ann.handle.join('kitchen');
    ann.handle.leave('kitchen');
    ann.handle.join('attic');
    bob.handle.join('lobby');
    const annDisposed = nextEvent(t.supervisor, 'disposed', (event) => event.connectionId === ann.id);
    const toBob = nextMessage(bob.ws);
    ann.ws.close();
    await annDisposed;
    expect(seen).toEqual([
      { rooms: ['lobby', 'attic'], members: [[bob.id], []], told: [1, 0], joined: false, left: false },
    ]);
    expect(await toBob).toBe('ann left lobby');
    expect([...ann.handle.rooms]).toEqual(['lobby', 'attic']); // as onClose read them, kept
    await flush(bob.ws);
    expect(bobInbox).toEqual(['ann left lobby', 'flush']);
    expect(roomsOf(t)).toEqual({ rooms: 1, roomMemberships: 1 });
    await closeAll(t, [bob]);
  });
});
