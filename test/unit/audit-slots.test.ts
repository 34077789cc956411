/**
 * audit()'s check of a user's slot names (audit.ts), on a supervisor snapshot
 * put out of step by hand: a connection actor must run under its own slot's
 * name, and the names held and free must be each of 0 … m − 1 once (the
 * user supervisor's takeSlot relies on it). The machine tests and the
 * integration tests only ever see it hold.
 */
import { describe, expect, it } from 'vitest';
import type { AnyActorRef } from 'xstate';
import { auditBooks } from '../../src/audit.js';
import { Books, UserRecord } from '../../src/books.js';
import { createUserLimits } from '../../src/user-limit.js';

const limits = createUserLimits({
  maxConnectionsPerUser: 5,
  evictionThreshold: 0.7,
  capacityLevels: [],
  capacityHysteresis: 0,
});

/** A running connection actor as audit() reads it: its actor id, and its connection id. */
const child = (actorId: string, connectionId: string) =>
  ({
    id: actorId,
    getSnapshot: () => ({ status: 'active', value: 'connecting', context: { connectionId } }),
  }) as unknown as AnyActorRef;

/** The slot mismatches of one user whose supervisor holds `slots` and `freeSlots`, with `children` running. */
function slotMismatches(
  slots: Array<[connectionId: string, slot: string]>,
  freeSlots: number[],
  children: Array<[actorId: string, connectionId: string]>,
  instances: Array<[instance: string, connectionId: string]> = [],
): string[] {
  const snapshot = {
    status: 'active',
    value: 'supervising',
    context: {
      slots: new Map(slots),
      freeSlots,
      live: [],
      idle: [],
      drains: [],
      limit: 5,
      evictAt: 4,
      instances: new Map(
        instances.map(([instance, connectionId]) => [instance, { connectionId, attemptAt: 1 }]),
      ),
    },
    children: Object.fromEntries(children.map(([actorId, id]) => [actorId, child(actorId, id)])),
  };
  const actor = { getSnapshot: () => snapshot } as unknown as AnyActorRef;
  const users = new Map([['u', new UserRecord('u', actor, limits.standard)]]);
  return auditBooks(new Books(), users).mismatches.filter((line) => /slot|runs as|instance/.test(line));
}

describe('audit() of the slot names', () => {
  it('finds nothing when every child runs under its slot and the names are 0 … m − 1 once', () => {
    expect(
      slotMismatches(
        [
          ['a', '0'],
          ['c', '2'],
        ],
        [3, 1],
        [
          ['0', 'a'],
          ['2', 'c'],
        ],
      ),
    ).toEqual([]);
  });

  it('reports a child running under another slot’s name', () => {
    expect(slotMismatches([['a', '1']], [0], [['0', 'a']])).toEqual([
      'user u: connection a runs as 0, its slot is 1',
    ]);
  });

  it('reports a name held twice, a name both held and free, and a name lost', () => {
    const twice = slotMismatches(
      [
        ['a', '0'],
        ['b', '0'],
      ],
      [],
      [['0', 'a']],
    );
    expect(twice).toContain('user u: slot names held ["0","0"] and free [] are not each of 0 to 1 once');
    expect(slotMismatches([['a', '0']], [0], [['0', 'a']])).toEqual([
      'user u: slot names held ["0"] and free [0] are not each of 0 to 1 once',
    ]);
    expect(slotMismatches([['a', '2']], [0], [['2', 'a']])).toEqual([
      'user u: slot names held ["2"] and free [0] are not each of 0 to 1 once',
    ]);
    // Not a name takeSlot mints: -1 in place of the lost 1, or 01 in place of 1.
    expect(slotMismatches([['a', '-1']], [0], [['-1', 'a']])).toEqual([
      'user u: slot names held ["-1"] and free [0] are not each of 0 to 1 once',
    ]);
    expect(slotMismatches([['a', '01']], [0], [['01', 'a']])).toEqual([
      'user u: slot names held ["01"] and free [0] are not each of 0 to 1 once',
    ]);
  });
});

describe('audit() of the client instances a supervisor knows', () => {
  it('finds nothing when each names one of its children', () => {
    expect(slotMismatches([['a', '0']], [], [['0', 'a']], [['instance-aaaaaaaaaa', 'a']])).toEqual([]);
  });

  it('reports an instance that outlived its child', () => {
    expect(slotMismatches([['a', '0']], [], [['0', 'a']], [['instance-bbbbbbbbbb', 'b']])).toEqual([
      'user u: client instance instance-bbbbbbbbbb names connection b, which is not a child',
    ]);
  });
});
