/**
 * audit(): walks every actor and compares what they hold with the books
 * (books.ts) that stats() reads in O(1). O(connections + room memberships + each
 * user's free slot names, fewer than the most connections it held at once): for tests (the
 * suite's leak check runs it after every integration test) and for an
 * operator on demand, never on a hot path. The registry is part of the
 * books: each user's published live ids, the handle of every connection,
 * and each user's capacity band are checked too, and the rooms: every
 * member a registered connection that lists the room, every room of a
 * connection holding it, no room without a member. And each client instance
 * a user supervisor knows names one of its children, and each drain it may
 * still terminate (its drain cap) a draining child.
 */
import type { AnyActorRef } from 'xstate';
import type { UserSupervisorContext } from '../machines/user-supervisor.machine.js';
import type { Books, UserRecord } from './books.js';
import type { DeliveringHandle } from './connection-handle.js';

/** What `supervisor.audit()` returns: every difference between the actors and the books. */
export interface AuditReport {
  /** True when every mismatch list is empty. */
  ok: boolean;
  /** Every difference found, one sentence each. */
  mismatches: string[];
  /** What was walked. */
  walked: { userSupervisors: number; connectionActors: number };
}

type Snapshot = {
  status: string;
  value: unknown;
  context: unknown;
  children: Record<string, AnyActorRef>;
};

const stateOf = (value: unknown): string => (typeof value === 'string' ? value : 'active');
const sameMembers = (a: readonly string[], b: ReadonlySet<string>) =>
  a.length === b.size && a.every((id) => b.has(id));
const isIdle = (value: unknown) => (value as { active?: { activity?: string } })?.active?.activity === 'idle';

/** A slot name as takeSlot mints it: 0, or a positive integer without a leading zero. */
const CANONICAL_INDEX = /^(0|[1-9]\d*)$/;

/**
 * Whether the slot names held and free are each of 0 … m − 1 once (machines/user-supervisor.machine.ts,
 * takeSlot): a name held twice would send one child's commands to the other, a name lost or
 * free twice would mint names past the most children the user held at once.
 */
function slotNamesMismatch(context: UserSupervisorContext): string | undefined {
  const names = [...context.slots.values(), ...context.freeSlots.map(String)];
  const distinct = new Set(names);
  const each = names.every((name) => CANONICAL_INDEX.test(name) && Number(name) < names.length);
  if (distinct.size === names.length && each) return undefined;
  return `slot names held ${JSON.stringify([...context.slots.values()])} and free ${JSON.stringify(context.freeSlots)} are not each of 0 to ${names.length - 1} once`;
}

