/**
 * README, "Paced shutdown" and "Observing it" (shutdown): claims the other
 * shutdown tests leave open. Each batch closes its share of what is *still*
 * live, `ceil(live / batches left)`, not a share fixed when the shutdown
 * started: connections that left on their own between batches are not
 * counted again. Without `deadlineMs` the deadline is `drainTimeoutMs`, so
 * `pace: {}` spreads 10 batches over half of it and a `windowMs` beyond it
 * throws; and a `deadlineMs` that is not an integer from 0 to 2147483647
 * shuts down with the defaults, then rejects with `WSSUP_INVALID_ARGUMENT` (0 terminates at once).
 * Real sockets, a SimulatedClock.
 */
import { describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { expectShutDownWithDefaults } from '../helpers/bad-shutdown.js';
import { closeOf, type OwnServer, startOwnServer, stopReading, touch } from '../helpers/rules.js';
import { connect, expectNoLeaks } from '../helpers/server.js';

async function openMany(t: OwnServer, users: string[]): Promise<WebSocket[]> {
  const opened: WebSocket[] = [];
  for (const user of users) {
    const ws = await connect(t.url(user));
    await touch(ws);
    opened.push(ws);
  }
  return opened;
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

const live = (t: OwnServer) => t.supervisor.stats().byState.active;

describe('paced shutdown: each batch closes ceil(live / batches left) of what is still live', () => {
  it('9 connections in 3 batches; 3 leave on their own after the first: the second closes ceil(3 / 2) = 2, the last 1', async () => {
    const t = await startOwnServer();
    const clients = await openMany(t, ['ann', 'ann', 'ann', 'ben', 'ben', 'ben', 'cid', 'cid', 'cid']);
    const closes = clients.map((ws) => closeOf(ws));

    const done = t.supervisor.shutdown({ deadlineMs: 1_000, pace: { windowMs: 300, batches: 3 } });
    // Batch 1 of 3, at once: ceil(9 / 3) = 3, the oldest (no connection is idle).
    expect(live(t)).toBe(6);
    await disposedCount(t, 3);
    expect(t.events.disposed.every((event) => event.reason === 'shutdown')).toBe(true);

    // Three of the six still open leave on their own before the next batch.
    for (const ws of clients.slice(6)) ws.close();
    await disposedCount(t, 6);
    expect(live(t)).toBe(3);

    t.clock.increment(100); // batch 2 of 3: ceil(3 / 2) = 2, not the 3 a share fixed at the start would close
    expect(live(t)).toBe(1);
    await disposedCount(t, 8);

    t.clock.increment(100); // batch 3 of 3: the rest
    expect(live(t)).toBe(0);
    await done;
    const codes = (await Promise.all(closes)).map((close) => close.code);
    expect(codes.slice(0, 6)).toEqual([1001, 1001, 1001, 1001, 1001, 1001]);
    expect(t.events.disposed.map((event) => event.reason).sort()).toEqual([
      ...Array(3).fill('closed'),
      ...Array(6).fill('shutdown'),
    ]);
    expectNoLeaks(t.supervisor);
    expect(t.errors).toEqual([]);
  });
});

describe('paced shutdown without deadlineMs: the deadline is drainTimeoutMs, and the window half of it', () => {
  it('pace: {} closes 10 connections in 10 batches over 250 ms of a 500 ms drainTimeoutMs, one every 25 ms', async () => {
    const t = await startOwnServer(); // test preset: drainTimeoutMs 500
    const users = ['ann', 'ben'].flatMap((user) => Array<string>(5).fill(user));
    const clients = await openMany(t, users);
    const done = t.supervisor.shutdown({ pace: {} });
    const liveAfter: number[] = [live(t)];
    for (let batch = 1; batch < 10; batch += 1) {
      t.clock.increment(24);
      expect(live(t), `between batches ${batch} and ${batch + 1}`).toBe(10 - batch);
      t.clock.increment(1);
      liveAfter.push(live(t));
    }
    expect(liveAfter).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]); // the last batch at 225 ms
    await disposedCount(t, clients.length);
    await done;
    expectNoLeaks(t.supervisor);
  });

  it('a windowMs over an explicit deadlineMs shuts down with the defaults, then rejects with WSSUP_INVALID_ARGUMENT', async () => {
    const t = await startOwnServer();
    const [ws] = await openMany(t, ['cid']);
    const error = await expectShutDownWithDefaults(
      t,
      () => t.supervisor.shutdown({ deadlineMs: 500, pace: { windowMs: 501 } }),
      ws as WebSocket,
    );
    expect(error.message).toMatch(/^pace\.windowMs must be an integer from 0 to deadlineMs \(500\), got 501/);
    expectNoLeaks(t.supervisor);
  });

  it('without deadlineMs any window is accepted', async () => {
    const t = await startOwnServer();
    const [ws] = await openMany(t, ['cid']);
    const closing = closeOf(ws as WebSocket);
    // No deadlineMs: it is windowMs + drainTimeoutMs (ops trial), so a window past drainTimeoutMs is fine.
    const done = t.supervisor.shutdown({ pace: { windowMs: 501 } });
    expect((await closing).code).toBe(1001);
    await done;
    expectNoLeaks(t.supervisor);
  });
});

describe('shutdown(): a deadlineMs that is not an integer ms from 0 to 2147483647 shuts down with the defaults, then rejects', () => {
  it.each<[string, unknown]>([
    ['negative', -1],
    ['fractional', 1.5],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['a numeric string', '100'],
  ])('%s', async (_name, deadlineMs) => {
    const t = await startOwnServer();
    const [ws] = await openMany(t, ['dee']);
    const error = await expectShutDownWithDefaults(
      t,
      () => t.supervisor.shutdown({ deadlineMs: deadlineMs as number }),
      ws as WebSocket,
    );
    expect(error.message).toMatch(/^deadlineMs must be an integer from 0 to 2147483647/);
    expectNoLeaks(t.supervisor);
  });

  it('0 is accepted: every connection still open is terminated at once', async () => {
    const t = await startOwnServer({ drainTimeoutMs: 60_000 });
    const clients = await openMany(t, ['eli', 'eli']);
    for (const ws of clients) stopReading(ws); // they would never answer the close
    const done = t.supervisor.shutdown({ deadlineMs: 0 });
    t.clock.increment(0);
    expect(t.supervisor.stats().connections).toBe(0);
    await done;
    expect(t.events.disposed.map((event) => [event.reason, event.lifetimeMs])).toEqual([
      ['shutdown', 0],
      ['shutdown', 0],
    ]);
    expectNoLeaks(t.supervisor);
  });
});
