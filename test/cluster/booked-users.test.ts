/**
 * BookedUsers: which users this node listed in its incarnation's index, and
 * which of them are not indexed yet because their SADD failed (the index's
 * master down): the renewals send those again until one SADD succeeds.
 */
import { describe, expect, it } from 'vitest';
import { BookedUsers } from '../../src/cluster/booked-users.js';

describe('BookedUsers: users not indexed', () => {
  it('a failed SADD of a first booking is sent again (one batch) until it succeeds', () => {
    const booked = new BookedUsers();
    const ann = booked.begin('ann');
    const bob = booked.begin('bob');
    expect([ann.first, bob.first]).toEqual([true, true]);
    ann.admitted('a1');
    ann.notIndexed(); // after settling, as a SADD that times out after the script answered
    bob.notIndexed(); // before settling, as a SADD refused at once
    bob.admitted('b1');
    const batch = booked.unindexed();
    expect(batch?.users).toEqual(['ann', 'bob']);
    // Failed again: still there.
    expect(booked.unindexed()?.users).toEqual(['ann', 'bob']);
    batch?.indexed();
    expect(booked.unindexed()).toBeUndefined();
  });

  it('only the first booking carries the SADD: notIndexed of a later one changes nothing', () => {
    const booked = new BookedUsers();
    booked.begin('ann').admitted('a1');
    const again = booked.begin('ann');
    expect(again.first).toBe(false);
    again.notIndexed();
    again.admitted('a2');
    expect(booked.unindexed()).toBeUndefined();
  });

  it('a user not indexed who still holds a connection is not swept; one with nothing left is, and needs no SADD', () => {
    const booked = new BookedUsers();
    const ann = booked.begin('ann');
    ann.admitted('a1');
    ann.notIndexed();
    const bob = booked.begin('bob');
    bob.admitted('b1');
    bob.notIndexed();
    booked.release('bob', 'b1');
    expect(booked.sweep()).toEqual(['bob']);
    expect(booked.unindexed()?.users).toEqual(['ann']);
  });

  it('a SADD that succeeds for a user swept and listed again meanwhile does not vouch for the new listing', () => {
    const booked = new BookedUsers();
    const first = booked.begin('ann');
    first.notIndexed();
    first.notAdmitted();
    const batch = booked.unindexed(); // sent by a renewal...
    expect(booked.sweep()).toEqual(['ann']); // ...ann swept by the next one...
    const second = booked.begin('ann'); // ...listed again, and this SADD fails too
    expect(second.first).toBe(true);
    second.admitted('a2');
    second.notIndexed();
    batch?.indexed(); // the old SADD's reply comes last
    expect(booked.unindexed()?.users).toEqual(['ann']);
  });

  it('a failed SADD that comes after the user was swept is ignored', () => {
    const booked = new BookedUsers();
    const ann = booked.begin('ann');
    ann.notAdmitted();
    expect(booked.sweep()).toEqual(['ann']);
    ann.notIndexed();
    expect(booked.unindexed()).toBeUndefined();
  });

  it('a re-admission whose SADD failed marks the users it listed; a new incarnation (clear) forgets them all', () => {
    const booked = new BookedUsers();
    booked.add('ann', ['a1']);
    booked.add('bob', ['b1']);
    booked.notIndexed(['ann', 'bob', 'gus']); // gus was not listed: nothing to index
    expect(booked.unindexed()?.users).toEqual(['ann', 'bob']);
    booked.clear();
    expect(booked.unindexed()).toBeUndefined();
  });

  it('a re-admission that refused all of a user’s connections lists nothing that outlives the next sweep', () => {
    const booked = new BookedUsers();
    booked.add('ann', []);
    booked.add('bob', ['b1']);
    expect(booked.sweep()).toEqual(['ann']);
  });
});

describe('BookedUsers: a release that failed', () => {
  it('lists a user swept meanwhile again as not indexed (the sweep took it out of the index), and one still listed as it was', () => {
    const booked = new BookedUsers();
    booked.begin('ann').admitted('a1');
    booked.begin('bob').admitted('b1');
    // Both released; ann's fails after the renewal's sweep unlisted (and SREMed) her.
    expect(booked.release('ann', 'a1')).toBe(true);
    expect(booked.sweep()).toEqual(['ann']);
    booked.add('ann', ['a1'], { indexed: false });
    // bob's fails while he is still listed (indexed): nothing to send again for him.
    booked.add('bob', ['b2'], { indexed: false });
    expect(booked.unindexed()?.users).toEqual(['ann']);
  });
});