export function auditBooks(books: Books, users: ReadonlyMap<string, UserRecord>): AuditReport {
  const mismatches: string[] = [];
  const found = { live: 0, idle: 0, draining: 0, connecting: 0, users: 0, empty: 0, actors: 0 };
  const bands: number[] = books.usersByBand.map(() => 0);
  for (const [userId, record] of users) {
    const snapshot = record.actor.getSnapshot() as Snapshot;
    if (snapshot.status !== 'active') {
      mismatches.push(`user ${userId}: supervisor is ${snapshot.status} but still in the runtime's map`);
      continue;
    }
    const context = snapshot.context as UserSupervisorContext;
    const children = Object.values(snapshot.children);
    const byId = new Map<string, string>();
    const liveIds = new Set<string>();
    let idle = 0;
    for (const child of children) {
      const childSnapshot = child.getSnapshot() as Snapshot;
      const { connectionId, transport } = childSnapshot.context as {
        connectionId: string;
        transport: unknown;
      };
      if (childSnapshot.status !== 'active') {
        mismatches.push(
          `user ${userId}: connection ${connectionId} is ${childSnapshot.status} but still a child`,
        );
        continue;
      }
      const state = stateOf(childSnapshot.value);
      byId.set(connectionId, state);
      const slot = context.slots.get(connectionId);
      if (slot !== undefined && slot !== child.id)
        mismatches.push(
          `user ${userId}: connection ${connectionId} runs as ${child.id}, its slot is ${slot}`,
        );
      if (state !== 'draining') liveIds.add(connectionId);
      if (books.handles.get(connectionId) !== transport)
        mismatches.push(`user ${userId}: connection ${connectionId} is not registered under its own handle`);
      if (state === 'connecting') found.connecting += 1;
      if (isIdle(childSnapshot.value)) idle += 1;
    }
    const liveActors = [...byId.values()].filter((state) => state !== 'draining').length;
    const actual = { live: liveActors, idle, draining: byId.size - liveActors };
    found.actors += byId.size;
    found.live += actual.live;
    found.idle += actual.idle;
    found.draining += actual.draining;
    if (actual.live > 0) found.users += 1;
    if (byId.size === 0) found.empty += 1;
    const book = record.book;
    if (book.live !== actual.live || book.idle !== actual.idle || book.draining !== actual.draining) {
      mismatches.push(
        `user ${userId}: book says ${JSON.stringify(book)}, the actors are ${JSON.stringify(actual)}`,
      );
    }
    if (!sameMembers(record.liveIds, liveIds))
      mismatches.push(
        `user ${userId}: the registry lists ${JSON.stringify(record.liveIds)}, the live actors are ${JSON.stringify([...liveIds])}`,
      );
    // The user's own thresholds: those of its limit (a plan's, or the option's).
    const { up, down } = record.limit.capacity;
    const band = record.band;
    const bandHolds =
      band >= 0 &&
      band <= up.length &&
      (band === 0 || actual.live >= (down[band - 1] as number)) &&
      (band === up.length || actual.live < (up[band] as number));
    if (!bandHolds || record.announcedBand !== band)
      mismatches.push(
        `user ${userId}: capacity band ${band} (announced ${record.announcedBand}) does not fit ${actual.live} live`,
      );
    if (actual.live > 0) bands[band] = (bands[band] ?? 0) + 1;
    if (context.limit !== record.limit.limit || context.evictAt !== record.limit.evictAt)
      mismatches.push(
        `user ${userId}: the supervisor holds limit ${context.limit} (T ${context.evictAt}), the books ${record.limit.limit} (T ${record.limit.evictAt})`,
      );
    // A client instance names its newest child while that child is there, and only then:
    // an entry that outlived its child would be state kept by a connection that is gone.
    for (const [instance, child] of context.instances) {
      if (!byId.has(child.connectionId))
        mismatches.push(
          `user ${userId}: client instance ${instance} names connection ${child.connectionId}, which is not a child`,
        );
    }
    // The drains the cap may still terminate: each a draining child. Not "at most the limit":
    // a limit just lowered (a plan change, or the cluster-wide book evicting before the ADMIT
    // that brings it) caps them at the next drain, not at once.
    for (const connectionId of context.drains) {
      if (byId.get(connectionId) !== 'draining')
        mismatches.push(
          `user ${userId}: the drains list connection ${connectionId}, which is ${byId.get(connectionId) ?? 'not a child'}`,
        );
    }
    for (const connectionId of context.slots.keys()) {
      if (!byId.has(connectionId))
        mismatches.push(`user ${userId}: slot of ${connectionId} has no running actor`);
    }
    for (const connectionId of byId.keys()) {
      if (!context.slots.has(connectionId))
        mismatches.push(`user ${userId}: actor ${connectionId} holds no slot`);
    }
    const slotNamesProblem = slotNamesMismatch(context);
    if (slotNamesProblem !== undefined) mismatches.push(`user ${userId}: ${slotNamesProblem}`);
  }
  const totals: Array<[string, number, number]> = [
    ['live', books.live, found.live],
    ['idle', books.idle, found.idle],
    ['draining', books.draining, found.draining],
    ['connecting', books.connecting, found.connecting],
    ['users', books.users, found.users],
    ['userSupervisors', books.supervisors, users.size],
    ['lingeringSupervisors', books.emptySupervisors, found.empty],
    ['admitted − disposed', books.counters.admitted - books.counters.disposed, found.actors],
    ['registered handles', books.handles.size, found.actors],
    ...books.usersByBand.map((count, band): [string, number, number] => [
      `users in capacity band ${band}`,
      count,
      bands[band] ?? 0,
    ]),
  ];
  auditRooms(books, mismatches);
  for (const [name, counted, walked] of totals) {
    if (counted !== walked) mismatches.push(`${name}: the books count ${counted}, the actors hold ${walked}`);
  }
  return {
    ok: mismatches.length === 0,
    mismatches,
    walked: { userSupervisors: users.size, connectionActors: found.actors },
  };
}

/**
 * Both sides of every membership: books.rooms, and each registered connection's own rooms
 * (heldRooms(): a leaving connection holds none, though its `rooms` reads the ones it was in).
 * A handle's heldRooms() is a copy: read once per connection here, not once per membership,
 * which cost O(memberships × rooms per connection) (4 s for 10,000 connections in 100 rooms).
 */
function auditRooms(books: Books, mismatches: string[]): void {
  const listed = new Map<DeliveringHandle, ReadonlySet<string>>();
  for (const handle of books.handles.values()) listed.set(handle, handle.heldRooms());
  let members = 0;
  for (const [room, inRoom] of books.rooms.entries()) {
    if (inRoom.size === 0) mismatches.push(`room ${JSON.stringify(room)} has no member but is still kept`);
    for (const member of inRoom) {
      members += 1;
      const rooms = books.handles.get(member.id) === member ? listed.get(member) : undefined;
      if (rooms === undefined)
        mismatches.push(`room ${JSON.stringify(room)}: member ${member.id} is not a registered connection`);
      else if (!rooms.has(room))
        mismatches.push(`room ${JSON.stringify(room)}: member ${member.id} does not list the room`);
    }
  }
  let joined = 0;
  for (const [handle, rooms] of listed) {
    for (const room of rooms) {
      joined += 1;
      if (books.rooms.membersOf(room)?.has(handle) !== true)
        mismatches.push(`connection ${handle.id} lists room ${JSON.stringify(room)}, which does not hold it`);
    }
  }
  if (members !== books.rooms.memberships || joined !== members)
    mismatches.push(
      `room memberships: the books count ${books.rooms.memberships}, the rooms hold ${members}, the connections list ${joined}`,
    );
}
