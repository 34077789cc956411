/**
 * Two notes of the README's "Testing your app" list, checked on real sockets and a
 * SimulatedClock: (1) in a room app, an onClose that tells the room a member left is
 * activity on the survivors under the default `activity: 'both'`, so an idle count read
 * right after `clock.increment()` is gone once the evicted one's close has landed (not
 * under `activity: 'inbound'`); (2) a broadcast to more than 500 idle connections takes
 * their idle → live edges 500 a turn of the real event loop (src/send-edges.ts): the
 * idle count settles over real turns, and moving the clock does not settle it.
 */
import { setImmediate as turn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { Supervisor, SupervisorOptions } from '../../src/index.js';
import { idleTimeoutMs, startRulesServer } from '../helpers/rules.js';
import { connect, nextMessage, userFromQuery } from '../helpers/server.js';

/** A room app: every connection joins 'lobby'; onClose tells the room who left. Eve's limit is 1 (T 1). */
async function startRoomApp(options: Partial<SupervisorOptions> = {}) {
  let supervisor: Supervisor | undefined;
  const t = await startRulesServer({
    authenticate: (request) => {
      const userId = userFromQuery(request) ?? '';
      return userId === 'eve' ? { userId, maxConnectionsPerUser: 1 } : { userId };
    },
    onOpen: (connection) => void connection.join('lobby'),
    onClose: (connection) => {
      for (const room of connection.rooms) supervisor?.sendToRoom(room, `${connection.userId} left`);
    },
    ...options,
  });
  supervisor = t.supervisor;
  return t;
}

describe('an onClose that sends to the room counts as activity on the survivors', () => {
  it("under activity: 'both', the survivors' idle count right after increment() is gone once the eviction's close lands", async () => {
    const t = await startRoomApp();
    await t.open('eve');
    const bob = await t.open('bob');
    expect(t.supervisor.roomMembers('lobby')).toHaveLength(2);
    const evicted = t.supervisor.once('evicted', { matches: (event) => event.userId === 'eve' });
    const told = nextMessage(bob.ws);
    t.clock.increment(idleTimeoutMs); // both idle; eve at T (1): evicted
    await evicted;
    expect(t.supervisor.userStats('bob')).toMatchObject({ live: 1, idle: 1 }); // right after: idle
    expect(await told).toBe('eve left'); // onClose ran once eve's close handshake was over
    expect(t.supervisor.userStats('bob')).toMatchObject({ live: 1, idle: 0 }); // the send made it live
  });

  it("under activity: 'inbound', the survivor stays idle", async () => {
    const t = await startRoomApp({ activity: 'inbound' });
    await t.open('eve');
    const bob = await t.open('bob');
    const told = nextMessage(bob.ws);
    t.clock.increment(idleTimeoutMs);
    expect(t.supervisor.userStats('bob')).toMatchObject({ idle: 1 });
    expect(await told).toBe('eve left');
    expect(t.supervisor.userStats('bob')).toMatchObject({ idle: 1 });
  });
});

describe('a broadcast to more than 500 idle connections, on a SimulatedClock', () => {
  it('takes their edges 500 a real turn: moving the clock does not settle the idle count, a turn does', async () => {
    const t = await startRoomApp({ onClose: () => {} });
    const n = 600;
    const sockets = [];
    for (let i = 0; i < n; i += 1) sockets.push(connect(t.url(`u${i}`)));
    await Promise.all(sockets);
    t.clock.increment(idleTimeoutMs); // 600 users of 1 connection (T 4): idle, none evicted
    expect(t.supervisor.stats().idle).toBe(n);
    expect(t.supervisor.broadcast('news')).toBe(n);
    expect(t.supervisor.stats().idle).toBe(n - 500); // the first 500 edges in the call
    t.clock.increment(1); // the clock does not run the rest
    expect(t.supervisor.stats().idle).toBe(n - 500);
    await turn(); // a real turn of the event loop does
    expect(t.supervisor.stats().idle).toBe(0);
  }, 30_000);
});
