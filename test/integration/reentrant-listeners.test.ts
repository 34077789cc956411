/**
 * An app that calls back into the supervisor from inside its own events:
 * `disconnectUser` from an `evicted` listener (which runs inside the
 * admission that evicts), `shutdown()` from a `disposed` listener while
 * `onClose` closes the user's other connections (both run inside the step
 * that disposes a connection). Each call lands in the middle of a user
 * supervisor's step; afterwards the books still equal the actors, the user
 * can connect again up to the limit, and nothing is left.
 */
import { describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import type { Supervisor } from '../../src/index.js';
import { type Client, closeOf, nextEvent, refusal, startRulesServer } from '../helpers/rules.js';
import { allDisposed, closed, connect, expectNoLeaks, nextMessage, startServer } from '../helpers/server.js';

// Test preset: limit 5, T = 4.
const limit = 5;

describe('disconnectUser from an evicted listener', () => {
  it("closes the user's other connections; the newcomer the eviction made room for is admitted, and the user fills up again", async () => {
    const t = await startRulesServer();
    const idle: Client[] = [];
    for (let n = 0; n < 3; n += 1) idle.push(await t.open('kai'));
    t.clock.increment(t.supervisor.options.idleTimeoutMs); // all three idle: the next admission reaches T
    t.supervisor.on('evicted', ({ userId }) => t.supervisor.disconnectUser(userId, 4000, 'kicked'));
    const closes = idle.map(({ ws }) => closeOf(ws));

    const newcomer = await t.open('kai');
    // The longest idle was evicted; the listener kicked the other two. The newcomer
    // was not admitted yet when the listener ran (evicted comes before admitted).
    expect(await Promise.all(closes)).toEqual([
      { code: 4001, reason: 'evicted: idle' },
      { code: 4000, reason: 'kicked' },
      { code: 4000, reason: 'kicked' },
    ]);
    await allDisposedBut(t, 1);
    expect(t.supervisor.userStats('kai')).toMatchObject({ live: 1, idle: 0, draining: 0 });
    expect(t.supervisor.audit().mismatches).toEqual([]);
    newcomer.ws.send('still here');
    expect(await nextMessage(newcomer.ws)).toBe('still here');

    // Up to the limit again, and not beyond.
    const more: WebSocket[] = [newcomer.ws];
    for (let n = 1; n < limit; n += 1) more.push((await t.open('kai')).ws);
    expect((await refusal(t.url('kai'))).status).toBe(429);
    expect(t.supervisor.audit().mismatches).toEqual([]);
    for (const ws of more) ws.close();
    await allDisposed(t.supervisor);
    expectNoLeaks(t.supervisor);
  });
});

describe('shutdown() from a disposed listener, while onClose closes the user’s other connections', () => {
  it('ends every connection of every user; shutdown resolves and nothing is left', async () => {
    let started: Promise<void> | undefined;
    let supervisor: Supervisor | undefined;
    const t = await startRulesServer({
      lingerMs: 0,
      onClose: (connection) => {
        for (const other of supervisor?.connectionsOf(connection.userId) ?? []) other.close(4000, 'sibling');
      },
    });
    supervisor = t.supervisor;
    t.supervisor.on('disposed', () => {
      started ??= t.supervisor.shutdown({ deadlineMs: 1_000 });
    });
    const [first, second, third] = [await t.open('lia'), await t.open('lia'), await t.open('lia')];
    const other = await t.open('max');
    const closes = [second, third, other].map((client) => closeOf((client as Client).ws));

    first.ws.terminate(); // its disposal runs onClose, then the listener
    const ends = await Promise.all(closes);
    // onClose got to the siblings before shutdown did; shutdown closed the other user's.
    expect(ends).toEqual([
      { code: 4000, reason: 'sibling' },
      { code: 4000, reason: 'sibling' },
      { code: 1001, reason: 'server shutting down' },
    ]);
    await started;
    expect(t.events.disposed.map((event) => [event.userId, event.reason])).toEqual(
      expect.arrayContaining([
        ['lia', 'closed'],
        ['lia', 'app-close'],
        ['lia', 'app-close'],
        ['max', 'shutdown'],
      ]),
    );
    expect((await refusal(t.url('lia'))).status).toBe(503);
    expectNoLeaks(t.supervisor);
  });
});

/** Waits until exactly `held` connections are left. */
async function allDisposedBut(t: Awaited<ReturnType<typeof startRulesServer>>, held: number): Promise<void> {
  if (t.supervisor.stats().connections === held) return;
  await nextEvent(t.supervisor, 'disposed', () => t.supervisor.stats().connections === held);
}

describe('shutdown() from a listener told during the first chunk of its own drain', () => {
  it("gets the first call's promise, so the work after the stop is chained once", async () => {
    const t = await startServer({ maxConnectionsPerUser: 2, idleTimeoutMs: 600_000 });
    const sockets = [await connect(t.url('ann')), await connect(t.url('ann'))];
    const closes = sockets.map((ws) => closed(ws));
    const inner: Array<Promise<void>> = [];
    t.supervisor.on('capacity', ({ direction }) => {
      if (direction === 'down') inner.push(t.supervisor.shutdown());
    });

    const outer = t.supervisor.shutdown({ deadlineMs: 5_000 });
    // The first chunk told ann's supervisor inside that call: her connections left `live`.
    expect(inner.length).toBeGreaterThan(0);
    for (const promise of inner) expect(promise).toBe(outer);
    await outer;
    for (const close of await Promise.all(closes)) expect(close.code).toBe(1001);
    expectNoLeaks(t.supervisor);
  });
});
