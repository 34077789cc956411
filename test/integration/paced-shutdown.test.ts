/**
 * Paced shutdown (issue 11, item 10): shutdown({ deadlineMs, pace }) closes
 * the connections in batches spread over the window, idle ones first
 * (longest idle first), then the oldest, refuses new connections from the
 * first moment, and still terminates whatever is left at the deadline.
 * Time is a SimulatedClock: each batch happens exactly when the test
 * advances the clock to it, on real sockets.
 */
import { describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { expectShutDownWithDefaults } from '../helpers/bad-shutdown.js';
import { closeOf, type OwnServer, refusal, startOwnServer, stopReading, touch } from '../helpers/rules.js';
import { connect, expectNoLeaks } from '../helpers/server.js';

interface Opened {
  name: string;
  ws: WebSocket;
  id: string;
}

/** Opens one client per entry, in order; names them u1, u2, … */
async function openAll(t: OwnServer, users: string[]): Promise<Opened[]> {
  const opened: Opened[] = [];
  for (const [index, user] of users.entries()) {
    const ws = await connect(t.url(user));
    await touch(ws);
    const id = t.handles[index]?.id;
    if (id === undefined) throw new Error('unreachable');
    opened.push({ name: `u${index + 1}`, ws, id });
  }
  return opened;
}

/** The clients whose connection is still live, by name. */
function stillLive(t: OwnServer, clients: Opened[]): string[] {
  const live = new Set(
    ['ann', 'ben', 'cid'].flatMap((user) => t.supervisor.connectionsOf(user).map((c) => c.id)),
  );
  return clients.filter((client) => live.has(client.id)).map((client) => client.name);
}

async function disposedCount(t: OwnServer, count: number): Promise<void> {
  if (t.events.disposed.length >= count) return;
  await new Promise<void>((resolve) => {
    const off = t.supervisor.on('disposed', () => {
      if (t.events.disposed.length >= count) {
        off();
        resolve();
      }
    });
  });
}

const named = (t: OwnServer, clients: Opened[]) =>
  t.events.disposed.map((event) => clients.find((c) => c.id === event.connectionId)?.name);

describe('paced shutdown', () => {
  it('closes in batches at 0, 1 and 2 intervals: idle (longest idle first), then the oldest', async () => {
    const t = await startOwnServer();
    const clients = await openAll(t, ['ann', 'ben', 'ann', 'cid', 'ben', 'cid']);
    const [u1, u2, u3, u4] = clients as [Opened, Opened, Opened, Opened];
    // Last activity: u5 and u6 at 0, u3 and u4 at 300, u1 and u2 at 600.
    t.clock.increment(300);
    for (const client of [u1, u2, u3, u4]) await touch(client.ws);
    t.clock.increment(300);
    for (const client of [u1, u2]) await touch(client.ws);
    t.clock.increment(700); // now 1300: u5, u6 idle since 1000; u3, u4 since 1300; u1, u2 busy until 1600
    expect(t.supervisor.stats().idle).toBe(4);
    const closes = clients.map((client) => closeOf(client.ws));

    const done = t.supervisor.shutdown({ deadlineMs: 1_000, pace: { windowMs: 300, batches: 3 } });
    // Batch 1 of 3, at once: ceil(6 / 3) = 2, the two idle longest.
    expect(stillLive(t, clients)).toEqual(['u1', 'u2', 'u3', 'u4']);
    // Nothing new gets in from the first moment.
    expect((await refusal(t.url('dee'))).status).toBe(503);
    await disposedCount(t, 2);
    // Within a batch the closes go out together; the clients answer in any order.
    expect(named(t, clients).sort()).toEqual(['u5', 'u6']);

    t.clock.increment(99);
    expect(stillLive(t, clients)).toEqual(['u1', 'u2', 'u3', 'u4']);
    t.clock.increment(1); // batch 2 of 3 at 100 ms: ceil(4 / 2) = 2, the other idle ones
    expect(stillLive(t, clients)).toEqual(['u1', 'u2']);
    await disposedCount(t, 4);
    expect(named(t, clients).slice(2).sort()).toEqual(['u3', 'u4']);

    t.clock.increment(100); // batch 3 of 3 at 200 ms: the rest, oldest first
    expect(stillLive(t, clients)).toEqual([]);
    await done;
    expect(named(t, clients).slice(4).sort()).toEqual(['u1', 'u2']);
    for (const close of await Promise.all(closes)) {
      // No reconnect-within-ms hint: a 300 ms window is shorter than the client's default 10 s.
      expect(close).toEqual({ code: 1001, reason: 'server shutting down' });
    }
    expect(t.events.disposed.every((event) => event.reason === 'shutdown')).toBe(true);
    expectNoLeaks(t.supervisor);
    expect(t.errors).toEqual([]);
  });

  it('with no idle connection, the oldest go first', async () => {
    const t = await startOwnServer();
    const clients = await openAll(t, ['cid', 'ann', 'ben', 'ann']);
    const done = t.supervisor.shutdown({ deadlineMs: 1_000, pace: { windowMs: 400, batches: 4 } });
    const order: string[][] = [];
    for (let batch = 0; batch < 4; batch += 1) {
      await disposedCount(t, batch + 1);
      order.push(named(t, clients).slice(batch) as string[]);
      t.clock.increment(100);
    }
    await done;
    expect(order).toEqual([['u1'], ['u2'], ['u3'], ['u4']]);
    expectNoLeaks(t.supervisor);
  });

  it('terminates at the deadline, and not before, whatever has not answered its close', async () => {
    const t = await startOwnServer({ drainTimeoutMs: 60_000 });
    const clients = await openAll(t, ['eve', 'eve', 'fay']);
    for (const client of clients) stopReading(client.ws);
    const done = t.supervisor.shutdown({ deadlineMs: 500, pace: { windowMs: 200, batches: 2 } });
    expect(t.supervisor.stats().byState).toMatchObject({ active: 1, draining: 2 }); // ceil(3 / 2) = 2
    t.clock.increment(100); // the last batch: everyone is told
    expect(t.supervisor.stats().byState).toMatchObject({ active: 0, draining: 3 });
    t.clock.increment(399);
    expect(t.supervisor.stats().connections).toBe(3);
    t.clock.increment(1);
    expect(t.supervisor.stats().connections).toBe(0);
    await done;
    expect(t.events.disposed.map((event) => [event.reason, event.lifetimeMs])).toEqual([
      ['shutdown', 500],
      ['shutdown', 500],
      ['shutdown', 500],
    ]);
    expectNoLeaks(t.supervisor);
  });

  it('ends as soon as every connection is gone, without waiting for the remaining batches', async () => {
    const t = await startOwnServer();
    const clients = await openAll(t, ['gil']);
    const done = t.supervisor.shutdown({ deadlineMs: 10_000, pace: { windowMs: 5_000, batches: 5 } });
    await closeOf((clients[0] as Opened).ws);
    await done; // no clock advanced: nothing was left to pace
    expectNoLeaks(t.supervisor);
  });
});

// shutdown() called inside a supervisor's own step (onClose, a `disposed` or `evicted`
// listener) sees that supervisor's last snapshot: the connection just gone, or just
// evicted, is still idle there. Its first batch was spent on that connection.
describe('a paced shutdown started inside a supervisor’s step', () => {
  it('from onClose: its first batch closes a connection still live, not the one just gone', async () => {
    let started: Promise<void> | undefined;
    const t = await startOwnServer({
      idleTimeoutMs: 1_000,
      onClose: () => {
        started ??= t.supervisor.shutdown({ deadlineMs: 1_000, pace: { windowMs: 300, batches: 3 } });
      },
    });
    const clients = await openAll(t, ['ann', 'ann', 'ben', 'cid']);
    t.clock.increment(1_000);
    expect(t.supervisor.stats().idle).toBe(4);

    clients[0]?.ws.terminate(); // gone without a close frame: idle until its disposal
    await disposedCount(t, 1);
    // Batch 1 of 3, at once: ceil(3 / 3) = 1 of the three still live.
    expect(stillLive(t, clients)).toHaveLength(2);
    t.clock.increment(100); // batch 2 of 3: ceil(2 / 2) = 1
    expect(stillLive(t, clients)).toHaveLength(1);
    t.clock.increment(100); // batch 3 of 3: the rest
    expect(stillLive(t, clients)).toEqual([]);
    await started;
    expectNoLeaks(t.supervisor);
    expect(t.errors).toEqual([]);
  });

  it('from an evicted listener: its first batch closes a connection still live, not the one just evicted', async () => {
    let started: Promise<void> | undefined;
    const t = await startOwnServer({ idleTimeoutMs: 1_000 });
    const clients = await openAll(t, ['ann', 'ann', 'ann', 'cid']);
    t.clock.increment(1_000);
    expect(t.supervisor.stats().idle).toBe(4);
    t.supervisor.on('evicted', () => {
      started ??= t.supervisor.shutdown({ deadlineMs: 1_000, pace: { windowMs: 300, batches: 3 } });
    });

    // ann's 4th reaches T = 4: her longest idle (u1) is evicted in that admission's step.
    const newcomer = await connect(t.url('ann'));
    // Batch 1 of 3, at once: ceil(3 / 3) = 1 of the three still live besides the newcomer.
    expect(stillLive(t, clients)).toHaveLength(2);
    expect(stillLive(t, clients)).not.toContain('u1');
    const end = closeOf(newcomer);
    t.clock.increment(100);
    t.clock.increment(100);
    expect(stillLive(t, clients)).toEqual([]);
    expect(await end).toEqual({ code: 1001, reason: 'server shutting down' });
    await started;
    expectNoLeaks(t.supervisor);
    expect(t.errors).toEqual([]);
  });
});

describe('paced shutdown defaults and degenerate paces', () => {
  const live = (t: OwnServer) => t.supervisor.stats().byState.active;

  it('pace: {} is 10 batches over half the deadline: one every 100 ms of a 2 s deadline, the last at 900 ms', async () => {
    const t = await startOwnServer();
    const users = Array.from({ length: 10 }, (_, index) => `p${index}`);
    const clients = await openAll(t, users);
    const done = t.supervisor.shutdown({ deadlineMs: 2_000, pace: {} });
    expect(live(t)).toBe(9); // batch 1 of 10, at once: ceil(10 / 10) = 1
    t.clock.increment(99);
    expect(live(t)).toBe(9);
    t.clock.increment(1); // batch 2 at windowMs / batches = 1000 / 10 = 100 ms
    expect(live(t)).toBe(8);
    // One batch per step: a SimulatedClock fires what is due, and the next batch's delay starts then.
    for (let at = 200; at <= 800; at += 100) t.clock.increment(100);
    t.clock.increment(99); // 899 ms: batches 3 to 9 have run (200 … 800 ms)
    expect(live(t)).toBe(1);
    t.clock.increment(1); // 900 ms = windowMs − windowMs / batches: the last batch
    expect(live(t)).toBe(0);
    await done;
    expect(t.events.disposed).toHaveLength(clients.length);
    expect(t.events.disposed.every((event) => event.reason === 'shutdown')).toBe(true);
    expectNoLeaks(t.supervisor);
  });

  // Review: a hint below the client's default 10 s window bunched the returns (U(0, w) + U(0, h)
  // peaks at 1 / max(w, h)): the reason says reconnect-within-ms only from a 10 s window on.
  it.each([
    [9_999, 'server shutting down'],
    [10_000, 'server shutting down reconnect-within-ms=1000'],
    [25_000, 'server shutting down reconnect-within-ms=2500'],
  ])('a window of %i ms: the 1001 says %j', async (windowMs, reason) => {
    const t = await startOwnServer();
    const [client] = await openAll(t, ['ann']);
    const close = closeOf((client as Opened).ws);
    const done = t.supervisor.shutdown({ pace: { windowMs, batches: 10 } });
    expect(await close).toEqual({ code: 1001, reason });
    await done; // its one connection went in the first batch
    expectNoLeaks(t.supervisor);
  });

  it.each([
    ['batches: 1', { batches: 1 }],
    ['windowMs: 0', { windowMs: 0 }],
  ])('%s closes everything at once', async (_name, pace) => {
    const t = await startOwnServer();
    const clients = await openAll(t, ['ann', 'ben', 'ann', 'cid']);
    const closes = clients.map((client) => closeOf(client.ws));
    const done = t.supervisor.shutdown({ deadlineMs: 1_000, pace });
    expect(live(t)).toBe(0);
    expect(t.supervisor.stats().byState.draining).toBe(4);
    for (const close of await Promise.all(closes)) expect(close.code).toBe(1001);
    await done; // no clock advanced
    expectNoLeaks(t.supervisor);
  });
});

describe('paced shutdown and lingering user supervisors', () => {
  it('a supervisor lingering after its user left ends at the next batch, not at the last one', async () => {
    const t = await startOwnServer({ lingerMs: 60_000 });
    const [ivy, jay] = await openAll(t, ['ivy', 'jay']);
    if (ivy === undefined || jay === undefined) throw new Error('unreachable');
    const ivyClosed = closeOf(ivy.ws);
    let resolved = false;
    const done = t.supervisor.shutdown({ deadlineMs: 10_000, pace: { windowMs: 1_000, batches: 10 } });
    void done.then(() => {
      resolved = true;
    });
    expect((await ivyClosed).code).toBe(1001); // batch 1: ceil(2 / 10) = 1, the oldest
    jay.ws.terminate(); // jay leaves by itself before its batch
    await disposedCount(t, 2);
    // Both users' supervisors linger for a reconnect that cannot come.
    expect(t.supervisor.stats().resources).toMatchObject({ userSupervisors: 2, lingeringSupervisors: 2 });
    expect(resolved).toBe(false);

    t.clock.increment(100); // batch 2 of 10 ends them
    await done;
    expectNoLeaks(t.supervisor);
  });
});

describe('a bad pace shuts down with the defaults, then rejects with WSSUP_INVALID_ARGUMENT', () => {
  it.each<[string, unknown]>([
    ['a number', 0.5],
    ['null', null],
    ['windowMs over the deadline', { windowMs: 1_001 }],
    ['a negative windowMs', { windowMs: -1 }],
    ['a fractional windowMs', { windowMs: 1.5 }],
    ['zero batches', { batches: 0 }],
    ['too many batches', { batches: 10_001 }],
    ['fractional batches', { batches: 2.5 }],
    ['an unknown key', { windowMs: 100, batch: 2 }],
  ])('%s', async (_name, pace) => {
    const t = await startOwnServer();
    const ws = await connect(t.url('hal'));
    await touch(ws);
    // Unpaced and in one go, though a pace was asked for: a shutdown asked for must happen (newcomer trial).
    const error = await expectShutDownWithDefaults(
      t,
      () => t.supervisor.shutdown({ deadlineMs: 1_000, pace: pace as { windowMs: number } }),
      ws,
    );
    expect(error.message).toMatch(/^pace/);
    expect(t.events.disposed.map((event) => event.reason)).toEqual(['shutdown']);
    expectNoLeaks(t.supervisor);
  });
});
