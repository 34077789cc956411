/**
 * audit()'s check of the rooms (audit.ts, auditRooms), on books put out of
 * step by hand: each mismatch it exists to find is reported, and it reads a
 * connection's heldRooms() (a copy, O(its rooms)) once, not once per membership.
 * The integration tests only ever see it report nothing.
 */
import { describe, expect, it } from 'vitest';
import { auditBooks } from '../../src/audit.js';
import { Books } from '../../src/books.js';
import type { DeliveringHandle } from '../../src/connection-handle.js';

/** A handle as the books see it: an id, and its own side of the membership (a copy per read, counted). */
function fakeHandle(id: string, rooms: string[]) {
  const own = new Set(rooms);
  const handle = {
    id,
    reads: 0,
    heldRooms(): ReadonlySet<string> {
      handle.reads += 1;
      return new Set(own);
    },
  };
  return handle;
}

const asHandle = (fake: ReturnType<typeof fakeHandle>) => fake as unknown as DeliveringHandle;

/** The books holding `fake` as a registered connection, in `rooms` on the books' side. */
function register(books: Books, fake: ReturnType<typeof fakeHandle>, rooms: string[]): void {
  books.handles.set(fake.id, asHandle(fake));
  for (const room of rooms) books.rooms.add(room, asHandle(fake));
}

/** The room mismatches only: these books have no actors, so the totals differ too. */
const roomMismatches = (books: Books) =>
  auditBooks(books, new Map()).mismatches.filter((line) => /room/.test(line));

describe('audit() of the rooms', () => {
  it('finds nothing when both sides agree', () => {
    const books = new Books();
    register(books, fakeHandle('c1', ['a', 'b']), ['a', 'b']);
    register(books, fakeHandle('c2', ['a']), ['a']);
    expect(roomMismatches(books)).toEqual([]);
  });

  it('reports a member that is not a registered connection', () => {
    const books = new Books();
    books.rooms.add('a', asHandle(fakeHandle('gone', ['a'])));
    expect(roomMismatches(books)).toEqual([
      'room "a": member gone is not a registered connection',
      'room memberships: the books count 1, the rooms hold 1, the connections list 0',
    ]);
  });

  it('reports a member that does not list the room, and a connection listing a room that does not hold it', () => {
    const books = new Books();
    register(books, fakeHandle('c1', ['b']), ['a']);
    expect(roomMismatches(books)).toEqual([
      'room "a": member c1 does not list the room',
      'connection c1 lists room "b", which does not hold it',
    ]);
  });

  it('reads each connection’s rooms once, not once per membership', () => {
    const books = new Books();
    const rooms = Array.from({ length: 50 }, (_, i) => `room-${i}`);
    const fakes = Array.from({ length: 4 }, (_, i) => fakeHandle(`c${i}`, rooms));
    for (const fake of fakes) register(books, fake, rooms);
    expect(roomMismatches(books)).toEqual([]);
    // Each read copies the connection's rooms: read per membership, audit() cost
    // O(memberships × maxRoomsPerConnection), 10^8 set insertions for 10,000 connections in 100 rooms.
    expect(fakes.map((fake) => fake.reads)).toEqual([1, 1, 1, 1]);
  });
});
