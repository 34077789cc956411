/**
 * A room's members are its open connections: a membership is released as the
 * connection starts draining, whatever the cause (README, Rooms), so that
 * roomMembers(), roomSize() and sendToRoom() agree, and a viewer count made
 * with roomSize() does not count a reconnect's predecessor twice while its
 * drain lasts (a trial: roomSize 3 for 2 open sockets for drainTimeoutMs
 * after every reconnect). `connection.rooms` keeps reading the rooms it was
 * in, for onClose's "left" message. Real sockets over loopback, simulated
 * time: a drain whose peer never answers lasts until the test moves the clock.
 */
import type { AddressInfo } from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import type WebSocket from 'ws';
import type { ConnectionHandle, Supervisor } from '../../src/index.js';
import { frame, rawWebSocket } from '../helpers/cleanup.js';
import {
  drainTimeoutMs,
  nextEvent,
  type RulesServer,
  startRulesServer,
  stopReading,
} from '../helpers/rules.js';
import { allDisposed, connect, expectNoLeaks, ioWait, nextMessage } from '../helpers/server.js';

const ids = (handles: readonly ConnectionHandle[]) => handles.map((handle) => handle.id);

/** What the registry says of `room`, in one object: the members listed, counted, and sent to. */
function roomView(supervisor: Supervisor, room: string) {
  const { rooms, roomMemberships } = supervisor.stats().resources;
  return {
    members: ids(supervisor.roomMembers(room)),
    size: supervisor.roomSize(room),
    rooms,
    roomMemberships,
    mismatches: supervisor.audit().mismatches,
  };
}

/** The room lists, counts and books exactly `members`, and the audit agrees. */
function expectOpenMembers(supervisor: Supervisor, room: string, members: readonly string[]): void {
  expect(roomView(supervisor, room)).toEqual({
    members,
    size: members.length,
    rooms: members.length === 0 ? 0 : 1,
    roomMemberships: members.length,
    mismatches: [],
  });
}

/** Every connection joins `match` in onOpen, as the trial's game seats a player. */
async function startMatch(options: Parameters<typeof startRulesServer>[0] = {}): Promise<RulesServer> {
  return startRulesServer({
    onOpen: (connection) => {
      connection.join('match');
    },
    ...options,
  });
}

let attempt = 0;
/** Opens a client of `user` that names its instance, as ws-supervisor/client does; resolves once open. */
async function openInstance(t: RulesServer, user: string, instance: string) {
  attempt += 1;
  const admitted = nextEvent(t.supervisor, 'admitted', (event) => event.userId === user);
  const ws = await connect(`${t.url(user)}&wssup-instance=${instance}.${attempt}`);
  const { connectionId } = await admitted;
  const handle = t.handles.find((h) => h.id === connectionId);
  if (handle === undefined) throw new Error(`no handle for ${connectionId}`);
  return { ws, id: connectionId, handle };
}

async function closeAll(t: RulesServer, sockets: readonly WebSocket[]): Promise<void> {
  for (const ws of sockets) ws.close();
  await allDisposed(t.supervisor);
  expect(t.supervisor.stats().resources).toMatchObject({ rooms: 0, roomMemberships: 0 });
  expectNoLeaks(t.supervisor);
}

describe('a reconnect (superseded predecessor, draining)', () => {
  it('roomSize counts the open members at once, and roomMembers never lists the predecessor', async () => {
    const instance = 'instance-aaaaaaaaaaaaaaaa';
    const atEviction: Array<ReturnType<typeof roomView>> = [];
    const left: string[] = [];
    const t = await startMatch({
      // The usual "left" notice: the others still hear it when the predecessor's drain ends.
      onClose: (connection) => {
        for (const room of connection.rooms) left.push(`${connection.id} ${room}`);
        for (const room of connection.rooms) t.supervisor.sendToRoom(room, `left ${room}`);
      },
    });
    t.supervisor.on('evicted', () => atEviction.push(roomView(t.supervisor, 'match')));
    const bob = await t.open('bob');
    const bobInbox: string[] = [];
    bob.ws.on('message', (data: Buffer) => bobInbox.push(data.toString()));
    const old = await openInstance(t, 'ann', instance);
    expect(roomView(t.supervisor, 'match').size).toBe(2);

    stopReading(old.ws); // a dead network: the 4001 is never answered, the drain lasts drainTimeoutMs
    const fresh = await openInstance(t, 'ann', instance);
    expect(t.events.evicted.map((event) => [event.connectionId, event.cause])).toEqual([
      [old.id, 'superseded'],
    ]);
    // Released as the predecessor started draining, before the `evicted` listener ran.
    expect(atEviction).toEqual([
      { members: [bob.id], size: 1, rooms: 1, roomMemberships: 1, mismatches: [] },
    ]);
    expect(t.supervisor.userStats('ann')).toMatchObject({ live: 1, draining: 1 });
    expectOpenMembers(t.supervisor, 'match', [bob.id, fresh.id]);
    expect(t.supervisor.sendToRoom('match', 'tick')).toBe(2);
    // It reads the rooms it was in, and is in none of them.
    expect([...old.handle.rooms]).toEqual(['match']);
    expect(old.handle.leave('match')).toBe(false);
    expect(old.handle.join('match')).toBe(false);
    expect(roomView(t.supervisor, 'match').size).toBe(2);

    const disposed = nextEvent(t.supervisor, 'disposed', (event) => event.connectionId === old.id);
    t.clock.increment(drainTimeoutMs); // the drain ends: terminated, disposed, onClose
    await disposed;
    expect(left).toEqual([`${old.id} match`]);
    await vi.waitFor(() => expect(bobInbox).toEqual(['tick', 'left match']), ioWait);
    expectOpenMembers(t.supervisor, 'match', [bob.id, fresh.id]);
    await closeAll(t, [bob.ws, fresh.ws]);
  });
});

