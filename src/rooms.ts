/**
 * Rooms: named groups of connections for sendToRoom(), owned by the
 * connections. A connection keeps the rooms it joined (ws-adapter.ts);
 * this map keeps each room's members, so a send to a room costs
 * O(members), not O(connections). The two are changed together, by
 * join() and leave() on the handle, as the connection starts leaving
 * (ws-adapter.ts, #startLeaving: its drain, whatever the cause, so a room
 * lists the members a send reaches) and at its disposal, where the registry
 * forgets it (supervisor.ts, `disposed`): no sweep, no key recomputed. A room is in the map only while it has a member,
 * so the map never holds a dead room's name. audit() checks both sides.
 */
import { describeValue, SupervisorError } from './errors.js';
import { characterProblem } from './user-id.js';

/** The longest room name, in UTF-8 bytes. */
export const MAX_ROOM_BYTES = 256;

/** What the map holds of a member: the connection handle itself. */
export interface RoomMember {
  readonly id: string;
}

export class Rooms<Member extends RoomMember = RoomMember> {
  /** room → its members, in join order; present only while it has one. */
  readonly #members = new Map<string, Set<Member>>();
  /** Memberships held, over every room: what the rooms cost. */
  #memberships = 0;

  /** Rooms with at least one member. */
  get size(): number {
    return this.#members.size;
  }

  get memberships(): number {
    return this.#memberships;
  }

  /** Called by the member's own join(), once it has recorded the room on its side. */
  add(room: string, member: Member): void {
    let members = this.#members.get(room);
    if (members === undefined) {
      members = new Set();
      this.#members.set(room, members);
    }
    const before = members.size;
    members.add(member);
    this.#memberships += members.size - before;
  }

  /** Called by the member's own leave(), its drain's start and its disposal; the last member out deletes the room. */
  remove(room: string, member: Member): void {
    const members = this.#members.get(room);
    if (members === undefined || !members.delete(member)) return;
    this.#memberships -= 1;
    if (members.size === 0) this.#members.delete(room);
  }

  /** The room's members (live: a send walks it, and Set iteration survives removals), or undefined. */
  membersOf(room: string): ReadonlySet<Member> | undefined {
    return this.#members.get(room);
  }

  /** The names of the rooms that have members, in the order each was made (by its first join). */
  names(): IterableIterator<string> {
    return this.#members.keys();
  }

  /** Every room and its members: for audit() only. */
  entries(): IterableIterator<[string, ReadonlySet<Member>]> {
    return this.#members.entries();
  }
}

/**
 * Why `room` is not a room name, or undefined when it is one: what `join()`, `leave()` and
 * `sendToRoom()` check, for an app that vets a client's room names before it calls them
 * (answering the client instead of catching `WSSUP_INVALID_ARGUMENT`). A room name is a
 * non-empty string of at most MAX_ROOM_BYTES bytes in UTF-8, free of the characters a user id
 * may not hold (see userIdProblem). Names often come from the client (`?room=`) and
 * reach logs and the app's own messages, as user ids do.
 *
 * @example
 * if (roomNameProblem(command.join) !== undefined) return reply({ error: 'bad room name' });
 * @returns e.g. `must not be empty`, `contains control characters`; undefined for a room name.
 */
export function roomNameProblem(room: unknown): string | undefined {
  if (typeof room !== 'string') return `must be a string, got ${describeValue(room)}`;
  if (room.length === 0) return 'must not be empty';
  // Each UTF-16 unit takes at least one byte: a longer string is refused without encoding it.
  if (room.length > MAX_ROOM_BYTES || Buffer.byteLength(room, 'utf8') > MAX_ROOM_BYTES)
    return `must be at most ${MAX_ROOM_BYTES} bytes in UTF-8, got ${Buffer.byteLength(room, 'utf8')}`;
  return characterProblem(room);
}

/**
 * @throws {SupervisorError} WSSUP_INVALID_ARGUMENT, naming `method`, unless `room` is a room name.
 */
export function checkRoom(method: string, room: unknown): asserts room is string {
  const problem = roomNameProblem(room);
  if (problem !== undefined)
    throw new SupervisorError('WSSUP_INVALID_ARGUMENT', `${method}: a room name ${problem}`);
}