describe('any drain releases the membership at once', () => {
  it("the app's close() on a peer that never answers", async () => {
    const t = await startMatch();
    const ann = await t.open('ann');
    const bob = await t.open('bob');
    stopReading(ann.ws);
    ann.handle.close(4000, 'bye');
    expect(t.supervisor.userStats('ann')).toMatchObject({ live: 0, draining: 1 });
    expectOpenMembers(t.supervisor, 'match', [bob.id]);
    expect(t.supervisor.sendToRoom('match', 'to bob only')).toBe(1);
    expect([...ann.handle.rooms]).toEqual(['match']);
    expect(ann.handle.leave('match')).toBe(false);
    const disposed = nextEvent(t.supervisor, 'disposed', (event) => event.connectionId === ann.id);
    t.clock.increment(drainTimeoutMs);
    await disposed;
    expect(roomView(t.supervisor, 'match').members).toEqual([bob.id]);
    await closeAll(t, [bob.ws]);
  });

  it("the peer's close frame, its TCP connection kept open", async () => {
    const t = await startMatch();
    const bob = await t.open('bob');
    const admitted = nextEvent(t.supervisor, 'admitted', (event) => event.userId === 'ann');
    // allowHalfOpen: it reads the server's close frame and FIN, and never sends its own FIN.
    const raw = await rawWebSocket((t.server.address() as AddressInfo).port, 'ann', { allowHalfOpen: true });
    const { connectionId } = await admitted;
    await vi.waitFor(() => expect(t.supervisor.roomSize('match')).toBe(2), ioWait);
    raw.write(frame(0x8, Buffer.from([0x03, 0xe8]))); // close, 1000
    await vi.waitFor(
      () => expect(t.supervisor.userStats('ann')).toMatchObject({ live: 0, draining: 1 }),
      ioWait,
    );
    expectOpenMembers(t.supervisor, 'match', [bob.id]);
    expect([...(t.supervisor.connection(connectionId)?.rooms ?? [])]).toEqual(['match']);
    const disposed = nextEvent(t.supervisor, 'disposed', (event) => event.connectionId === connectionId);
    t.clock.increment(drainTimeoutMs);
    await disposed;
    await closeAll(t, [bob.ws]);
  });

  it('an idle eviction: the `evicted` listener already counts the open members only', async () => {
    const counted: number[] = [];
    const t = await startMatch({ evictionThreshold: 0 });
    t.supervisor.on('evicted', () => counted.push(t.supervisor.roomSize('match')));
    const ann = await t.open('ann');
    const bob = await t.open('bob');
    stopReading(ann.ws);
    t.clock.increment(1);
    bob.ws.send('keep me'); // bob stays live
    await nextMessage(bob.ws);
    t.clock.increment(999); // ann idle for idleTimeoutMs; bob not
    await vi.waitFor(() => expect(t.events.evicted).toHaveLength(1), ioWait);
    expect(t.events.evicted[0]?.connectionId).toBe(ann.id);
    expect(counted).toEqual([1]);
    expect(roomView(t.supervisor, 'match').members).toEqual([bob.id]);
    const disposed = nextEvent(t.supervisor, 'disposed', (event) => event.connectionId === ann.id);
    t.clock.increment(drainTimeoutMs);
    await disposed;
    await closeAll(t, [bob.ws]);
  });
});

describe('a member that overflows during sendToRoom', () => {
  it('leaves the room in the walk, and the members after it still get that message', async () => {
    const t = await startMatch({ maxBufferedBytes: 256 * 1024 });
    const slow = await t.open('slow'); // first in join order: the walk meets it first
    const [ann, bob] = [await t.open('ann'), await t.open('bob')];
    const received = { ann: 0, bob: 0 };
    ann.ws.on('message', () => (received.ann += 1));
    bob.ws.on('message', () => (received.bob += 1));
    stopReading(slow.ws);
    const chunk = Buffer.alloc(128 * 1024);
    const counts: number[] = [];
    // Until the slow one's send buffer (past what the kernel took) passes maxBufferedBytes; the
    // others read each message before the next, so only the slow one's buffer grows.
    while (t.supervisor.userStats('slow')?.draining !== 1 && counts.length < 2_000) {
      counts.push(t.supervisor.sendToRoom('match', chunk));
      await vi.waitFor(() => expect(received).toEqual({ ann: counts.length, bob: counts.length }), ioWait);
    }
    expect(t.supervisor.roomSize('match')).toBe(2);
    // The send that overflowed it still reached it (queued) and the two after it.
    expect(counts.every((count) => count === 3)).toBe(true);
    expectOpenMembers(t.supervisor, 'match', [ann.id, bob.id]);
    expect(t.supervisor.sendToRoom('match', 'after')).toBe(2);
    await vi.waitFor(
      () => expect(received).toEqual({ ann: counts.length + 1, bob: counts.length + 1 }),
      ioWait,
    );
    const disposed = nextEvent(t.supervisor, 'disposed', (event) => event.connectionId === slow.id);
    t.clock.increment(drainTimeoutMs);
    expect((await disposed).reason).toBe('slow-consumer');
    await closeAll(t, [ann.ws, bob.ws]);
  });
});
